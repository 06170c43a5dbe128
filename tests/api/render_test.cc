// The feed page is rendered with bulk appends (JsonWriter::RawJson and PlainString, api/render.h)
// rather than RapidJSON's byte-at-a-time RawValue and String: the bytes must be exactly those
// the plain RapidJSON writer gives, for every kind of string and stored JSON.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "api/render.h"
#include "storage/clock.h"

namespace hookvault::api {
namespace {

using storage::EventRow;
using RefWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Each writes as render.cc did before the bulk appends.
void RefString(RefWriter& w, std::string_view s) {
  bool ascii = true;
  for (char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
  std::string valid = ascii ? std::string(s) : ValidUtf8(s);
  w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void RefRaw(RefWriter& w, std::string_view json) {
  if (json.empty()) {
    w.Null();
  } else {
    w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
  }
}

std::string RefFeedPage(const std::vector<EventRow>& rows, int64_t next_after) {
  rapidjson::StringBuffer buf;
  RefWriter w(buf);
  w.StartObject();
  w.Key("data");
  w.StartArray();
  for (const EventRow& e : rows) {
    w.StartObject();
    w.Key("id"), RefString(w, e.id);
    w.Key("seq"), w.Int64(e.seq);
    w.Key("source"), RefString(w, e.source);
    w.Key("event_type"), RefString(w, e.event_type);
    w.Key("status"), RefString(w, e.status);
    w.Key("received_at"), RefString(w, storage::FormatRfc3339(e.received_at));
    w.Key("remote_addr"), RefString(w, e.remote_addr);
    w.Key("idempotency_key"), RefString(w, e.idempotency_key);
    w.Key("headers"), RefRaw(w, e.headers_json);
    w.Key("payload"), RefRaw(w, e.body);
    w.EndObject();
  }
  w.EndArray();
  w.Key("next_after"), w.Int64(next_after);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

EventRow Row(int64_t seq, std::string body) {
  EventRow e;
  e.seq = seq;
  e.id = "0193a0c4-5e6f-7abc-8def-0123456789ab";
  e.source = "github";
  e.event_type = "push";
  e.idempotency_key = "idem-" + std::to_string(seq);
  e.received_at = 1795864921123456 + seq;
  e.remote_addr = "203.0.113.7";
  e.status = "delivered";
  e.headers_json = R"({"content-type":"application/json"})";
  e.body = std::move(body);
  return e;
}

TEST(RenderTest, EveryByteOfAStringAsRapidJsonWritesIt) {
  for (int b = 0; b < 256; ++b) {
    std::string s = "a";
    s.push_back(static_cast<char>(b));
    s += "z";
    std::string out;
    StringSink sink(out);
    JsonWriter w(sink);
    w.StartArray();
    WriteString(w, s);
    WriteKey(w, s);  // keys go through the same path; an array keeps the writer's checks quiet
    w.EndArray();

    rapidjson::StringBuffer buf;
    RefWriter ref(buf);
    ref.StartArray();
    RefString(ref, s);
    ref.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));  // keys were never repaired
    ref.EndArray();
    EXPECT_EQ(out, std::string(buf.GetString(), buf.GetSize())) << "byte " << b;
  }
}

TEST(RenderTest, FeedPageWithUnusualContentIsByteForByteTheSame) {
  std::vector<EventRow> rows;
  rows.push_back(Row(1, R"({"id":"evt_1","amount":1200})"));
  // Unicode escapes (a surrogate pair, NUL), escaped quotes, slashes, whitespace kept as stored.
  rows.push_back(Row(2, "{ \"u\" : \"\\u00e9\\ud83d\\ude00\\u0000\" ,\n\t\"q\":\"\\\"\\\\\\/\" }"));
  // Numbers beyond double and int64, exponents, nested arrays and empty containers.
  rows.push_back(Row(3, R"({"big":123456789012345678901234567890,"neg":-9223372036854775809,)"
                        R"("f":1.5e308,"tiny":5e-324,"n":[[[]],[1,[2,[3,{}]]],{"a":[]}]})"));
  // Raw UTF-8 in the payload, top-level arrays and scalars, and no body (null).
  rows.push_back(Row(4, "{\"name\":\"Zoë ✓ 日本\"}"));
  rows.push_back(Row(5, "[1,\"two\",[3]]"));
  rows.push_back(Row(6, "\"just a string\""));
  rows.push_back(Row(7, "-0.5e-3"));
  rows.push_back(Row(8, ""));
  // Strings that need escaping or repair: quotes, backslashes, control bytes, DEL, non-ASCII,
  // invalid UTF-8, U+2028.
  EventRow odd = Row(9, "{}");
  odd.source = "git\"hub\\";
  odd.event_type = "line\nbreak\x01\x1f\x7f";
  odd.idempotency_key = "caf\xc3\xa9 \xe2\x80\xa8 </script>";
  odd.remote_addr = "bad \xff\xfe utf8 \xc3";
  odd.status = "";
  odd.headers_json = R"({"x-sig":"sha256=ab\u002Bcd","x-list":["a","b"]})";
  odd.received_at = -1;
  rows.push_back(odd);
  EventRow empty_headers = Row(10, "{\"k\":null,\"t\":true,\"f\":false}");
  empty_headers.headers_json = "";
  rows.push_back(empty_headers);

  std::string page = RenderFeedPage(rows, 10);
  EXPECT_EQ(page, RefFeedPage(rows, 10));
  // The stored payload and headers are in the page exactly as stored.
  for (const EventRow& e : rows) {
    if (e.body.empty()) continue;
    EXPECT_NE(page.find("\"payload\":" + e.body + "}"), std::string::npos) << e.seq;
  }
  EXPECT_NE(page.find("\"headers\":" + odd.headers_json + ",\"payload\":"), std::string::npos);
  // And the page is JSON.
  rapidjson::Document d;
  d.Parse(page.data(), page.size());
  ASSERT_FALSE(d.HasParseError());
  ASSERT_EQ(d["data"].Size(), rows.size());
  EXPECT_TRUE(d["data"][7]["payload"].IsNull());
  EXPECT_STREQ(d["data"][8]["source"].GetString(), "git\"hub\\");
  EXPECT_STREQ(d["data"][8]["received_at"].GetString(), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(d["next_after"].GetInt64(), 10);
}

TEST(RenderTest, EmptyFeedPage) {
  EXPECT_EQ(RenderFeedPage({}, 42), R"({"data":[],"next_after":42})");
}

TEST(RenderTest, OneFeedRowExactly) {
  EXPECT_EQ(RenderFeedPage({Row(7, R"({"a":[1,2]})")}, 7),
            R"({"data":[{"id":"0193a0c4-5e6f-7abc-8def-0123456789ab","seq":7,"source":"github",)"
            R"("event_type":"push","status":"delivered","received_at":)"
            R"("2026-11-28T11:22:01.123463Z","remote_addr":"203.0.113.7",)"
            R"("idempotency_key":"idem-7","headers":{"content-type":"application/json"},)"
            R"("payload":{"a":[1,2]}}],"next_after":7})");
}

}  // namespace
}  // namespace hookvault::api
