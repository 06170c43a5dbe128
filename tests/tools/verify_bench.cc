// hookvault_verify_bench: the in-process cost per event of ingest's two payload checks, run by
// `scripts/bench verify` and `scripts/bench ingest` (a benchmark that prints figures, not a
// test). Over HTTP on a shared machine these costs drown in noise; here they are timed alone.
//
//   hookvault_verify_bench --schema FILE --payload FILE [--rounds 9] [--events 20000]
//
// Times, each over `events` calls per round and `rounds` rounds (the median round is printed,
// and the fastest and slowest):
//   - github: VerifySignature with scheme github (X-Hub-Signature-256, one key) on a 1 KiB
//     body whose signature matches: an HMAC-SHA256 of the body and a constant-time compare;
//   - schema: PayloadSchema::Validate of the payload file (already parsed, as ingest hands it
//     over) against the schema file; the payload must be valid (checked first);
//   - parse: rapidjson parsing of the payload (what ingest already pays for any JSON body),
//     for scale.
// Prints a table and one line for scripts/bench:
//   VERIFY github_us=.. schema_us=.. parse_us=.. payload_bytes=.. rounds=.. events=..
// Exits 1 if the schema does not load, the payload is not valid against it, or the signature
// does not verify; 2 on bad arguments.

#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "api/http.h"
#include "api/verify/schema.h"
#include "api/verify/signature.h"
#include "storage/base/crypto.h"
#include "storage/base/encoding.h"

namespace {

using hookvault::api::PayloadSchema;

struct Timing {
  double median_us = 0;
  double min_us = 0;
  double max_us = 0;
};

// Runs `body` `events` times per round; returns per-call µs of the median, fastest and slowest
// round. `sink` keeps the compiler from dropping the work.
Timing Measure(int rounds, int events, const std::function<size_t()>& body) {
  std::vector<double> per_event;
  size_t sink = 0;
  for (int round = 0; round < rounds; ++round) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < events; ++i) sink += body();
    std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
    per_event.push_back(took.count() / events);
  }
  if (sink == 42) std::fprintf(stderr, " ");
  std::sort(per_event.begin(), per_event.end());
  return {per_event[per_event.size() / 2], per_event.front(), per_event.back()};
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

int Usage() {
  std::fprintf(stderr,
               "usage: hookvault_verify_bench --schema FILE --payload FILE [--rounds N] "
               "[--events N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string schema_file;
  std::string payload_file;
  int rounds = 9;
  int events = 20000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--schema") {
      schema_file = argv[i + 1];
    } else if (flag == "--payload") {
      payload_file = argv[i + 1];
    } else if (flag == "--rounds") {
      rounds = std::atoi(argv[i + 1]);
    } else if (flag == "--events") {
      events = std::atoi(argv[i + 1]);
    } else {
      return Usage();
    }
  }
  if (argc % 2 == 0 || schema_file.empty() || payload_file.empty() || rounds < 1 || events < 1) {
    return Usage();
  }

  auto schema = PayloadSchema::LoadFile(schema_file);
  if (!schema.ok()) {
    std::fprintf(stderr, "hookvault_verify_bench: %s\n", schema.status().message().c_str());
    return 1;
  }
  std::string payload_text;
  if (!ReadFile(payload_file, &payload_text)) {
    std::fprintf(stderr, "hookvault_verify_bench: cannot read %s\n", payload_file.c_str());
    return 1;
  }
  rapidjson::Document payload;
  payload.Parse(payload_text.data(), payload_text.size());
  if (payload.HasParseError()) {
    std::fprintf(stderr, "hookvault_verify_bench: %s is not JSON\n", payload_file.c_str());
    return 1;
  }
  if (auto errors = (*schema)->Validate(payload); !errors.empty()) {
    std::fprintf(stderr, "hookvault_verify_bench: the payload is not valid: %s\n",
                 errors[0].message.c_str());
    return 1;
  }

  // GitHub's scheme on a 1 KiB body, signed as GitHub signs it.
  hookvault::api::SignaturePolicy policy;
  policy.scheme = hookvault::api::SignatureScheme::kGithub;
  policy.keys = {"bench-webhook-secret-0123456789"};
  hookvault::api::ApiRequest request;
  request.method = "POST";
  request.path = "/webhooks/github";
  request.body = std::string(1024, 'x');
  request.headers.emplace_back(
      "x-hub-signature-256",
      "sha256=" + hookvault::base::HexEncode(hookvault::base::Hmac(
                      hookvault::base::HmacDigest::kSha256, policy.keys[0], {request.body})));
  request.headers.emplace_back("content-type", "application/json");
  int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  if (!hookvault::api::VerifySignature(policy, request, now_s).ok()) {
    std::fprintf(stderr, "hookvault_verify_bench: the github signature does not verify\n");
    return 1;
  }

  Timing github = Measure(rounds, events, [&] {
    return static_cast<size_t>(hookvault::api::VerifySignature(policy, request, now_s).ok());
  });
  Timing validate =
      Measure(rounds, events, [&] { return (*schema)->Validate(payload).size() + 1; });
  Timing parse = Measure(rounds, events, [&] {
    rapidjson::Document doc;
    doc.Parse(payload_text.data(), payload_text.size());
    return static_cast<size_t>(doc.MemberCount());
  });

  std::printf("in-process cost per event (%d rounds of %d calls; median round, fastest-slowest)\n",
              rounds, events);
  std::printf("  %-44s %8.2f us  (%.2f-%.2f)\n", "VerifySignature github, 1 KiB body",
              github.median_us, github.min_us, github.max_us);
  std::printf(
      "  %-44s %8.2f us  (%.2f-%.2f)\n",
      ("PayloadSchema::Validate, " + std::to_string(payload_text.size()) + "-byte payload").c_str(),
      validate.median_us, validate.min_us, validate.max_us);
  std::printf("  %-44s %8.2f us  (%.2f-%.2f)\n", "for scale: parsing that payload (rapidjson)",
              parse.median_us, parse.min_us, parse.max_us);
  std::printf(
      "VERIFY github_us=%.3f schema_us=%.3f parse_us=%.3f payload_bytes=%zu rounds=%d "
      "events=%d\n",
      github.median_us, validate.median_us, parse.median_us, payload_text.size(), rounds, events);
  return 0;
}
