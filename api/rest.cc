#include "api/rest.h"

#include <rapidjson/writer.h>

#include <limits>
#include <set>

#include "api/json.h"
#include "api/params.h"
#include "api/problem.h"

namespace hookvault::api {
namespace {

// A RapidJSON output stream appending to a std::string, so a rendered body (a feed page can be
// megabytes) is moved into the response instead of copied out of a buffer.
class StringSink {
 public:
  using Ch = char;
  explicit StringSink(std::string& out) : out_(out) {}
  void Put(char c) { out_.push_back(c); }
  void Flush() {}

 private:
  std::string& out_;
};

using JsonWriter = rapidjson::Writer<StringSink>;
using storage::AttemptRow;
using storage::AuditRow;
using storage::DeliveryRow;
using storage::EventRow;
using storage::RequestRow;

// Longest `reason` an operator may give.
constexpr size_t kMaxReasonBytes = 1000;

// Parked long-polls and consumer names are bounded so a client cannot grow them at will.
constexpr size_t kMaxConsumerName = 64;

void Str(JsonWriter& w, std::string_view s) {
  bool ascii = true;
  for (char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) {  // ids, names, times: no copy
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return;
  }
  std::string valid = ValidUtf8(s);
  w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}
void Key(JsonWriter& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
void Time(JsonWriter& w, int64_t micros) { Str(w, storage::FormatRfc3339(micros)); }
void OptStr(JsonWriter& w, const std::optional<std::string>& s) {
  if (s) {
    Str(w, *s);
  } else {
    w.Null();
  }
}
// Writes stored JSON text (validated when it was stored) as a value.
void Raw(JsonWriter& w, std::string_view json) {
  if (json.empty()) {
    w.Null();
    return;
  }
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

void WriteEvent(JsonWriter& w, const EventRow& e) {
  Key(w, "id"), Str(w, e.id);
  Key(w, "seq"), w.Int64(e.seq);
  Key(w, "source"), Str(w, e.source);
  Key(w, "event_type"), Str(w, e.event_type);
  Key(w, "status"), Str(w, e.status);
  Key(w, "received_at"), Time(w, e.received_at);
  Key(w, "remote_addr"), Str(w, e.remote_addr);
  Key(w, "idempotency_key"), Str(w, e.idempotency_key);
}

void WriteEventWithPayload(JsonWriter& w, const EventRow& e) {
  WriteEvent(w, e);
  Key(w, "headers"), Raw(w, e.headers_json);
  Key(w, "payload"), Raw(w, e.body);
}

void WriteDelivery(JsonWriter& w, const DeliveryRow& d) {
  w.StartObject();
  Key(w, "id"), w.Int64(d.id);
  Key(w, "event_id"), Str(w, d.event_id);
  Key(w, "event_seq"), w.Int64(d.event_seq);
  Key(w, "destination"), Str(w, d.destination);
  Key(w, "status"), Str(w, d.status);
  Key(w, "attempts"), w.Int(d.attempts);
  Key(w, "next_attempt_at");
  if (d.status == "pending") {
    Time(w, d.next_attempt_at);
  } else {
    w.Null();
  }
  Key(w, "last_error"), OptStr(w, d.last_error);
  Key(w, "created_at"), Time(w, d.created_at);
  Key(w, "updated_at"), Time(w, d.updated_at);
  w.EndObject();
}

void WriteAttempt(JsonWriter& w, const AttemptRow& a) {
  w.StartObject();
  Key(w, "id"), w.Int64(a.id);
  Key(w, "delivery_id"), w.Int64(a.delivery_id);
  Key(w, "event_id"), Str(w, a.event_id);
  Key(w, "destination"), Str(w, a.destination);
  Key(w, "number"), w.Int(a.number);
  Key(w, "started_at"), Time(w, a.started_at);
  Key(w, "duration_ms"), w.Double(static_cast<double>(a.duration_us) / 1000.0);
  Key(w, "http_status");
  if (a.http_status) {
    w.Int(*a.http_status);
  } else {
    w.Null();
  }
  Key(w, "error"), OptStr(w, a.error);
  Key(w, "response_excerpt"), Str(w, a.response_excerpt);
  Key(w, "outcome"), Str(w, a.outcome);
  w.EndObject();
}

void WriteRequest(JsonWriter& w, const RequestRow& r) {
  w.StartObject();
  Key(w, "id"), w.Int64(r.id);
  Key(w, "received_at"), Time(w, r.received_at);
  Key(w, "source"), Str(w, r.source);
  Key(w, "remote_addr"), Str(w, r.remote_addr);
  Key(w, "status"), w.Int(r.status);
  Key(w, "reason"), Str(w, r.reason);
  Key(w, "event_id"), OptStr(w, r.event_id);
  Key(w, "body_bytes"), w.Int64(r.body_bytes);
  // Raw bytes shown as text (invalid UTF-8 replaced): what operators need is to read it.
  Key(w, "body"), OptStr(w, r.body);
  Key(w, "body_truncated"), w.Bool(r.body && static_cast<int64_t>(r.body->size()) < r.body_bytes);
  w.EndObject();
}

void WriteAudit(JsonWriter& w, const AuditRow& a) {
  w.StartObject();
  Key(w, "id"), w.Int64(a.id);
  Key(w, "at"), Time(w, a.at);
  Key(w, "actor"), Str(w, a.actor);
  Key(w, "role"), Str(w, a.role);
  Key(w, "action"), Str(w, a.action);
  Key(w, "target"), Raw(w, a.target_json);
  Key(w, "matched"), w.Int64(a.matched);
  Key(w, "requeued"), w.Int64(a.requeued);
  Key(w, "reason"), Str(w, a.reason);
  Key(w, "prev_hash"), Str(w, a.prev_hash);
  Key(w, "hash"), Str(w, a.hash);
  w.EndObject();
}

// Renders {"data": [...], "next_cursor": ...}. `rows` holds up to limit + 1 rows: the extra
// one only says that another page exists.
template <typename Row, typename WriteRow, typename KeyOf>
ApiResponse ListPage(std::vector<Row> rows, int limit, std::string_view list, WriteRow write,
                     KeyOf key) {
  bool more = static_cast<int>(rows.size()) > limit;
  if (more) rows.resize(static_cast<size_t>(limit));
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  Key(w, "data");
  w.StartArray();
  for (const Row& r : rows) write(w, r);
  w.EndArray();
  Key(w, "next_cursor");
  if (more) {
    Str(w, EncodeCursor(list, key(rows.back())));
  } else {
    w.Null();
  }
  w.EndObject();
  return JsonOk(std::move(out));
}

storage::Page PageOf(int limit, std::optional<int64_t> cursor) {
  // One row more than asked tells whether a next page exists.
  return storage::Page{limit + 1, cursor};
}

ApiResponse StoreProblem(const storage::Status& s, const ApiRequest& req) {
  return ProblemFromStatus(s, req.path);
}

// Reads a JSON object body whose members are all among `allowed`. An empty body is {}.
// Returns false with `problem` set otherwise.
bool ParseBody(const ApiRequest& req, std::initializer_list<std::string_view> allowed,
               rapidjson::Document& doc, ApiResponse* problem) {
  std::string_view body = req.body;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) body = "{}";
  if (auto s = ParseJson(body, doc, 8); !s.ok()) {
    *problem = Problem(ProblemKind::kMalformedJson, s.message(), req.path);
    return false;
  }
  if (!doc.IsObject()) {
    *problem = Problem(ProblemKind::kBadRequest, "the body must be a JSON object", req.path);
    return false;
  }
  // Through a const reference: C++20 finds comparing RapidJSON's non-const member iterators
  // ambiguous (reversed operator==), which clang reports.
  const rapidjson::Value& fields = doc;
  for (auto it = fields.MemberBegin(); it != fields.MemberEnd(); ++it) {
    std::string_view name(it->name.GetString(), it->name.GetStringLength());
    bool known = false;
    for (std::string_view a : allowed) known |= (a == name);
    if (!known) {
      *problem = Problem(ProblemKind::kBadRequest,
                         "'" + std::string(name) + "' is not a field of this request", req.path);
      return false;
    }
  }
  return true;
}

// Typed access to the members of a request body, keeping the first error (a 400 naming the
// field).
class BodyFields {
 public:
  BodyFields(const rapidjson::Document& doc, const ApiRequest& req) : doc_(doc), req_(req) {}

  std::optional<std::string> String(const char* name, size_t max_bytes = 512) {
    auto it = doc_.FindMember(name);
    if (it == doc_.MemberEnd() || it->value.IsNull()) return std::nullopt;
    if (!it->value.IsString() || it->value.GetStringLength() > max_bytes) {
      Fail(name, "must be a string of at most " + std::to_string(max_bytes) + " bytes");
      return std::nullopt;
    }
    return std::string(it->value.GetString(), it->value.GetStringLength());
  }
  std::optional<bool> Bool(const char* name) {
    auto it = doc_.FindMember(name);
    if (it == doc_.MemberEnd() || it->value.IsNull()) return std::nullopt;
    if (!it->value.IsBool()) {
      Fail(name, "must be true or false");
      return std::nullopt;
    }
    return it->value.GetBool();
  }
  std::optional<int64_t> Int(const char* name) {
    auto it = doc_.FindMember(name);
    if (it == doc_.MemberEnd() || it->value.IsNull()) return std::nullopt;
    if (!it->value.IsInt64()) {
      Fail(name, "must be an integer");
      return std::nullopt;
    }
    return it->value.GetInt64();
  }
  std::optional<int64_t> Time(const char* name) {
    auto s = String(name, 64);
    if (!s) return std::nullopt;
    auto t = ParseRfc3339(*s);
    if (!t) Fail(name, "must be an RFC 3339 date-time such as 2026-11-28T13:00:00Z");
    return t;
  }
  std::vector<std::string> Strings(const char* name) {
    std::vector<std::string> out;
    auto it = doc_.FindMember(name);
    if (it == doc_.MemberEnd() || it->value.IsNull()) return out;
    if (!it->value.IsArray() || it->value.Size() > 100) {
      Fail(name, "must be an array of at most 100 strings");
      return out;
    }
    for (const auto& v : it->value.GetArray()) {
      if (!v.IsString() || v.GetStringLength() == 0 || v.GetStringLength() > 512) {
        Fail(name, "must hold non-empty strings");
        return {};
      }
      out.emplace_back(v.GetString(), v.GetStringLength());
    }
    return out;
  }
  void Fail(std::string_view name, std::string_view why) {
    if (!error_) {
      error_ = Problem(ProblemKind::kBadRequest,
                       "'" + std::string(name) + "' " + std::string(why), req_.path);
    }
  }
  bool ok() const { return !error_; }
  const ApiResponse& error() const { return *error_; }

 private:
  const rapidjson::Document& doc_;
  const ApiRequest& req_;
  std::optional<ApiResponse> error_;
};

bool ValidConsumerName(std::string_view name) {
  if (name.empty() || name.size() > kMaxConsumerName) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Renders an audit target: the filter an operator gave, as a JSON object.
class TargetJson {
 public:
  TargetJson() : sink_(out_), w_(sink_) { w_.StartObject(); }
  TargetJson& Field(std::string_view k, const std::optional<std::string>& v) {
    if (v) Key(w_, k), Str(w_, *v);
    return *this;
  }
  TargetJson& TimeField(std::string_view k, const std::optional<int64_t>& v) {
    if (v) Key(w_, k), Time(w_, *v);
    return *this;
  }
  TargetJson& Bool(std::string_view k, bool v) {
    Key(w_, k), w_.Bool(v);
    return *this;
  }
  TargetJson& List(std::string_view k, const std::vector<std::string>& v) {
    if (v.empty()) return *this;
    Key(w_, k);
    w_.StartArray();
    for (const std::string& s : v) Str(w_, s);
    w_.EndArray();
    return *this;
  }
  std::string Done() {
    w_.EndObject();
    return std::move(out_);
  }

 private:
  std::string out_;
  StringSink sink_;
  JsonWriter w_;
};

}  // namespace

std::optional<Principal> RestApi::Authorize(const ApiRequest& req, Permission permission,
                                           const Responder& respond) const {
  ApiResponse problem;
  auto principal = d_.auth.Authorize(req, permission, &problem);
  if (!principal) respond(std::move(problem));
  return principal;
}

void RestApi::ListEvents(const ApiRequest& req, Responder respond) const {
  auto principal = Authorize(req, Permission::kRead, respond);
  if (!principal) return;
  QueryParams q(req, {"source", "type", "status", "received_after", "received_before", "limit",
                      "cursor"});
  storage::EventFilter f;
  f.source = q.String("source");
  f.event_type = q.String("type");
  f.status = q.Enum("status", {"pending", "delivered", "failed"});
  f.received_after = q.Time("received_after");
  f.received_before = q.Time("received_before");
  int limit = q.Limit();
  auto cursor = q.Cursor("events");
  if (!q.ok()) return respond(q.error());
  auto rows = d_.queries.ListEvents(f, PageOf(limit, cursor));
  if (!rows.ok()) return respond(StoreProblem(rows.status(), req));
  respond(ListPage(
      std::move(rows).value(), limit, "events",
      [](JsonWriter& w, const EventRow& e) {
        w.StartObject();
        WriteEvent(w, e);
        w.EndObject();
      },
      [](const EventRow& e) { return e.seq; }));
}

void RestApi::GetEvent(const ApiRequest& req, const std::string& id, Responder respond) const {
  auto principal = Authorize(req, Permission::kRead, respond);
  if (!principal) return;
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  auto event = d_.queries.GetEvent(id);
  if (!event.ok()) return respond(StoreProblem(event.status(), req));
  if (!event->has_value()) {
    return respond(Problem(ProblemKind::kNotFound, "no event with id " + id, req.path));
  }
  auto deliveries = d_.queries.EventDeliveries((*event)->seq);
  if (!deliveries.ok()) return respond(StoreProblem(deliveries.status(), req));
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteEventWithPayload(w, **event);
  Key(w, "deliveries");
  w.StartArray();
  for (const DeliveryRow& d : *deliveries) WriteDelivery(w, d);
  w.EndArray();
  w.EndObject();
  respond(JsonOk(std::move(out)));
}

void RestApi::ListEventAttempts(const ApiRequest& req, const std::string& id,
                                Responder respond) const {
  auto principal = Authorize(req, Permission::kRead, respond);
  if (!principal) return;
  QueryParams q(req, {"limit", "cursor"});
  int limit = q.Limit();
  auto cursor = q.Cursor("event-attempts");
  if (!q.ok()) return respond(q.error());
  auto event = d_.queries.GetEvent(id);
  if (!event.ok()) return respond(StoreProblem(event.status(), req));
  if (!event->has_value()) {
    return respond(Problem(ProblemKind::kNotFound, "no event with id " + id, req.path));
  }
  auto rows = d_.queries.EventAttempts((*event)->seq, PageOf(limit, cursor));
  if (!rows.ok()) return respond(StoreProblem(rows.status(), req));
  respond(ListPage(std::move(rows).value(), limit, "event-attempts", WriteAttempt,
                   [](const AttemptRow& a) { return a.id; }));
}

void RestApi::ListDeliveries(const ApiRequest& req, Responder respond) const {
  auto principal = Authorize(req, Permission::kRead, respond);
  if (!principal) return;
  QueryParams q(req, {"destination", "status", "event_id", "after", "before", "limit", "cursor"});
  storage::DeliveryFilter f;
  f.destination = q.String("destination");
  f.status = q.Enum("status", {"pending", "succeeded", "failed"});
  f.event_id = q.String("event_id");
  f.created_after = q.Time("after");
  f.created_before = q.Time("before");
  int limit = q.Limit();
  auto cursor = q.Cursor("deliveries");
  if (!q.ok()) return respond(q.error());
  auto rows = d_.queries.ListDeliveries(f, PageOf(limit, cursor));
  if (!rows.ok()) return respond(StoreProblem(rows.status(), req));
  respond(ListPage(std::move(rows).value(), limit, "deliveries", WriteDelivery,
                   [](const DeliveryRow& d) { return d.id; }));
}

void RestApi::ListAttempts(const ApiRequest& req, Responder respond) const {
  auto principal = Authorize(req, Permission::kRead, respond);
  if (!principal) return;
  QueryParams q(req, {"destination", "event_id", "outcome", "after", "before", "limit", "cursor"});
  storage::AttemptFilter f;
  f.destination = q.String("destination");
  f.event_id = q.String("event_id");
  f.outcome = q.Enum("outcome", {"success", "failure"});
  f.started_after = q.Time("after");
  f.started_before = q.Time("before");
  int limit = q.Limit();
  auto cursor = q.Cursor("attempts");
  if (!q.ok()) return respond(q.error());
  auto rows = d_.queries.ListAttempts(f, PageOf(limit, cursor));
  if (!rows.ok()) return respond(StoreProblem(rows.status(), req));
  respond(ListPage(std::move(rows).value(), limit, "attempts", WriteAttempt,
                   [](const AttemptRow& a) { return a.id; }));
}

void RestApi::ListRequests(const ApiRequest& req, Responder respond) const {
  auto principal = Authorize(req, Permission::kRead, respond);
  if (!principal) return;
  QueryParams q(req, {"source", "status", "after", "before", "limit", "cursor"});
  storage::RequestFilter f;
  f.source = q.String("source");
  if (auto status = q.Int("status", 100, 599)) f.status = static_cast<int>(*status);
  f.received_after = q.Time("after");
  f.received_before = q.Time("before");
  int limit = q.Limit();
  auto cursor = q.Cursor("requests");
  if (!q.ok()) return respond(q.error());
  auto rows = d_.queries.ListRequests(f, PageOf(limit, cursor));
  if (!rows.ok()) return respond(StoreProblem(rows.status(), req));
  respond(ListPage(std::move(rows).value(), limit, "requests", WriteRequest,
                   [](const RequestRow& r) { return r.id; }));
}

void RestApi::ListAudit(const ApiRequest& req, Responder respond) const {
  auto principal = Authorize(req, Permission::kRead, respond);
  if (!principal) return;
  QueryParams q(req, {"after", "before", "limit", "cursor"});
  storage::TimeFilter f;
  f.after = q.Time("after");
  f.before = q.Time("before");
  int limit = q.Limit();
  auto cursor = q.Cursor("audit");
  if (!q.ok()) return respond(q.error());
  auto rows = d_.queries.ListAudit(f, PageOf(limit, cursor));
  if (!rows.ok()) return respond(StoreProblem(rows.status(), req));
  respond(ListPage(std::move(rows).value(), limit, "audit", WriteAudit,
                   [](const AuditRow& a) { return a.id; }));
}

void RestApi::VerifyAudit(const ApiRequest& req, Responder respond) const {
  auto principal = Authorize(req, Permission::kRead, respond);
  if (!principal) return;
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  auto v = d_.queries.VerifyAudit();
  if (!v.ok()) return respond(StoreProblem(v.status(), req));
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  Key(w, "ok"), w.Bool(v->ok);
  Key(w, "rows"), w.Int64(v->rows);
  Key(w, "first_bad");
  if (v->first_bad) {
    w.Int64(*v->first_bad);
  } else {
    w.Null();
  }
  w.EndObject();
  respond(JsonOk(std::move(out)));
}

void RestApi::ReprocessEvent(const ApiRequest& req, const std::string& id,
                             Responder respond) const {
  auto principal = Authorize(req, Permission::kReprocess, respond);
  if (!principal) return;
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  rapidjson::Document doc;
  ApiResponse problem;
  if (!ParseBody(req, {"destinations", "all", "reason"}, doc, &problem)) return respond(problem);
  BodyFields body(doc, req);
  storage::ReprocessSpec spec;
  spec.destinations = body.Strings("destinations");
  bool all = body.Bool("all").value_or(false);
  std::string reason = body.String("reason", kMaxReasonBytes).value_or("");
  if (!body.ok()) return respond(body.error());
  auto event = d_.queries.GetEvent(id);
  if (!event.ok()) return respond(StoreProblem(event.status(), req));
  if (!event->has_value()) {
    return respond(Problem(ProblemKind::kNotFound, "no event with id " + id, req.path));
  }
  spec.filter.event_id = id;
  if (!all) spec.filter.status = "failed";  // all: failed and succeeded (pending ones are live)
  spec.action = "reprocess_event";
  spec.target_json = TargetJson()
                         .Field("event_id", id)
                         .List("destinations", spec.destinations)
                         .Bool("all", all)
                         .Done();
  storage::AuditActor who{principal->name, std::string(RoleName(principal->role)), reason};
  SubmitReprocess(req, std::move(spec), std::move(who), std::move(respond),
                  [](const storage::ReprocessResult& result) {
                    ApiResponse r = JsonOk("{\"requeued\":" + std::to_string(result.requeued) + "}");
                    r.status = 202;
                    return r;
                  });
}

void RestApi::ReprocessBulk(const ApiRequest& req, Responder respond) const {
  auto principal = Authorize(req, Permission::kReprocess, respond);
  if (!principal) return;
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  rapidjson::Document doc;
  ApiResponse problem;
  if (!ParseBody(req,
                 {"destination", "status", "event_id", "after", "before", "dry_run", "reason"},
                 doc, &problem)) {
    return respond(problem);
  }
  BodyFields body(doc, req);
  storage::ReprocessSpec spec;
  spec.filter.destination = body.String("destination");
  std::string status = body.String("status", 16).value_or("failed");
  if (status != "failed" && status != "succeeded") {
    body.Fail("status", "must be failed or succeeded (pending deliveries are still being tried)");
  }
  spec.filter.status = status;
  spec.filter.event_id = body.String("event_id");
  spec.filter.created_after = body.Time("after");
  spec.filter.created_before = body.Time("before");
  spec.dry_run = body.Bool("dry_run").value_or(false);
  std::string reason = body.String("reason", kMaxReasonBytes).value_or("");
  if (!body.ok()) return respond(body.error());
  spec.action = "reprocess_bulk";
  spec.target_json = TargetJson()
                         .Field("destination", spec.filter.destination)
                         .Field("status", spec.filter.status)
                         .Field("event_id", spec.filter.event_id)
                         .TimeField("after", spec.filter.created_after)
                         .TimeField("before", spec.filter.created_before)
                         .Bool("dry_run", spec.dry_run)
                         .Done();
  storage::AuditActor who{principal->name, std::string(RoleName(principal->role)), reason};
  bool dry_run = spec.dry_run;
  SubmitReprocess(req, std::move(spec), std::move(who), std::move(respond),
                  [dry_run](const storage::ReprocessResult& result) {
                    return JsonOk("{\"matched\":" + std::to_string(result.matched) +
                                  ",\"requeued\":" + std::to_string(result.requeued) +
                                  ",\"dry_run\":" + (dry_run ? "true" : "false") + "}");
                  });
}

void RestApi::SubmitReprocess(
    const ApiRequest& req, storage::ReprocessSpec spec, storage::AuditActor who,
    Responder respond,
    std::function<ApiResponse(const storage::ReprocessResult&)> render) const {
  auto done = [respond, render, path = req.path](storage::StatusOr<storage::ReprocessResult> r) {
    if (!r.ok()) return respond(ProblemFromStatus(r.status(), path));
    respond(render(*r));
  };
  if (auto s = d_.operations.Reprocess(std::move(spec), std::move(who), std::move(done));
      !s.ok()) {
    respond(ProblemFromStatus(s, req.path));
  }
}

void RestApi::Feed(const ApiRequest& req, Responder respond) const {
  auto principal = Authorize(req, Permission::kConsume, respond);
  if (!principal) return;
  QueryParams q(req, {"after", "limit", "source", "type", "wait"});
  storage::FeedQuery query;
  query.after_seq = q.Int("after", 0, std::numeric_limits<int64_t>::max()).value_or(0);
  query.limit = q.Limit();
  query.source = q.String("source");
  query.event_type = q.String("type");
  int64_t wait = q.Int("wait", 0, kMaxWaitSeconds).value_or(0);
  if (!q.ok()) return respond(q.error());
  ServeFeed(req, std::move(query), wait, std::move(respond));
}

void RestApi::ConsumerEvents(const ApiRequest& req, const std::string& name,
                             Responder respond) const {
  auto principal = Authorize(req, Permission::kConsume, respond);
  if (!principal) return;
  if (!ValidConsumerName(name)) {
    return respond(Problem(ProblemKind::kBadRequest,
                           "a consumer name is 1 to 64 of A-Z a-z 0-9 . _ -", req.path));
  }
  QueryParams q(req, {"limit", "wait"});
  storage::FeedQuery query;
  query.limit = q.Limit();
  int64_t wait = q.Int("wait", 0, kMaxWaitSeconds).value_or(0);
  if (!q.ok()) return respond(q.error());
  auto consumer = d_.queries.GetConsumer(name);
  if (!consumer.ok()) return respond(StoreProblem(consumer.status(), req));
  query.after_seq = consumer->has_value() ? (*consumer)->cursor : 0;
  ServeFeed(req, std::move(query), wait, std::move(respond));
}

void RestApi::ServeFeed(const ApiRequest& req, storage::FeedQuery query, int64_t wait_seconds,
                        Responder respond) const {
  auto render = [path = req.path](const storage::StatusOr<FeedPage>& page) {
    if (!page.ok()) return ProblemFromStatus(page.status(), path);
    std::string out;
    size_t payload_bytes = 0;
    for (const EventRow& e : page->rows) payload_bytes += e.body.size() + e.headers_json.size();
    out.reserve(payload_bytes + 400 * page->rows.size() + 64);
    StringSink sink(out);
    JsonWriter w(sink);
    w.StartObject();
    Key(w, "data");
    w.StartArray();
    for (const EventRow& e : page->rows) {
      w.StartObject();
      WriteEventWithPayload(w, e);
      w.EndObject();
    }
    w.EndArray();
    Key(w, "next_after"), w.Int64(page->next_after);
    w.EndObject();
    return JsonOk(std::move(out));
  };
  auto page = ReadFeed(d_.queries, query);
  if (!page.ok() || !page->rows.empty() || wait_seconds <= 0) return respond(render(page));
  query.after_seq = page->next_after;
  auto parked = d_.waiters.Park(std::move(query), std::chrono::seconds(wait_seconds),
                                [respond, render](storage::StatusOr<FeedPage> p) {
                                  respond(render(p));
                                });
  if (!parked.ok()) respond(ProblemFromStatus(parked, req.path));
}

void RestApi::AckConsumer(const ApiRequest& req, const std::string& name,
                          Responder respond) const {
  auto principal = Authorize(req, Permission::kConsume, respond);
  if (!principal) return;
  if (!ValidConsumerName(name)) {
    return respond(Problem(ProblemKind::kBadRequest,
                           "a consumer name is 1 to 64 of A-Z a-z 0-9 . _ -", req.path));
  }
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  rapidjson::Document doc;
  ApiResponse problem;
  if (!ParseBody(req, {"seq"}, doc, &problem)) return respond(problem);
  BodyFields body(doc, req);
  auto seq = body.Int("seq");
  if (body.ok() && (!seq || *seq < 0)) body.Fail("seq", "is required: a seq from the feed");
  if (!body.ok()) return respond(body.error());
  auto latest = d_.queries.LatestSeq();
  if (!latest.ok()) return respond(StoreProblem(latest.status(), req));
  if (*seq > *latest) {
    return respond(Problem(ProblemKind::kBadRequest,
                           "'seq' " + std::to_string(*seq) + " is beyond the newest event (" +
                               std::to_string(*latest) + ")",
                           req.path));
  }
  auto done = [name, respond, path = req.path](storage::StatusOr<int64_t> cursor) {
    if (!cursor.ok()) return respond(ProblemFromStatus(cursor.status(), path));
    respond(JsonOk("{\"name\":" + JsonQuote(name) + ",\"cursor\":" + std::to_string(*cursor) +
                   "}"));
  };
  if (auto s = d_.operations.AckConsumer(name, *seq, std::move(done)); !s.ok()) {
    respond(ProblemFromStatus(s, req.path));
  }
}

}  // namespace hookvault::api
