#include "api/render.h"

#include "api/json.h"
#include "storage/clock.h"

namespace hookvault::api {
namespace {

using storage::AttemptRow;
using storage::AuditRow;
using storage::DeliveryRow;
using storage::EventRow;
using storage::RequestRow;

void Time(JsonWriter& w, int64_t micros) {
  WriteString(w, storage::FormatRfc3339Text(micros).view());
}

void OptString(JsonWriter& w, const std::optional<std::string>& s) {
  if (s) {
    WriteString(w, *s);
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
  w.RawJson(json, rapidjson::kObjectType);
}

// Returns true if RapidJSON's writer copies every byte of `s` as is between the quotes:
// printable ASCII other than '"' and '\\' (it escapes those two and control characters).
bool IsPlain(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x80 || c == '"' || c == '\\') return false;
  }
  return true;
}

void WriteEventFields(JsonWriter& w, const EventRow& e) {
  WriteKey(w, "id"), WriteString(w, e.id);
  WriteKey(w, "seq"), w.Int64(e.seq);
  WriteKey(w, "source"), WriteString(w, e.source);
  WriteKey(w, "event_type"), WriteString(w, e.event_type);
  WriteKey(w, "status"), WriteString(w, e.status);
  WriteKey(w, "received_at"), Time(w, e.received_at);
  WriteKey(w, "remote_addr"), WriteString(w, e.remote_addr);
  WriteKey(w, "idempotency_key"), WriteString(w, e.idempotency_key);
}

void WriteEventWithPayloadFields(JsonWriter& w, const EventRow& e) {
  WriteEventFields(w, e);
  WriteKey(w, "headers"), Raw(w, e.headers_json);
  WriteKey(w, "payload"), Raw(w, e.body);
}

}  // namespace

void WriteKey(JsonWriter& w, std::string_view key) {
  if (IsPlain(key)) return w.PlainString(key);
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void WriteString(JsonWriter& w, std::string_view s) {
  if (IsPlain(s)) return w.PlainString(s);  // ids, names, times: in one append
  bool ascii = true;
  for (char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) {  // no copy
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return;
  }
  std::string valid = ValidUtf8(s);
  w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void WriteEvent(JsonWriter& w, const EventRow& e) {
  w.StartObject();
  WriteEventFields(w, e);
  w.EndObject();
}

void WriteDelivery(JsonWriter& w, const DeliveryRow& d) {
  w.StartObject();
  WriteKey(w, "id"), w.Int64(d.id);
  WriteKey(w, "event_id"), WriteString(w, d.event_id);
  WriteKey(w, "event_seq"), w.Int64(d.event_seq);
  WriteKey(w, "destination"), WriteString(w, d.destination);
  WriteKey(w, "status"), WriteString(w, d.status);
  WriteKey(w, "attempts"), w.Int(d.attempts);
  WriteKey(w, "next_attempt_at");
  if (d.status == "pending") {
    Time(w, d.next_attempt_at);
  } else {
    w.Null();
  }
  WriteKey(w, "last_error"), OptString(w, d.last_error);
  WriteKey(w, "created_at"), Time(w, d.created_at);
  WriteKey(w, "updated_at"), Time(w, d.updated_at);
  WriteKey(w, "order_key"), OptString(w, d.order_key);
  WriteKey(w, "held"), w.Bool(d.held);
  w.EndObject();
}

void WriteAttempt(JsonWriter& w, const AttemptRow& a) {
  w.StartObject();
  WriteKey(w, "id"), w.Int64(a.id);
  WriteKey(w, "delivery_id"), w.Int64(a.delivery_id);
  WriteKey(w, "event_id"), WriteString(w, a.event_id);
  WriteKey(w, "destination"), WriteString(w, a.destination);
  WriteKey(w, "number"), w.Int(a.number);
  WriteKey(w, "started_at"), Time(w, a.started_at);
  WriteKey(w, "duration_ms"), w.Double(static_cast<double>(a.duration_us) / 1000.0);
  WriteKey(w, "http_status");
  if (a.http_status) {
    w.Int(*a.http_status);
  } else {
    w.Null();
  }
  WriteKey(w, "error"), OptString(w, a.error);
  WriteKey(w, "response_excerpt"), WriteString(w, a.response_excerpt);
  WriteKey(w, "outcome"), WriteString(w, a.outcome);
  w.EndObject();
}

void WriteRequest(JsonWriter& w, const RequestRow& r) {
  w.StartObject();
  WriteKey(w, "id"), w.Int64(r.id);
  WriteKey(w, "received_at"), Time(w, r.received_at);
  WriteKey(w, "source"), WriteString(w, r.source);
  WriteKey(w, "remote_addr"), WriteString(w, r.remote_addr);
  WriteKey(w, "status"), w.Int(r.status);
  WriteKey(w, "reason"), WriteString(w, r.reason);
  WriteKey(w, "event_id"), OptString(w, r.event_id);
  WriteKey(w, "body_bytes"), w.Int64(r.body_bytes);
  // Raw bytes shown as text (invalid UTF-8 replaced): what operators need is to read it.
  WriteKey(w, "body"), OptString(w, r.body);
  WriteKey(w, "body_truncated"),
      w.Bool(r.body && static_cast<int64_t>(r.body->size()) < r.body_bytes);
  w.EndObject();
}

void WriteAudit(JsonWriter& w, const AuditRow& a) {
  w.StartObject();
  WriteKey(w, "id"), w.Int64(a.id);
  WriteKey(w, "at"), Time(w, a.at);
  WriteKey(w, "actor"), WriteString(w, a.actor);
  WriteKey(w, "role"), WriteString(w, a.role);
  WriteKey(w, "action"), WriteString(w, a.action);
  WriteKey(w, "target"), Raw(w, a.target_json);
  WriteKey(w, "matched"), w.Int64(a.matched);
  WriteKey(w, "requeued"), w.Int64(a.requeued);
  WriteKey(w, "reason"), WriteString(w, a.reason);
  WriteKey(w, "prev_hash"), WriteString(w, a.prev_hash);
  WriteKey(w, "hash"), WriteString(w, a.hash);
  w.EndObject();
}

std::string RenderEventDetail(const EventRow& event, const std::vector<DeliveryRow>& deliveries) {
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteEventWithPayloadFields(w, event);
  WriteKey(w, "deliveries");
  w.StartArray();
  for (const DeliveryRow& d : deliveries) WriteDelivery(w, d);
  w.EndArray();
  w.EndObject();
  return out;
}

std::string RenderAuditVerification(const storage::AuditVerification& v) {
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteKey(w, "ok"), w.Bool(v.ok);
  WriteKey(w, "rows"), w.Int64(v.rows);
  WriteKey(w, "first_bad");
  if (v.first_bad) {
    w.Int64(*v.first_bad);
  } else {
    w.Null();
  }
  WriteKey(w, "head"), WriteString(w, v.head);
  WriteKey(w, "keyed_from");
  if (v.keyed_from) {
    w.Int64(*v.keyed_from);
  } else {
    w.Null();
  }
  w.EndObject();
  return out;
}

std::string RenderFeedPage(const std::vector<EventRow>& rows, int64_t next_after) {
  std::string out;
  size_t payload_bytes = 0;
  for (const EventRow& e : rows) payload_bytes += e.body.size() + e.headers_json.size();
  out.reserve(payload_bytes + 400 * rows.size() + 64);
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteKey(w, "data");
  w.StartArray();
  for (const EventRow& e : rows) {
    w.StartObject();
    WriteEventWithPayloadFields(w, e);
    w.EndObject();
  }
  w.EndArray();
  WriteKey(w, "next_after"), w.Int64(next_after);
  w.EndObject();
  return out;
}

std::string RenderEventReprocessed(const storage::ReprocessResult& result) {
  return "{\"requeued\":" + std::to_string(result.requeued) + "}";
}

std::string RenderBulkReprocessed(const storage::ReprocessResult& result, bool dry_run) {
  std::string out = "{\"matched\":" + std::to_string(result.matched) +
                    ",\"requeued\":" + std::to_string(result.requeued) +
                    ",\"dry_run\":" + (dry_run ? "true" : "false");
  if (result.running) out += ",\"running\":true";
  // Always: a client (the console) shows exactly the row of its own run, never "the newest".
  return out + ",\"audit_id\":" + std::to_string(result.audit_id) + "}";
}

std::string RenderStored(const storage::AppendResult& result) {
  return "{\"id\":" + JsonQuote(result.id) + ",\"seq\":" + std::to_string(result.seq) +
         ",\"duplicate\":" + (result.duplicate ? "true" : "false") + "}";
}

std::string RenderConsumerCursor(std::string_view name, int64_t cursor) {
  return "{\"name\":" + JsonQuote(name) + ",\"cursor\":" + std::to_string(cursor) + "}";
}

TargetJson::TargetJson() : sink_(out_), w_(sink_) { w_.StartObject(); }

TargetJson& TargetJson::Field(std::string_view key, const std::optional<std::string>& value) {
  if (value) WriteKey(w_, key), WriteString(w_, *value);
  return *this;
}

TargetJson& TargetJson::TimeField(std::string_view key, const std::optional<int64_t>& micros) {
  if (micros) WriteKey(w_, key), Time(w_, *micros);
  return *this;
}

TargetJson& TargetJson::Bool(std::string_view key, bool value) {
  WriteKey(w_, key), w_.Bool(value);
  return *this;
}

TargetJson& TargetJson::List(std::string_view key, const std::vector<std::string>& values) {
  if (values.empty()) return *this;
  WriteKey(w_, key);
  w_.StartArray();
  for (const std::string& s : values) WriteString(w_, s);
  w_.EndArray();
  return *this;
}

std::string TargetJson::Done() {
  w_.EndObject();
  return std::move(out_);
}

}  // namespace hookvault::api
