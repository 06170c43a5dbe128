#include "api/feed.h"

#include <chrono>
#include <limits>

#include "api/body.h"
#include "api/params.h"
#include "api/problem.h"
#include "api/render.h"

namespace hookvault::api {
namespace {

// Consumer names are bounded so a client cannot grow the consumers table's keys at will.
constexpr size_t kMaxConsumerName = 64;

bool ValidConsumerName(std::string_view name) {
  if (name.empty() || name.size() > kMaxConsumerName) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

ApiResponse BadConsumerName(const ApiRequest& req) {
  return Problem(ProblemKind::kBadRequest, "a consumer name is 1 to 64 of A-Z a-z 0-9 . _ -",
                 req.path);
}

}  // namespace

void FeedHandler::Feed(const ApiRequest& req, Responder respond) const {
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

void FeedHandler::ConsumerEvents(const ApiRequest& req, const std::string& name,
                                 Responder respond) const {
  if (!ValidConsumerName(name)) return respond(BadConsumerName(req));
  QueryParams q(req, {"limit", "wait"});
  storage::FeedQuery query;
  query.limit = q.Limit();
  int64_t wait = q.Int("wait", 0, kMaxWaitSeconds).value_or(0);
  if (!q.ok()) return respond(q.error());
  auto consumer = queries_.GetConsumer(name);
  if (!consumer.ok()) return respond(ProblemFromStatus(consumer.status(), req.path));
  query.after_seq = consumer->has_value() ? (*consumer)->cursor : 0;
  ServeFeed(req, std::move(query), wait, std::move(respond));
}

void FeedHandler::ServeFeed(const ApiRequest& req, storage::FeedQuery query, int64_t wait_seconds,
                            Responder respond) const {
  auto render = [path = req.path](const storage::StatusOr<FeedPage>& page) {
    if (!page.ok()) return ProblemFromStatus(page.status(), path);
    return JsonOk(RenderFeedPage(page->rows, page->next_after));
  };
  auto page = ReadFeed(queries_, query);
  if (!page.ok() || !page->rows.empty() || wait_seconds <= 0) return respond(render(page));
  query.after_seq = page->next_after;
  auto parked =
      waiters_.Park(std::move(query), std::chrono::seconds(wait_seconds),
                    [respond, render](storage::StatusOr<FeedPage> p) { respond(render(p)); });
  if (!parked.ok()) respond(ProblemFromStatus(parked, req.path));
}

void FeedHandler::AckConsumer(const ApiRequest& req, const std::string& name,
                              Responder respond) const {
  if (!ValidConsumerName(name)) return respond(BadConsumerName(req));
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
