#include "server/http/request_head.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hookvault::server {
namespace {

constexpr size_t kLimit = 1024;

// Feeds `head` one byte at a time (as a slow client sends it) and returns the first refusal.
std::optional<RequestHeadChecker::Refusal> FeedBytewise(RequestHeadChecker& checker,
                                                         const std::string& head) {
  for (char c : head) {
    if (auto r = checker.Feed(std::string_view(&c, 1))) return r;
  }
  return std::nullopt;
}

TEST(RequestHeadCheckerTest, AcceptsAWellFormedHeadWholeOrBytewise) {
  const std::string head =
      "POST /webhooks/harmonics?x=1 HTTP/1.1\r\nHost: example\r\nContent-Type: "
      "application/json; charset=utf-8\r\nContent-Length:  7 \r\nX-Tab:\ta\tb\r\nX-Utf8: "
      "\xc3\xa9\r\n\r\n{\"a\":1}";
  RequestHeadChecker whole(kLimit);
  EXPECT_FALSE(whole.Feed(head));
  EXPECT_TRUE(whole.head_complete());
  RequestHeadChecker bytewise(kLimit);
  EXPECT_FALSE(FeedBytewise(bytewise, head));
  EXPECT_TRUE(bytewise.head_complete());
  RequestHeadChecker http10(kLimit);
  EXPECT_FALSE(http10.Feed("GET /healthz HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(http10.head_complete());
}

TEST(RequestHeadCheckerTest, IncompleteHeadIsNeitherRefusedNorComplete) {
  RequestHeadChecker checker(kLimit);
  EXPECT_FALSE(checker.Feed("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_FALSE(checker.head_complete());
  EXPECT_FALSE(checker.Feed("\r"));
  EXPECT_FALSE(checker.head_complete());
  EXPECT_FALSE(checker.Feed("\n"));
  EXPECT_TRUE(checker.head_complete());
}

TEST(RequestHeadCheckerTest, BodyBytesAreNotCheckedAndResetStartsOver) {
  RequestHeadChecker checker(kLimit);
  EXPECT_FALSE(checker.Feed("POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\n\x00\n\r\n"));
  EXPECT_FALSE(checker.Feed(std::string(4 * kLimit, '\n')));  // body: not counted, not checked
  checker.Reset();
  EXPECT_FALSE(checker.head_complete());
  EXPECT_FALSE(checker.Feed("GET /b HTTP/1.1\r\nContent-Length: 1\r\n\r\n"));  // a new request
  EXPECT_TRUE(checker.head_complete());
}

struct BadHead {
  const char* name;
  std::string head;
  int status;
};

TEST(RequestHeadCheckerTest, RefusesMalformedHeadsAsSoonAsTheLineIsComplete) {
  const BadHead cases[] = {
      {"no version", "GET /healthz\r\n", 400},
      {"garbage", "GARBAGE\r\n", 400},
      {"binary", std::string("\x16\x03\x01\x02\x00\x01\r\n", 8), 400},
      {"empty line first", "\r\n", 400},
      {"two spaces", "GET  /healthz HTTP/1.1\r\n", 400},
      {"bad version", "GET /healthz HTTP/9.9\r\n", 400},
      {"lower-case version", "GET /healthz http/1.1\r\n", 400},
      {"version with junk", "GET /healthz HTTP/1.1 x\r\n", 400},
      {"method not a token", "GE(T /healthz HTTP/1.1\r\n", 400},
      {"NUL in target", std::string("GET /a\0b HTTP/1.1\r\n", 19), 400},
      {"CR in target", "GET /a\rb HTTP/1.1\r\n", 400},
      {"bare LF request line", "GET /healthz HTTP/1.1\n", 400},
      {"bare LF header", "GET / HTTP/1.1\r\nHost: x\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nHost x\r\n", 400},
      {"empty name", "GET / HTTP/1.1\r\n: x\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nX-A: a\r\n  b\r\n", 400},
      {"NUL in name", std::string("GET / HTTP/1.1\r\nHo\0st: x\r\n", 27), 400},
      {"NUL in value", std::string("GET / HTTP/1.1\r\nX-A: a\0b\r\n", 27), 400},
      {"CR in value", "GET / HTTP/1.1\r\nX-A: a\rb\r\n", 400},
      {"two Content-Length", "POST / HTTP/1.1\r\nContent-Length: 7\r\ncontent-length: 7\r\n", 400},
      {"negative Content-Length", "POST / HTTP/1.1\r\nContent-Length: -5\r\n", 400},
      {"signed Content-Length", "POST / HTTP/1.1\r\nContent-Length: +5\r\n", 400},
      {"letters in Content-Length", "POST / HTTP/1.1\r\nContent-Length: abc\r\n", 400},
      {"empty Content-Length", "POST / HTTP/1.1\r\nContent-Length: \r\n", 400},
      {"list Content-Length", "POST / HTTP/1.1\r\nContent-Length: 7, 7\r\n", 400},
      {"huge Content-Length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n", 400},
      {"request line over the limit", "GET /" + std::string(kLimit, 'a') + " HTTP/1.1\r\n", 413},
      {"header over the limit", "GET / HTTP/1.1\r\nX-A: " + std::string(kLimit, 'a'), 413},
      // Methods Pistache does not know: 501, not Pistache's 400 (RFC 9110 section 15.6.2).
      {"unknown method", "BREW /healthz HTTP/1.1\r\n", 501},
      {"WebDAV method", "PROPFIND /healthz HTTP/1.1\r\n", 501},
      {"lower-case method", "post /webhooks/a HTTP/1.1\r\n", 501},
  };
  for (const BadHead& c : cases) {
    RequestHeadChecker whole(kLimit);
    auto refusal = whole.Feed(c.head);
    ASSERT_TRUE(refusal.has_value()) << c.name;
    EXPECT_EQ(refusal->status, c.status) << c.name;
    EXPECT_FALSE(refusal->detail.empty()) << c.name;
    RequestHeadChecker bytewise(kLimit);
    auto slow = FeedBytewise(bytewise, c.head);
    ASSERT_TRUE(slow.has_value()) << c.name;
    EXPECT_EQ(slow->status, c.status) << c.name;
  }
}

TEST(RequestHeadCheckerTest, KnownMethodsAreNotRefused) {
  for (const char* method :
       {"GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}) {
    RequestHeadChecker checker(kLimit);
    EXPECT_FALSE(checker.Feed(std::string(method) + " /healthz HTTP/1.1\r\n\r\n")) << method;
  }
}

// The raw query keeps what Pistache's parsed query drops: repeats, empty values, order.
TEST(RequestHeadCheckerTest, KeepsTheRawQueryUntilReset) {
  RequestHeadChecker checker(kLimit);
  EXPECT_FALSE(FeedBytewise(checker,
                            "GET /api/v1/events?status=failed&status=&x&status=bogus#f "
                            "HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(checker.raw_query(), "status=failed&status=&x&status=bogus");
  checker.Reset();
  EXPECT_EQ(checker.raw_query(), "");
  EXPECT_FALSE(checker.Feed("GET /healthz HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(checker.raw_query(), "");
  checker.Reset();
  EXPECT_FALSE(checker.Feed("GET /a? HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(checker.raw_query(), "");
}

// Every X-Forwarded-For line, in order, whatever the case of the name: a proxy such as HAProxy
// adds its own line after the one the client wrote.
TEST(RequestHeadCheckerTest, KeepsEveryForwardedForLineInOrder) {
  RequestHeadChecker checker(kLimit);
  EXPECT_FALSE(checker.Feed(
      "POST /webhooks/a HTTP/1.1\r\nX-Forwarded-For: 198.51.100.1, 10.0.0.1\r\nHost: x\r\n"
      "x-forwarded-for:\t203.0.113.7 \r\n\r\n"));
  EXPECT_EQ(checker.forwarded_for(),
            (std::vector<std::string>{"198.51.100.1, 10.0.0.1", "203.0.113.7"}));
  checker.Reset();
  EXPECT_TRUE(checker.forwarded_for().empty());
}

TEST(RequestHeadCheckerTest, HeadExactlyAtTheLimitIsAccepted) {
  std::string head = "GET / HTTP/1.1\r\nX-A: ";
  head += std::string(kLimit - head.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(head.size(), kLimit);
  RequestHeadChecker checker(kLimit);
  EXPECT_FALSE(checker.Feed(head));
  EXPECT_TRUE(checker.head_complete());
  RequestHeadChecker over(kLimit);
  EXPECT_TRUE(over.Feed("X" + head).has_value());
}

}  // namespace
}  // namespace hookvault::server
