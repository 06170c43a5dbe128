// The shared suite, feed and consumers: paging by seq, filters, long-polls woken by a commit,
// consumer cursors that never move backwards and survive a restart — over real HTTP against
// the real binary, on SQLite and on PostgreSQL alike.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/backend.h"
#include "tests/testing/http_client.h"

namespace hookvault::testing {
namespace {

constexpr char kSourceToken[] = "suite-feed-source-token-0123456789";
constexpr char kConsumer[] = "suite-feed-consumer-token-0123456789";
constexpr char kAdmin[] = "suite-feed-admin-token-0123456789";

class FeedSuite : public BackendServerTest {
 protected:
  void StartServer() {
    Start(R"("sources": [
        {"name": "pms", "tokens": [")" + std::string(kSourceToken) + R"("], "event_type": "/event",
         "idempotency": {"pointer": "/id"}},
        {"name": "crm", "tokens": [")" + kSourceToken + R"("], "event_type": "/event",
         "idempotency": {"pointer": "/id"}}],
      "api_tokens": [
        {"name": "warehouse", "token": ")" + kConsumer + R"(", "role": "consumer",
         "consumers": ["warehouse", "billing"]},
        {"name": "root", "token": ")" + kAdmin + R"(", "role": "admin"}])");
  }

  // Posts one webhook; returns its event id ("" unless 200).
  std::string Post(const std::string& source, const std::string& key, const std::string& type) {
    HttpResult r = Ingest(source, kSourceToken,
                          R"({"id":")" + key + R"(","event":")" + type + R"("})");
    rapidjson::Document d = Json(r.body);
    EXPECT_EQ(r.status, 200) << r.body << r.error;
    return r.status == 200 && d.IsObject() ? d["id"].GetString() : "";
  }

  // A consumer's GET of `path`, parsed (asserting a 200).
  rapidjson::Document Pull(const std::string& path) {
    HttpResult r = Get(path, kConsumer);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return Json(r.status == 200 ? r.body : "");
  }

  static std::vector<std::string> IdsOf(const rapidjson::Document& page) {
    std::vector<std::string> ids;
    if (!page.IsObject()) return {"<no page>"};
    for (const auto& e : page["data"].GetArray()) ids.push_back(e["id"].GetString());
    return ids;
  }

  HttpResult Ack(const std::string& consumer, const std::string& body) {
    return PostJson("/api/v1/consumers/" + consumer + "/ack", kConsumer, body);
  }
};

using Ids = std::vector<std::string>;

TEST_P(FeedSuite, PagesAscendingBySeqWithPayloadAndFilters) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Ids ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(Post(i % 2 ? "crm" : "pms", "feed-" + std::to_string(i),
                       i % 3 == 0 ? "booking.created" : "payment.settled"));
  }
  rapidjson::Document d = Pull("/api/v1/feed?after=0&limit=2");
  ASSERT_TRUE(d.IsObject());
  EXPECT_EQ(IdsOf(d), (Ids{ids[0], ids[1]}));
  EXPECT_EQ(d["data"][0]["seq"].GetInt64(), 1);
  EXPECT_EQ(d["data"][1]["seq"].GetInt64(), 2);
  EXPECT_EQ(std::string(d["data"][0]["payload"]["id"].GetString()), "feed-0");
  EXPECT_EQ(std::string(d["data"][0]["source"].GetString()), "pms");
  int64_t next = d["next_after"].GetInt64();
  EXPECT_EQ(next, 2);
  d = Pull("/api/v1/feed?limit=3&after=" + std::to_string(next));
  EXPECT_EQ(IdsOf(d), (Ids{ids[2], ids[3], ids[4]}));
  d = Pull("/api/v1/feed?limit=3&after=" + std::to_string(d["next_after"].GetInt64()));
  EXPECT_EQ(IdsOf(d), (Ids{ids[5]}));
  int64_t end = d["next_after"].GetInt64();
  EXPECT_EQ(end, 6);
  d = Pull("/api/v1/feed?after=" + std::to_string(end));
  EXPECT_EQ(IdsOf(d), Ids{});
  EXPECT_EQ(d["next_after"].GetInt64(), end);

  EXPECT_EQ(IdsOf(Pull("/api/v1/feed?source=crm")), (Ids{ids[1], ids[3], ids[5]}));
  EXPECT_EQ(IdsOf(Pull("/api/v1/feed?type=booking.created")), (Ids{ids[0], ids[3]}));
  EXPECT_EQ(IdsOf(Pull("/api/v1/feed?source=pms&type=payment.settled")), (Ids{ids[2], ids[4]}));
  // A filtered page that reached the end moves past the events it did not match.
  d = Pull("/api/v1/feed?source=crm&limit=10");
  EXPECT_EQ(d["next_after"].GetInt64(), end);
  // A filtered page that did not: next_after is its last event's seq.
  d = Pull("/api/v1/feed?source=crm&limit=1");
  EXPECT_EQ(d["next_after"].GetInt64(), 2);
  EXPECT_EQ(Get("/api/v1/feed?wait=31", kConsumer).status, 400);
}

// A parked long-poll is answered by the next commit, well before its wait ends; with nothing
// new it answers an empty page when the wait ends.
TEST_P(FeedSuite, LongPollWakesOnACommit) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_FALSE(Post("pms", "lp-0", "payment.settled").empty());
  int64_t latest = Pull("/api/v1/feed")["next_after"].GetInt64();
  HttpResult polled;
  std::chrono::milliseconds took{0};
  std::atomic<bool> sending{false};  // the post waits for the poll to be on its way
  std::thread poller([&] {
    HttpClient c;
    auto start = std::chrono::steady_clock::now();
    sending = true;
    polled = c.Request("GET", Url("/api/v1/feed?wait=25&after=" + std::to_string(latest)),
                       {{"Authorization", std::string("Bearer ") + kConsumer}}, "", 40000);
    took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
  });
  while (!sending.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::string id = Post("pms", "lp-1", "payment.settled");
  poller.join();
  ASSERT_EQ(polled.status, 200) << polled.error << polled.body;
  rapidjson::Document d = Json(polled.body);
  EXPECT_EQ(IdsOf(d), Ids{id});
  EXPECT_GE(took.count(), 450) << "answered before the event existed";
  EXPECT_LT(took.count(), 15000) << "the poll waited for its timeout, not for the commit";

  // A consumer's long-poll wakes on a commit too.
  ASSERT_EQ(Ack("warehouse", R"({"seq": )" + std::to_string(latest + 1) + "}").status, 200);
  HttpResult consumer_poll;
  sending = false;
  std::thread consumer([&] {
    HttpClient c;
    auto start = std::chrono::steady_clock::now();
    sending = true;
    consumer_poll = c.Request("GET", Url("/api/v1/consumers/warehouse/events?wait=25"),
                              {{"Authorization", std::string("Bearer ") + kConsumer}}, "", 40000);
    took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
  });
  while (!sending.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::string next = Post("crm", "lp-2", "payment.settled");
  consumer.join();
  ASSERT_EQ(consumer_poll.status, 200) << consumer_poll.error << consumer_poll.body;
  EXPECT_EQ(IdsOf(Json(consumer_poll.body)), Ids{next});
  EXPECT_GE(took.count(), 450) << "answered before the event existed";
  EXPECT_LT(took.count(), 15000) << "the poll waited for its timeout, not for the commit";

  // Nothing new (for this filter): an empty page when the wait ends.
  auto start = std::chrono::steady_clock::now();
  HttpResult empty = Get("/api/v1/feed?wait=1&source=nobody", kConsumer, 20000);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(IdsOf(Json(empty.body)), Ids{});
  EXPECT_GE(waited, std::chrono::milliseconds(950));
}

// A consumer reads from its committed cursor; an ack moves it forward only; another consumer
// has its own; the cursor survives a restart of the server on the same store.
TEST_P(FeedSuite, ConsumerCursorNeverMovesBackwardsAndSurvivesARestart) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Ids ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Post("pms", "c-" + std::to_string(i), "x.y"));
  rapidjson::Document d = Pull("/api/v1/consumers/warehouse/events?limit=3");
  EXPECT_EQ(IdsOf(d), (Ids{ids[0], ids[1], ids[2]}));
  int64_t third = d["data"][2]["seq"].GetInt64();
  // Without an ack the same events come again.
  EXPECT_EQ(IdsOf(Pull("/api/v1/consumers/warehouse/events?limit=3")),
            (Ids{ids[0], ids[1], ids[2]}));

  HttpResult ack = Ack("warehouse", R"({"seq": )" + std::to_string(third) + "}");
  ASSERT_EQ(ack.status, 200) << ack.body;
  EXPECT_EQ(Json(ack.body)["cursor"].GetInt64(), third);
  EXPECT_EQ(IdsOf(Pull("/api/v1/consumers/warehouse/events")), Ids{ids[3]});

  // An older ack does not move it back.
  ack = Ack("warehouse", R"({"seq": 1})");
  ASSERT_EQ(ack.status, 200) << ack.body;
  EXPECT_EQ(Json(ack.body)["cursor"].GetInt64(), third);
  EXPECT_EQ(IdsOf(Pull("/api/v1/consumers/warehouse/events")), Ids{ids[3]});
  // Another consumer has its own cursor.
  EXPECT_EQ(IdsOf(Pull("/api/v1/consumers/billing/events")), ids);
  // Acks beyond the newest event, and malformed ones, are refused.
  EXPECT_EQ(Ack("warehouse", R"({"seq": 999999})").status, 400);
  EXPECT_EQ(Ack("warehouse", R"({"seq": "3"})").status, 400);
  EXPECT_EQ(Ack("warehouse", "{}").status, 400);

  // After a restart on the same store it resumes after its cursor.
  Stop();
  ASSERT_NO_FATAL_FAILURE(StartServer());
  EXPECT_EQ(IdsOf(Pull("/api/v1/consumers/warehouse/events")), Ids{ids[3]});
  std::string fifth = Post("crm", "c-4", "x.y");
  EXPECT_EQ(IdsOf(Pull("/api/v1/consumers/warehouse/events")), (Ids{ids[3], fifth}));
  ack = Ack("warehouse", R"({"seq": 2})");
  EXPECT_EQ(Json(ack.body)["cursor"].GetInt64(), third) << "moved backwards after the restart";
  ack = Ack("warehouse", R"({"seq": 5})");
  EXPECT_EQ(Json(ack.body)["cursor"].GetInt64(), 5);
  EXPECT_EQ(IdsOf(Pull("/api/v1/consumers/warehouse/events")), Ids{});
  // The consumers list shows the stored cursors and the lag behind the newest seq.
  HttpResult consumers = Get("/api/v1/consumers", kAdmin);
  ASSERT_EQ(consumers.status, 200) << consumers.body;
  d = Json(consumers.body);
  ASSERT_TRUE(d.IsObject()) << consumers.body;
  EXPECT_EQ(d["latest_seq"].GetInt64(), 5);
  int found = 0;
  for (const auto& c : d["data"].GetArray()) {
    if (std::string(c["name"].GetString()) != "warehouse") continue;
    ++found;
    EXPECT_EQ(c["cursor"].GetInt64(), 5);
    EXPECT_EQ(c["lag"].GetInt64(), 0);
  }
  EXPECT_EQ(found, 1) << consumers.body;
}

INSTANTIATE_TEST_SUITE_P(Backends, FeedSuite, ::testing::ValuesIn(AllBackends()),
                         BackendTestName);

}  // namespace
}  // namespace hookvault::testing
