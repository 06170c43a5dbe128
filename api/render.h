// The JSON bodies of the REST API and of ingest: the rows of each list, list pages, event
// details, the feed page, the answers of ingest, reprocess and ack, and the audit target of an
// operator action. Every
// body the handlers of api/ send (problems aside, api/problem.h) is rendered here.
//
// Thread-safety: free functions on their arguments; a JsonWriter or TargetJson is confined to
// one request.
#ifndef HOOKVAULT_API_RENDER_H_
#define HOOKVAULT_API_RENDER_H_

#include <rapidjson/writer.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "api/params.h"
#include "storage/event.h"
#include "storage/operator_store.h"
#include "storage/query_store.h"

namespace hookvault::api {

// A RapidJSON output stream appending to a std::string, so a rendered body (a feed page can be
// megabytes) is moved into the response instead of copied out of a buffer.
class StringSink {
 public:
  using Ch = char;
  explicit StringSink(std::string& out) : out_(out) {}
  void Put(char c) { out_.push_back(c); }
  void Append(std::string_view s) { out_.append(s); }
  void Flush() {}

 private:
  std::string& out_;
};

// RapidJSON's writer with two bulk writes. Its own RawValue and String put one byte at a time
// through the stream (a feed page of 1,000 events is about 1.3 MB, most of it stored payloads),
// so these append whole runs instead: the bytes are the same as RawValue's and String's. They
// build on the writer's protected Prefix and EndValue, as RapidJSON's own PrettyWriter does.
// Thread-safety: confined to one request, as RapidJSON's writer.
class JsonWriter : public rapidjson::Writer<StringSink> {
 public:
  explicit JsonWriter(StringSink& sink) : rapidjson::Writer<StringSink>(sink) {}

  // As RawValue(json.data(), json.size(), type): `json` is written as is.
  void RawJson(std::string_view json, rapidjson::Type type) {
    Prefix(type);
    os_->Append(json);
    EndValue(true);
  }

  // As String(s) or Key(s) for a string RapidJSON would copy unescaped (PlainString): `s`
  // between quotes.
  void PlainString(std::string_view s) {
    Prefix(rapidjson::kStringType);
    os_->Put('"');
    os_->Append(s);
    os_->Put('"');
    EndValue(true);
  }
};

// Writes an object key.
void WriteKey(JsonWriter& w, std::string_view key);
// Writes a string value, invalid UTF-8 replaced by U+FFFD.
void WriteString(JsonWriter& w, std::string_view s);

// Each writes one row of a list as a JSON object.
void WriteEvent(JsonWriter& w, const storage::EventRow& e);  // without headers and payload
void WriteDelivery(JsonWriter& w, const storage::DeliveryRow& d);
void WriteAttempt(JsonWriter& w, const storage::AttemptRow& a);
void WriteRequest(JsonWriter& w, const storage::RequestRow& r);
void WriteAudit(JsonWriter& w, const storage::AuditRow& a);

// Returns the 200 answer {"data": [...], "next_cursor": ...} of a list page. `rows` holds up
// to limit + 1 rows: the extra one only says that another page exists, and the next cursor is
// the key of the last row shown (`key_of(row)`, a function or a pointer to the key member) in
// the list named `list`. The page is bounded in bytes too: the store stops reading once the
// rows' content reaches `max_bytes` (storage::Page), and rows are rendered until the body
// reaches it (after at least one); either way the next cursor goes on after the last row shown.
template <typename Row, typename WriteRow, typename KeyOf>
ApiResponse ListPage(std::vector<Row> rows, int limit, std::string_view list, WriteRow write_row,
                     KeyOf key_of, int64_t max_bytes = storage::kMaxPageBytes) {
  bool more = static_cast<int>(rows.size()) > limit || storage::ReachedByteBudget(rows, max_bytes);
  if (static_cast<int>(rows.size()) > limit) rows.resize(static_cast<size_t>(limit));
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteKey(w, "data");
  w.StartArray();
  size_t shown = 0;
  while (shown < rows.size()) {
    write_row(w, rows[shown++]);
    if (static_cast<int64_t>(out.size()) >= max_bytes) break;
  }
  if (shown < rows.size()) more = true;
  w.EndArray();
  WriteKey(w, "next_cursor");
  if (more && shown > 0) {
    WriteString(w, EncodeCursor(list, std::invoke(key_of, rows[shown - 1])));
  } else {
    w.Null();
  }
  w.EndObject();
  return JsonOk(std::move(out));
}

// Returns one event with its headers, payload and deliveries (GET /events/{id}).
std::string RenderEventDetail(const storage::EventRow& event,
                              const std::vector<storage::DeliveryRow>& deliveries);

// Returns {"ok", "rows", "first_bad"} of an audit chain verification.
std::string RenderAuditVerification(const storage::AuditVerification& v);

// Returns a feed page: the events with their headers and payloads, and where the next page
// starts.
std::string RenderFeedPage(const std::vector<storage::EventRow>& rows, int64_t next_after);

// Returns {"requeued"} of a one-event reprocess.
std::string RenderEventReprocessed(const storage::ReprocessResult& result);

// Returns {"matched", "requeued", "dry_run"} of a bulk reprocess.
std::string RenderBulkReprocessed(const storage::ReprocessResult& result, bool dry_run);

// Returns {"id", "seq", "duplicate"}: ingest's 200 answer once the event (or its original) is
// stored.
std::string RenderStored(const storage::AppendResult& result);

// Returns {"name", "cursor"} of a consumer after an ack.
std::string RenderConsumerCursor(std::string_view name, int64_t cursor);

// Renders an audit target: the filter an operator gave, as a JSON object. Unset optional
// fields and empty lists are left out.
class TargetJson {
 public:
  TargetJson();
  TargetJson(const TargetJson&) = delete;  // the writer points into out_
  TargetJson& operator=(const TargetJson&) = delete;

  TargetJson& Field(std::string_view key, const std::optional<std::string>& value);
  TargetJson& TimeField(std::string_view key, const std::optional<int64_t>& micros);
  TargetJson& Bool(std::string_view key, bool value);
  TargetJson& List(std::string_view key, const std::vector<std::string>& values);
  // Returns the object; call once, last.
  std::string Done();

 private:
  std::string out_;
  StringSink sink_;
  JsonWriter w_;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_RENDER_H_
