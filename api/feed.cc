#include "api/feed.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>

#include "api/body.h"
#include "api/params.h"
#include "api/problem.h"
#include "api/render.h"
#include "storage/clock.h"

namespace hookvault::api {
namespace {

// Consumer names are bounded so a client cannot grow the consumers table's keys at will.
constexpr size_t kMaxConsumerName = 64;

ApiResponse BadConsumerName(const ApiRequest& req) {
  return Problem(ProblemKind::kBadRequest, "a consumer name is 1 to 64 of A-Z a-z 0-9 . _ -",
                 req.path);
}

// Returns the 410 of a consumer whose next events, from cursor + 1 to first_seq - 1, are gone.
// Besides the detail, it carries `cursor` and `first_seq` as members for programs.
ApiResponse Gone(int64_t cursor, int64_t first_seq, std::string_view path) {
  std::string detail = "events " + std::to_string(cursor + 1) + " to " +
                       std::to_string(first_seq - 1) +
                       " were pruned before this consumer acknowledged them (it had not "
                       "acknowledged anything for longer than retention.max_consumer_lag_days); "
                       "the first seq it can still get is " +
                       std::to_string(first_seq) + ": acknowledge seq " +
                       std::to_string(first_seq - 1) + " to go on from there";
  ApiResponse r = Problem(ProblemKind::kGone, detail, path);
  r.body.pop_back();  // the closing brace
  r.body += ",\"cursor\":" + std::to_string(cursor) +
            ",\"first_seq\":" + std::to_string(first_seq) + "}";
  return r;
}

// A consumer reads every event after its cursor, in order: seq is gap-free, so a seq missing
// from the page was pruned. Returns the 410 when the events right after the cursor are gone;
// otherwise cuts `page` before its first gap (the next read then answers the 410).
std::optional<ApiResponse> CheckNoGap(int64_t cursor, FeedPage& page, std::string_view path) {
  if (page.rows.empty()) {
    // next_after is past the newest event: everything after the cursor up to it is gone.
    if (page.next_after <= cursor) return std::nullopt;
    return Gone(cursor, page.next_after + 1, path);
  }
  if (page.rows.front().seq != cursor + 1) return Gone(cursor, page.rows.front().seq, path);
  for (size_t i = 1; i < page.rows.size(); ++i) {
    if (page.rows[i].seq != page.rows[i - 1].seq + 1) {
      page.rows.resize(i);
      page.next_after = page.rows.back().seq;
      break;
    }
  }
  return std::nullopt;
}

// Returns {"latest_seq", "data": [{"name", "cursor", "lag", "updated_at"}]}: `stored` are the
// consumers that have a row, by name; every name of `names` is listed, one without a row at
// cursor 0 with updated_at null.
std::string RenderConsumers(const std::vector<std::string>& names,
                            const std::map<std::string, storage::ConsumerRow, std::less<>>& stored,
                            int64_t latest_seq) {
  std::string out;
  StringSink sink(out);
  JsonWriter w(sink);
  w.StartObject();
  WriteKey(w, "latest_seq");
  w.Int64(latest_seq);
  WriteKey(w, "data");
  w.StartArray();
  for (const std::string& name : names) {
    auto row = stored.find(name);
    int64_t cursor = row == stored.end() ? 0 : row->second.cursor;
    w.StartObject();
    WriteKey(w, "name");
    WriteString(w, name);
    WriteKey(w, "cursor");
    w.Int64(cursor);
    WriteKey(w, "lag");
    w.Int64(std::max<int64_t>(0, latest_seq - cursor));
    WriteKey(w, "updated_at");
    if (row == stored.end()) {
      w.Null();
    } else {
      WriteString(w, storage::FormatRfc3339(row->second.updated_at));
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

}  // namespace

bool ValidConsumerName(std::string_view name) {
  if (name.empty() || name.size() > kMaxConsumerName) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::optional<ApiResponse> FeedHandler::RefuseConsumer(const ApiRequest& req,
                                                       const Principal& who,
                                                       const std::string& name, bool ack) const {
  if (!ValidConsumerName(name)) return BadConsumerName(req);
  if (!(ack ? MayAckConsumer(who, name) : MayReadConsumer(who, name))) {
    std::string detail = who.role == Role::kConsumer
                             ? "token '" + who.name + "' may use only the consumers it lists"
                             : "role " + std::string(RoleName(who.role)) +
                                   " may read consumers but not acknowledge for them";
    return Problem(ProblemKind::kForbidden, detail, req.path);
  }
  if (!consumers_.contains(name)) {
    return Problem(ProblemKind::kNotFound,
                   "no consumer named '" + name +
                       "' is configured (the api_tokens' \"consumers\" name them)",
                   req.path);
  }
  return std::nullopt;
}

void FeedHandler::ListConsumers(const ApiRequest& req, const Principal& who,
                                Responder respond) const {
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  // The cursors first, then the newest seq: a cursor never passes the newest seq of its time,
  // and that only grows, so no lag comes out negative however acks and ingest interleave.
  auto rows = queries_.ListConsumers();
  if (!rows.ok()) return respond(ProblemFromStatus(rows.status(), req.path));
  auto latest = queries_.LatestSeq();
  if (!latest.ok()) return respond(ProblemFromStatus(latest.status(), req.path));
  std::map<std::string, storage::ConsumerRow, std::less<>> stored;
  for (storage::ConsumerRow& row : *rows) {
    std::string name = row.name;
    stored.emplace(std::move(name), std::move(row));
  }
  std::vector<std::string> names;
  for (const std::string& name : consumers_) {
    if (MayReadConsumer(who, name)) names.push_back(name);
  }
  respond(JsonOk(RenderConsumers(names, stored, *latest)));
}

void FeedHandler::Feed(const ApiRequest& req, Responder respond) const {
  QueryParams q(req, {"after", "limit", "source", "type", "wait"});
  storage::FeedQuery query;
  query.after_seq = q.Int("after", 0, std::numeric_limits<int64_t>::max()).value_or(0);
  query.limit = q.Limit();
  query.source = q.String("source");
  query.event_type = q.String("type");
  int64_t wait = q.Int("wait", 0, kMaxWaitSeconds).value_or(0);
  if (!q.ok()) return respond(q.error());
  ServeFeed(req, std::move(query), wait, std::nullopt, std::move(respond));
}

void FeedHandler::ConsumerEvents(const ApiRequest& req, const Principal& who,
                                 const std::string& name, Responder respond) const {
  if (auto refused = RefuseConsumer(req, who, name, /*ack=*/false)) return respond(*refused);
  QueryParams q(req, {"limit", "wait"});
  storage::FeedQuery query;
  query.limit = q.Limit();
  int64_t wait = q.Int("wait", 0, kMaxWaitSeconds).value_or(0);
  if (!q.ok()) return respond(q.error());
  auto consumer = queries_.GetConsumer(name);
  if (!consumer.ok()) return respond(ProblemFromStatus(consumer.status(), req.path));
  int64_t cursor = consumer->has_value() ? (*consumer)->cursor : 0;
  query.after_seq = cursor;
  ServeFeed(req, std::move(query), wait, cursor, std::move(respond));
}

void FeedHandler::ServeFeed(const ApiRequest& req, storage::FeedQuery query, int64_t wait_seconds,
                            std::optional<int64_t> cursor, Responder respond) const {
  auto render = [path = req.path, cursor](storage::StatusOr<FeedPage> page) {
    if (!page.ok()) return ProblemFromStatus(page.status(), path);
    if (cursor) {
      if (auto gone = CheckNoGap(*cursor, *page, path)) return *std::move(gone);
    }
    return JsonOk(RenderFeedPage(page->rows, page->next_after));
  };
  auto page = ReadFeed(queries_, query);
  // A consumer whose next events are gone is answered at once, not parked.
  bool gap = cursor && page.ok() && page->next_after > *cursor;
  if (!page.ok() || !page->rows.empty() || wait_seconds <= 0 || gap) {
    return respond(render(std::move(page)));
  }
  query.after_seq = page->next_after;
  auto parked =
      waiters_.Park(std::move(query), std::chrono::seconds(wait_seconds),
                    [respond, render](storage::StatusOr<FeedPage> p) {
                      respond(render(std::move(p)));
                    });
  if (!parked.ok()) respond(ProblemFromStatus(parked, req.path));
}

void FeedHandler::AckConsumer(const ApiRequest& req, const Principal& who,
                              const std::string& name, Responder respond) const {
  if (auto refused = RefuseConsumer(req, who, name, /*ack=*/true)) return respond(*refused);
  QueryParams q(req, {});
  if (!q.ok()) return respond(q.error());
  rapidjson::Document doc;
  ApiResponse problem;
  if (!ParseBody(req, {"seq"}, doc, &problem)) return respond(problem);
  BodyFields body(doc, req);
  auto seq = body.Int("seq");
  if (body.ok() && (!seq || *seq < 0)) body.Fail("seq", "is required: a seq from the feed");
  if (!body.ok()) return respond(body.error());
  auto latest = queries_.LatestSeq();
  if (!latest.ok()) return respond(ProblemFromStatus(latest.status(), req.path));
  if (*seq > *latest) {
    return respond(Problem(ProblemKind::kBadRequest,
                           "'seq' " + std::to_string(*seq) + " is beyond the newest event (" +
                               std::to_string(*latest) + ")",
                           req.path));
  }
  auto done = [name, respond, path = req.path](storage::StatusOr<int64_t> cursor) {
    if (!cursor.ok()) return respond(ProblemFromStatus(cursor.status(), path));
    respond(JsonOk(RenderConsumerCursor(name, *cursor)));
  };
  if (auto s = operations_.AckConsumer(name, *seq, std::move(done)); !s.ok()) {
    respond(ProblemFromStatus(s, req.path));
  }
}

}  // namespace hookvault::api
