#include "server/config.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "api/feed.h"
#include "api/json.h"
#include "server/delivery/amqp_client.h"
#include "server/delivery/webhook_signature.h"
#include "storage/base/encoding.h"
#include "storage/base/strings.h"

namespace hookvault::server {
namespace {

// Thrown inside this file only; ParseConfig turns it into a Status.
struct ConfigError {
  std::string message;
};

[[noreturn]] void Fail(const std::string& path, const std::string& why) {
  throw ConfigError{path + ": " + why};
}

// Replaces every ${NAME} in `value` from the environment.
std::string Substitute(const std::string& value, const std::string& path, const EnvLookup& env) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = value.find("${", pos);
    if (start == std::string::npos) break;
    size_t end = value.find('}', start + 2);
    if (end == std::string::npos) Fail(path, "unterminated ${ in value");
    std::string name = value.substr(start + 2, end - start - 2);
    if (name.empty()) Fail(path, "empty variable name in ${}");
    std::optional<std::string> replacement = env(name);
    if (!replacement) Fail(path, "environment variable " + name + " is not set");
    out += value.substr(pos, start - pos);
    out += *replacement;
    pos = end + 1;
  }
  out += value.substr(pos);
  return out;
}

// A JSON object being read: remembers which keys were read so that the rest can be refused.
class Object {
 public:
  Object(const rapidjson::Value& value, std::string path, const EnvLookup& env)
      : value_(value), path_(std::move(path)), env_(env) {
    if (!value.IsObject()) Fail(path_.empty() ? "(top level)" : path_, "must be an object");
    std::set<std::string> names;
    for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      if (!names.insert(key).second) Fail(Path(key.c_str()), "key appears twice");
    }
  }

  const rapidjson::Value* Get(const char* key) {
    seen_.insert(key);
    auto it = value_.FindMember(key);
    return it == value_.MemberEnd() ? nullptr : &it->value;
  }
  std::string Path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  std::optional<std::string> String(const char* key) {
    const rapidjson::Value* v = Get(key);
    if (!v) return std::nullopt;
    if (!v->IsString()) Fail(Path(key), "must be a string");
    return Substitute(std::string(v->GetString(), v->GetStringLength()), Path(key), env_);
  }
  std::optional<int64_t> Int(const char* key, int64_t min, int64_t max) {
    const rapidjson::Value* v = Get(key);
    if (!v) return std::nullopt;
    if (!v->IsInt64()) Fail(Path(key), "must be an integer");
    int64_t n = v->GetInt64();
    if (n < min || n > max) {
      Fail(Path(key), "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return n;
  }
  std::optional<bool> Bool(const char* key) {
    const rapidjson::Value* v = Get(key);
    if (!v) return std::nullopt;
    if (!v->IsBool()) Fail(Path(key), "must be true or false");
    return v->GetBool();
  }
  std::optional<double> Number(const char* key, double min) {
    const rapidjson::Value* v = Get(key);
    if (!v) return std::nullopt;
    if (!v->IsNumber()) Fail(Path(key), "must be a number");
    double d = v->GetDouble();
    if (!std::isfinite(d) || d < min) Fail(Path(key), "must be at least " + std::to_string(min));
    return d;
  }
  std::optional<std::vector<std::string>> Strings(const char* key) {
    const rapidjson::Value* v = Get(key);
    if (!v) return std::nullopt;
    if (!v->IsArray()) Fail(Path(key), "must be an array of strings");
    std::vector<std::string> out;
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
      std::string p = Path(key) + "[" + std::to_string(i) + "]";
      if (!(*v)[i].IsString()) Fail(p, "must be a string");
      // With its length: a JSON string may hold NUL ("\u0000"), and cut there a token would
      // be shorter than the one written and "10.0.0.0/8\u0000..." would load as a block.
      const rapidjson::Value& item = (*v)[i];
      out.push_back(Substitute(std::string(item.GetString(), item.GetStringLength()), p, env_));
    }
    return out;
  }
  std::optional<Object> Child(const char* key) {
    const rapidjson::Value* v = Get(key);
    if (!v) return std::nullopt;
    return Object(*v, Path(key), env_);
  }
  // Calls fn(Object) for each element of the array at `key`.
  template <typename Fn>
  void EachObject(const char* key, Fn fn) {
    const rapidjson::Value* v = Get(key);
    if (!v) return;
    if (!v->IsArray()) Fail(Path(key), "must be an array");
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
      fn(Object((*v)[i], Path(key) + "[" + std::to_string(i) + "]", env_));
    }
  }
  // Refuses every key that was not read.
  void Finish() const {
    for (auto it = value_.MemberBegin(); it != value_.MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      if (!seen_.count(key)) Fail(Path(key.c_str()), "unknown key");
    }
  }

 private:
  const rapidjson::Value& value_;
  std::string path_;
  const EnvLookup& env_;
  std::set<std::string> seen_;
};

std::vector<api::Cidr> ParseCidrs(const std::vector<std::string>& texts, const std::string& path) {
  std::vector<api::Cidr> out;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto c = api::Cidr::Parse(texts[i]);
    if (!c.ok()) Fail(path + "[" + std::to_string(i) + "]", c.status().message());
    out.push_back(*c);
  }
  return out;
}

// Fails unless `file` can be opened for reading by this process (so check-config, run as the
// service's user, catches a key the server could not read).
void RequireReadableFile(const std::string& file, const std::string& path) {
  std::ifstream in(file, std::ios::binary);
  if (!in) Fail(path, "cannot read " + file + ": " + std::strerror(errno));
}

rapidjson::Pointer ParsePointer(const std::string& text, const std::string& path) {
  rapidjson::Pointer p(text.c_str(), text.size());
  if (!p.IsValid() || (!text.empty() && text[0] != '/')) {
    Fail(path, "\"" + text + "\" is not a JSON pointer (RFC 6901, e.g. \"/event\")");
  }
  return p;
}

// Returns `file` as it is if absolute, else resolved against `base_dir` (when not empty).
std::string Resolve(const std::string& file, const std::string& base_dir) {
  if (file.empty() || file[0] == '/' || base_dir.empty()) return file;
  return base_dir + "/" + file;
}

// Returns the Standard Webhooks key for a configured secret: the base64 after an optional
// "whsec_", decoded as the reference libraries decode it (they decode an unprefixed secret too,
// unlike our outbound signing_secret). The message never holds the secret.
std::string StandardWebhooksKey(const std::string& secret, const std::string& path) {
  std::string_view text = secret;
  if (text.starts_with(kSigningSecretPrefix)) text.remove_prefix(kSigningSecretPrefix.size());
  std::optional<std::string> key = base::Base64Decode(text);
  if (!key || key->empty()) {
    Fail(path, "is not a Standard Webhooks secret (whsec_ and padded base64, as the sender "
               "shows it)");
  }
  return *key;
}

// The source's "verify": the provider's signature scheme.
api::SignaturePolicy ParseVerify(Object v) {
  api::SignaturePolicy p;
  std::optional<std::string> scheme_name = v.String("scheme");
  if (!scheme_name) Fail(v.Path("scheme"), "is required");
  std::optional<api::SignatureScheme> scheme = api::ParseSignatureScheme(*scheme_name);
  if (!scheme) {
    Fail(v.Path("scheme"), "unknown scheme \"" + *scheme_name +
                               "\" (github, stripe, shopify, standard-webhooks or hmac)");
  }
  p.scheme = *scheme;
  std::vector<std::string> secrets = v.Strings("secrets").value_or(std::vector<std::string>{});
  if (secrets.empty()) Fail(v.Path("secrets"), "needs at least one secret");
  for (size_t i = 0; i < secrets.size(); ++i) {
    std::string path = v.Path("secrets") + "[" + std::to_string(i) + "]";
    if (secrets[i].empty()) Fail(path, "must not be empty");
    p.keys.push_back(p.scheme == api::SignatureScheme::kStandardWebhooks
                         ? StandardWebhooksKey(secrets[i], path)
                         : secrets[i]);
  }
  bool timed = p.scheme == api::SignatureScheme::kStripe ||
               p.scheme == api::SignatureScheme::kStandardWebhooks;
  if (std::optional<int64_t> t = v.Int("tolerance_s", 1, 86400)) {
    if (!timed) Fail(v.Path("tolerance_s"), "the " + *scheme_name + " scheme sends no timestamp");
    p.tolerance_s = *t;
  }
  bool hmac = p.scheme == api::SignatureScheme::kHmac;
  for (const char* key : {"header", "algorithm", "encoding", "prefix"}) {
    if (!hmac && v.Get(key)) Fail(v.Path(key), "applies to scheme hmac only");
  }
  if (hmac) {
    std::string header = v.String("header").value_or("");
    if (header.empty()) Fail(v.Path("header"), "is required for scheme hmac");
    for (char c : header) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        Fail(v.Path("header"), "may hold only letters, digits, '-' and '_'");
      }
    }
    p.header = base::AsciiLower(header);
    std::string algorithm = v.String("algorithm").value_or("sha256");
    if (algorithm == "sha1") {
      p.algorithm = base::HmacDigest::kSha1;
    } else if (algorithm == "sha256") {
      p.algorithm = base::HmacDigest::kSha256;
    } else if (algorithm == "sha512") {
      p.algorithm = base::HmacDigest::kSha512;
    } else {
      Fail(v.Path("algorithm"), "must be sha1, sha256 or sha512");
    }
    std::string encoding = v.String("encoding").value_or("hex");
    if (encoding == "hex") {
      p.encoding = api::SignatureEncoding::kHex;
    } else if (encoding == "base64") {
      p.encoding = api::SignatureEncoding::kBase64;
    } else {
      Fail(v.Path("encoding"), "must be hex or base64");
    }
    p.prefix = v.String("prefix").value_or("");
  }
  v.Finish();
  return p;
}

// The source's "schemas": {"<event-type glob>": "<schema file>", ...}, loaded now so that a
// schema that does not load is a config error (and check-config finds it).
std::vector<api::SchemaRule> ParseSchemas(Object& o, const EnvLookup& env,
                                          const std::string& base_dir) {
  std::vector<api::SchemaRule> rules;
  const rapidjson::Value* v = o.Get("schemas");
  if (!v) return rules;
  if (!v->IsObject()) {
    Fail(o.Path("schemas"), "must be an object from event-type globs to JSON Schema files");
  }
  std::set<std::string> globs;
  for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
    std::string glob(it->name.GetString(), it->name.GetStringLength());
    std::string path = o.Path("schemas") + "[\"" + glob + "\"]";
    // Only the first of two equal globs could ever apply.
    if (!globs.insert(glob).second) Fail(path, "glob appears twice");
    if (!it->value.IsString()) Fail(path, "must be a file name");
    std::string file =
        Substitute(std::string(it->value.GetString(), it->value.GetStringLength()), path, env);
    if (file.empty()) Fail(path, "must be a file name");
    auto schema = api::PayloadSchema::LoadFile(Resolve(file, base_dir));
    if (!schema.ok()) Fail(path, schema.status().message());
    rules.push_back(api::SchemaRule{std::move(glob), std::move(file), std::move(*schema)});
  }
  return rules;
}

api::SourcePolicy ParseSource(Object o, const EnvLookup& env, const std::string& base_dir) {
  api::SourcePolicy s;
  s.name = o.String("name").value_or("");
  if (s.name.empty()) Fail(o.Path("name"), "is required");
  if (s.name.starts_with("_")) {
    Fail(o.Path("name"), "names starting with '_' are hookvault's own (its alerts)");
  }
  for (char c : s.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      Fail(o.Path("name"), "may hold only letters, digits, '-', '_' and '.'");
    }
  }
  s.tokens = o.Strings("tokens").value_or(std::vector<std::string>{});
  if (auto v = o.Child("verify")) s.verify = ParseVerify(std::move(*v));
  if (s.tokens.empty() && !s.verify) {
    Fail(o.Path("tokens"), "needs at least one token (or the source needs \"verify\")");
  }
  for (size_t i = 0; i < s.tokens.size(); ++i) {
    if (s.tokens[i].size() < 16) {
      Fail(o.Path("tokens") + "[" + std::to_string(i) + "]", "must be at least 16 characters");
    }
  }
  s.allow_ips =
      ParseCidrs(o.Strings("allow_ips").value_or(std::vector<std::string>{}), o.Path("allow_ips"));
  if (auto t = o.String("event_type")) s.event_type = ParsePointer(*t, o.Path("event_type"));
  // The header comes first, and is Idempotency-Key unless the source names another, also
  // when it names only a pointer (the pointer is the fallback for requests without the
  // header); "header": "" turns the header off.
  // With Standard Webhooks the sender's webhook-id names the message across its retries.
  s.idempotency_header =
      s.verify && s.verify->scheme == api::SignatureScheme::kStandardWebhooks ? "webhook-id"
                                                                               : "idempotency-key";
  if (auto idem = o.Child("idempotency")) {
    s.idempotency_header = "idempotency-key";
    if (auto h = idem->String("header")) {
      for (char c : *h) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
          Fail(idem->Path("header"), "may hold only letters, digits, '-' and '_'");
        }
      }
      s.idempotency_header = base::AsciiLower(*h);
    }
    if (auto p = idem->String("pointer")) {
      s.idempotency_pointer = ParsePointer(*p, idem->Path("pointer"));
    }
    idem->Finish();
  }
  s.required = o.Strings("required").value_or(std::vector<std::string>{});
  for (size_t i = 0; i < s.required.size(); ++i) {
    s.required_pointers.push_back(
        ParsePointer(s.required[i], o.Path("required") + "[" + std::to_string(i) + "]"));
  }
  s.schemas = ParseSchemas(o, env, base_dir);
  o.Finish();
  return s;
}

// Replaces "${NAME}" in every string of `value` (object members and array items, at any
// depth; not in member names), as for every other string value of the config.
void SubstituteStrings(rapidjson::Value& value, rapidjson::Document::AllocatorType& allocator,
                       const std::string& path, const EnvLookup& env) {
  if (value.IsString()) {
    std::string text = Substitute(std::string(value.GetString(), value.GetStringLength()), path,
                                  env);
    value.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
  } else if (value.IsArray()) {
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
      SubstituteStrings(value[i], allocator, path + "[" + std::to_string(i) + "]", env);
    }
  } else if (value.IsObject()) {
    for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
      SubstituteStrings(it->value, allocator,
                        path + "." + std::string(it->name.GetString(), it->name.GetStringLength()),
                        env);
    }
  }
}

// Reads what a destination and the alerts channel share: url (with "amqp" for amqp:// URLs),
// timeout_ms, max_attempts, backoff, concurrency, signing_secret.
void ParseOutbound(Object& o, OutboundDestination& d) {
  d.url = o.String("url").value_or("");
  const bool amqp = IsAmqpUrl(d.url);
  if (!(d.url.starts_with("http://") || d.url.starts_with("https://") || amqp) ||
      d.url.find("://") + 3 >= d.url.size()) {
    Fail(o.Path("url"), "must be an http://, https://, amqp:// or amqps:// URL");
  }
  if (amqp && !IsValidAmqpUrl(d.url)) {
    Fail(o.Path("url"), "is not a valid AMQP URL (amqp://user:password@host:5672/vhost)");
  }
  if (auto a = o.Child("amqp")) {
    if (!amqp) Fail(o.Path("amqp"), "applies to amqp:// and amqps:// URLs only");
    d.amqp.exchange = a->String("exchange").value_or("");
    d.amqp.routing_key = a->String("routing_key").value_or("");
    a->Finish();
  } else if (amqp) {
    Fail(o.Path("amqp"), "is required with an amqp:// URL: {\"exchange\": ..., \"routing_key\": ...}");
  }
  if (amqp && d.amqp.exchange.empty() && d.amqp.routing_key.empty()) {
    Fail(o.Path("amqp.routing_key"),
         "is required with the default exchange (\"\"): it names the queue");
  }
  d.timeout_ms = o.Int("timeout_ms", 1, 600000).value_or(d.timeout_ms);
  d.max_attempts = static_cast<int>(o.Int("max_attempts", 1, 1000).value_or(d.max_attempts));
  if (auto b = o.Child("backoff")) {
    d.backoff.initial_ms = b->Int("initial_ms", 1, 86400000).value_or(d.backoff.initial_ms);
    d.backoff.max_ms = b->Int("max_ms", 1, 7 * 86400000LL).value_or(d.backoff.max_ms);
    d.backoff.multiplier = b->Number("multiplier", 1.0).value_or(d.backoff.multiplier);
    if (d.backoff.max_ms < d.backoff.initial_ms) {
      Fail(b->Path("max_ms"), "must not be less than initial_ms");
    }
    b->Finish();
  }
  d.concurrency = static_cast<int>(o.Int("concurrency", 1, 1024).value_or(d.concurrency));
  d.signing_secret = o.String("signing_secret").value_or("");
  if (!d.signing_secret.empty()) {
    auto key = DecodeSigningSecret(d.signing_secret);
    if (!key.ok()) Fail(o.Path("signing_secret"), key.status().message());
  }
}

DestinationConfig ParseDestination(Object o, const EnvLookup& env) {
  DestinationConfig d;
  d.name = o.String("name").value_or("");
  if (d.name.empty()) Fail(o.Path("name"), "is required");
  d.filter.name = d.name;
  if (d.name.starts_with("_")) {
    Fail(o.Path("name"), "names starting with '_' are hookvault's own (the alerts destination)");
  }
  ParseOutbound(o, d);
  d.filter.sources = o.Strings("sources").value_or(std::vector<std::string>{});
  d.filter.events = o.Strings("events").value_or(std::vector<std::string>{});
  if (const rapidjson::Value* f = o.Get("filter")) {
    if (!f->IsArray()) Fail(o.Path("filter"), "must be an array of conditions");
    rapidjson::Document substituted;
    substituted.CopyFrom(*f, substituted.GetAllocator());
    SubstituteStrings(substituted, substituted.GetAllocator(), o.Path("filter"), env);
    auto parsed = api::PayloadFilter::Parse(substituted);
    // The message starts with the condition's place below the filter ("[2].gte: ...").
    if (!parsed.ok()) throw ConfigError{o.Path("filter") + parsed.status().message()};
    d.filter.payload = std::move(*parsed);
  }
  if (auto ord = o.Child("ordering")) {
    std::string key = ord->String("key").value_or("");
    if (key.empty()) Fail(ord->Path("key"), "is required: a JSON pointer (\"/booking/id\") or \"source\"");
    api::DestinationFilter::Ordering ordering;
    if (key == "source") {
      ordering.by_source = true;
    } else {
      ordering.pointer = ParsePointer(key, ord->Path("key"));
    }
    ord->Finish();
    d.ordering = key;
    d.filter.ordering = std::move(ordering);
  }
  if (auto r = o.Child("rate_limit")) {
    std::optional<double> per_second = r->Number("per_second", 0.001);
    if (!per_second) Fail(r->Path("per_second"), "is required (attempts started per second)");
    if (*per_second > 1e6) Fail(r->Path("per_second"), "must be at most 1000000");
    d.rate_limit.per_second = *per_second;
    r->Finish();
  }
  if (auto c = o.Child("circuit")) {
    d.circuit.failures =
        static_cast<int>(c->Int("failures", 1, 1000000).value_or(d.circuit.failures));
    d.circuit.open_ms = c->Int("open_ms", 100, 86400000).value_or(d.circuit.open_ms);
    c->Finish();
  }
  o.Finish();
  return d;
}

// An audit key shorter than this would be guessable offline from one row and its hash.
constexpr size_t kMinAuditKeyChars = 32;

Config ParseRoot(Object root, const EnvLookup& env, const std::string& base_dir) {
  Config c;
  c.listen = root.String("listen").value_or(c.listen);
  if (auto hp = SplitHostPort(c.listen); !hp.ok()) Fail("listen", hp.status().message());
  c.threads = static_cast<int>(root.Int("threads", 1, 64).value_or(c.threads));
  c.query_threads = static_cast<int>(root.Int("query_threads", 1, 64).value_or(c.query_threads));
  c.data_dir = root.String("data_dir").value_or(c.data_dir);
  if (c.data_dir.empty()) Fail("data_dir", "must not be empty");
  c.max_body_bytes = root.Int("max_body_bytes", 1, 64 << 20).value_or(c.max_body_bytes);
  c.max_db_bytes = root.Int("max_db_bytes", 0, INT64_MAX).value_or(c.max_db_bytes);
  if (auto log = root.Child("log")) {
    c.log.level = log->String("level").value_or(c.log.level);
    static const std::set<std::string> kLevels = {"trace", "debug",    "info", "warn",
                                                  "error", "critical", "off"};
    if (!kLevels.count(c.log.level)) Fail("log.level", "must be one of trace..critical, off");
    c.log.format = log->String("format").value_or(c.log.format);
    if (c.log.format != "text" && c.log.format != "json") Fail("log.format", "text or json");
    log->Finish();
  }
  if (auto w = root.Child("writer")) {
    c.writer_max_batch = static_cast<int>(w->Int("max_batch", 1, 100000).value_or(512));
    c.writer_max_queue = static_cast<int>(w->Int("max_queue", 1, 10000000).value_or(8192));
    c.writer_max_queue_bytes =
        w->Int("max_queue_bytes", 1 << 20, int64_t{1} << 40).value_or(c.writer_max_queue_bytes);
    c.writer_commit_interval_us =
        w->Int("commit_interval_us", 0, 100000).value_or(c.writer_commit_interval_us);
    w->Finish();
  }
  c.trusted_proxies = ParseCidrs(
      root.Strings("trusted_proxies").value_or(std::vector<std::string>{}), "trusted_proxies");
  if (auto t = root.Child("tls")) {
    TlsConfig tls;
    tls.cert_file = t->String("cert_file").value_or("");
    tls.key_file = t->String("key_file").value_or("");
    if (tls.cert_file.empty()) Fail("tls.cert_file", "is required (together with tls.key_file)");
    if (tls.key_file.empty()) Fail("tls.key_file", "is required (together with tls.cert_file)");
    RequireReadableFile(tls.cert_file, "tls.cert_file");
    RequireReadableFile(tls.key_file, "tls.key_file");
    t->Finish();
    c.tls = std::move(tls);
  }
  if (auto l = root.Child("request_log")) {
    c.request_log.keep_rejected_bodies =
        l->Bool("keep_rejected_bodies").value_or(c.request_log.keep_rejected_bodies);
    c.request_log.kept_body_bytes =
        l->Int("kept_body_bytes", 1, 1 << 20).value_or(c.request_log.kept_body_bytes);
    storage::RequestLogBudgetOptions& b = c.request_log.budget;
    constexpr int64_t kMaxRows = 10000000;
    constexpr int64_t kMaxBytes = int64_t{1} << 40;
    b.rows_per_minute = l->Int("rejected_rows_per_minute", 0, kMaxRows).value_or(b.rows_per_minute);
    b.bytes_per_minute =
        l->Int("rejected_bytes_per_minute", 0, kMaxBytes).value_or(b.bytes_per_minute);
    b.rows_per_address_per_minute = l->Int("rejected_rows_per_address_per_minute", 0, kMaxRows)
                                        .value_or(b.rows_per_address_per_minute);
    b.bytes_per_address_per_minute = l->Int("rejected_bytes_per_address_per_minute", 0, kMaxBytes)
                                         .value_or(b.bytes_per_address_per_minute);
    b.max_tracked_addresses =
        static_cast<size_t>(l->Int("tracked_addresses", 1, 1000000)
                                .value_or(static_cast<int64_t>(b.max_tracked_addresses)));
    if (b.rows_per_address_per_minute > b.rows_per_minute) {
      Fail("request_log.rejected_rows_per_address_per_minute",
           "must not exceed rejected_rows_per_minute (" + std::to_string(b.rows_per_minute) + ")");
    }
    if (b.bytes_per_address_per_minute > b.bytes_per_minute) {
      Fail(
          "request_log.rejected_bytes_per_address_per_minute",
          "must not exceed rejected_bytes_per_minute (" + std::to_string(b.bytes_per_minute) + ")");
    }
    l->Finish();
  }
  if (auto a = root.Child("audit")) {
    c.audit.key = a->String("key").value_or("");
    if (c.audit.key.size() < kMinAuditKeyChars) {
      Fail("audit.key", "must be at least " + std::to_string(kMinAuditKeyChars) +
                            " characters (e.g. the output of `openssl rand -hex 32`)");
    }
    a->Finish();
  }
  if (auto r = root.Child("retention")) {
    RetentionConfig& rc = c.retention;
    rc.delivered_days = static_cast<int>(r->Int("delivered_days", 1, 36500).value_or(30));
    rc.failed_days = static_cast<int>(r->Int("failed_days", 1, 36500).value_or(90));
    rc.attempts_days =
        static_cast<int>(r->Int("attempts_days", 1, 36500).value_or(rc.failed_days));
    rc.request_log_days = static_cast<int>(r->Int("request_log_days", 1, 36500).value_or(14));
    std::optional<int64_t> idempotency = r->Int("idempotency_days", 1, 36500);
    rc.idempotency_days = static_cast<int>(
        idempotency.value_or(std::max(rc.delivered_days, rc.failed_days) + 7));
    rc.max_consumer_lag_days =
        static_cast<int>(r->Int("max_consumer_lag_days", 1, 36500).value_or(7));
    if (rc.idempotency_days < rc.delivered_days) {
      Fail("retention.idempotency_days",
           "must be at least delivered_days (" + std::to_string(rc.delivered_days) +
               "): keys are meant to outlive their events");
    }
    r->Finish();
  }
  if (auto pg = root.Child("postgres")) {
    PostgresConfig p;
    p.url = pg->String("url").value_or("");
    if (p.url.empty()) Fail("postgres.url", "is required (postgresql://user@host:5432/db)");
    // Only the URI form: its password is what MaskPostgresUrl() knows how to hide.
    if (!p.url.starts_with("postgresql://") && !p.url.starts_with("postgres://")) {
      Fail("postgres.url", "must be a postgresql:// URL (postgresql://user@host:5432/db)");
    }
    p.pool_size = static_cast<int>(pg->Int("pool_size", 1, 64).value_or(p.pool_size));
    p.lease_margin_ms = pg->Int("lease_margin_ms", 1000, 3600000).value_or(p.lease_margin_ms);
    p.listen_poll_ms = pg->Int("listen_poll_ms", 100, 60000).value_or(p.listen_poll_ms);
    pg->Finish();
    c.postgres = std::move(p);
    // A cap on the SQLite file would silently cap nothing: refuse it rather than let an
    // operator believe the database is bounded.
    if (c.max_db_bytes != 0) {
      Fail("max_db_bytes", "applies to SQLite only; with postgres, bound the database there");
    }
  }
  if (auto a = root.Child("alerts")) {
    AlertsConfig alerts;
    alerts.destination.name = std::string(kAlertsName);
    ParseOutbound(*a, alerts.destination);
    alerts.min_interval_ms =
        a->Int("min_interval_ms", 1000, 86400000).value_or(alerts.min_interval_ms);
    a->Finish();
    c.alerts = std::move(alerts);
  }
  root.EachObject("sources",
                  [&](Object o) { c.sources.push_back(ParseSource(std::move(o), env, base_dir)); });
  root.EachObject("destinations",
                  [&](Object o) { c.destinations.push_back(ParseDestination(std::move(o), env)); });
  root.EachObject("api_tokens", [&](Object o) {
    ApiTokenConfig t;
    t.name = o.String("name").value_or("");
    t.token = o.String("token").value_or("");
    t.role = o.String("role").value_or("");
    if (t.name.empty()) Fail(o.Path("name"), "is required");
    if (t.token.size() < 16) Fail(o.Path("token"), "must be at least 16 characters");
    if (t.role != "auditor" && t.role != "operator" && t.role != "consumer" && t.role != "admin") {
      Fail(o.Path("role"), "must be auditor, operator, consumer or admin");
    }
    std::optional<std::vector<std::string>> consumers = o.Strings("consumers");
    if (consumers && t.role != "consumer") {
      Fail(o.Path("consumers"), "only a token of role consumer lists consumers");
    }
    if (t.role == "consumer") {
      t.consumers = consumers.value_or(std::vector<std::string>{t.name});
      if (t.consumers.empty()) Fail(o.Path("consumers"), "must name at least one consumer");
      for (size_t i = 0; i < t.consumers.size(); ++i) {
        if (!api::ValidConsumerName(t.consumers[i])) {
          Fail(consumers ? o.Path("consumers") + "[" + std::to_string(i) + "]" : o.Path("name"),
               "a consumer name is 1 to 64 of A-Z a-z 0-9 . _ -" +
                   std::string(consumers ? "" : " (or list the token's \"consumers\")"));
        }
      }
    }
    o.Finish();
    c.api_tokens.push_back(std::move(t));
  });
  root.Finish();

  std::set<std::string> names;
  for (size_t i = 0; i < c.sources.size(); ++i) {
    if (!names.insert(c.sources[i].name).second) {
      Fail("sources[" + std::to_string(i) + "].name", "duplicate source " + c.sources[i].name);
    }
  }
  names.clear();
  for (size_t i = 0; i < c.destinations.size(); ++i) {
    if (!names.insert(c.destinations[i].filter.name).second) {
      Fail("destinations[" + std::to_string(i) + "].name", "duplicate destination name");
    }
  }
  if (c.sources.empty()) Fail("sources", "at least one source is required");
  for (size_t i = 0; i < c.destinations.size(); ++i) {
    const std::vector<std::string>& wanted = c.destinations[i].filter.sources;
    for (size_t j = 0; j < wanted.size(); ++j) {
      bool known = std::any_of(c.sources.begin(), c.sources.end(), [&](const api::SourcePolicy& s) {
        return api::GlobMatches(wanted[j], s.name);
      });
      if (!known) {
        Fail("destinations[" + std::to_string(i) + "].sources[" + std::to_string(j) + "]",
             "no configured source matches \"" + wanted[j] + "\"");
      }
    }
  }
  return c;
}

}  // namespace

std::vector<std::string> ConsumerNames(const Config& config) {
  std::set<std::string> names;
  for (const ApiTokenConfig& t : config.api_tokens) {
    names.insert(t.consumers.begin(), t.consumers.end());
  }
  return {names.begin(), names.end()};
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

storage::StatusOr<Config> ParseConfig(std::string_view json, const EnvLookup& env,
                                      const std::string& base_dir) {
  rapidjson::Document doc;
  if (storage::Status s = api::ParseJson(json, doc); !s.ok()) {
    return storage::Status::InvalidArgument("config is not valid JSON: " + s.message());
  }
  try {
    return ParseRoot(Object(doc, "", env), env, base_dir);
  } catch (const ConfigError& e) {
    return storage::Status::InvalidArgument(e.message);
  }
}

storage::StatusOr<Config> LoadConfigFile(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return storage::Status::InvalidArgument("cannot read config file " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  // Files the config names (schemas) resolve against the config file's directory.
  std::string dir = std::filesystem::path(path).parent_path().string();
  auto config = ParseConfig(buf.str(), env, dir.empty() ? "." : dir);
  if (!config.ok()) {
    return storage::Status::InvalidArgument(path + ": " + config.status().message());
  }
  return config;
}

Config DefaultConfig(const std::string& default_token, const std::string& admin_token) {
  Config c;
  api::SourcePolicy s;
  s.name = "default";
  s.tokens = {default_token};
  s.event_type = rapidjson::Pointer("/event");
  s.idempotency_header = "idempotency-key";
  s.idempotency_pointer = rapidjson::Pointer("/id");
  c.sources.push_back(std::move(s));
  c.api_tokens.push_back(
      {.name = "default-admin", .token = admin_token, .role = "admin", .consumers = {}});
  return c;
}

namespace {

constexpr std::string_view kPasswordMask = "***";

// libpq's keywords that carry a secret. Compared without regard to case: masking a keyword
// libpq would refuse costs nothing.
bool IsSecretKeyword(std::string_view key) {
  auto equals = [&](std::string_view secret) {
    return key.size() == secret.size() &&
           std::equal(key.begin(), key.end(), secret.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  };
  return equals("password") || equals("sslpassword");
}

// A URI query keyword as libpq reads it: percent-decoded (`pass%77ord` is `password`).
std::string PercentDecode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// "host=db password='a b' user=hv": libpq's key=value form. A value is a run of non-blanks or
// a single-quoted string, a backslash escaping the next character in either.
std::string MaskKeywordValueString(std::string_view conninfo) {
  std::string out;
  size_t i = 0;
  auto blank = [&](size_t at) { return std::isspace(static_cast<unsigned char>(conninfo[at])); };
  while (i < conninfo.size()) {
    const size_t key_start = i;
    while (i < conninfo.size() && conninfo[i] != '=' && !blank(i)) ++i;
    const std::string_view key = conninfo.substr(key_start, i - key_start);
    while (i < conninfo.size() && blank(i)) ++i;
    if (i >= conninfo.size() || conninfo[i] != '=') {  // not key=value: copy and go on
      out.append(conninfo.substr(key_start, i - key_start));
      continue;
    }
    ++i;  // '='
    while (i < conninfo.size() && blank(i)) ++i;
    out.append(conninfo.substr(key_start, i - key_start));
    const size_t value_start = i;
    const bool quoted = i < conninfo.size() && conninfo[i] == '\'';
    if (quoted) ++i;
    while (i < conninfo.size()) {
      if (conninfo[i] == '\\' && i + 1 < conninfo.size()) {
        i += 2;
        continue;
      }
      if (quoted ? conninfo[i] == '\'' : static_cast<bool>(blank(i))) break;
      ++i;
    }
    if (quoted && i < conninfo.size()) ++i;  // the closing quote
    if (IsSecretKeyword(key)) {
      out.append(quoted ? "'***'" : kPasswordMask);
    } else {
      out.append(conninfo.substr(value_start, i - value_start));
    }
  }
  return out;
}

}  // namespace

// libpq's URI rule (conninfo_uri_parse_options): the user info runs from after "://" to the
// first '@' that comes before any '/'. So a password may hold '?' and ':' but not '/' unencoded;
// the query string starts at the first '?' after the user info, its keywords percent-decoded.
std::string MaskPostgresUrl(std::string_view url) {
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    return MaskKeywordValueString(url);
  }
  std::string out(url);
  const size_t start = out.find("://") + 3;
  size_t host = start;  // where the host part begins: after the user info, if any
  const size_t first_at_or_slash = out.find_first_of("@/", start);
  size_t at = std::string::npos;
  if (first_at_or_slash != std::string::npos && out[first_at_or_slash] == '@') {
    at = first_at_or_slash;
    // A further '@' before the path or the query cannot be in a host name: an unencoded '@'
    // in the password (libpq refuses the URL, and our messages echo it): mask up to the last.
    const size_t last_at = out.substr(0, out.find_first_of("/?", at)).rfind('@');
    if (last_at != std::string::npos) at = last_at;
  } else {
    // Not user info to libpq (it refuses such a URL, a '/' in the password), but our error
    // messages echo the URL: mask up to the last '@' before the query, the safe side.
    const size_t last_at = out.substr(0, out.find('?', start)).rfind('@');
    if (last_at != std::string::npos && last_at >= start) at = last_at;
  }
  if (at != std::string::npos) {
    const size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, kPasswordMask);
      at = colon + 1 + kPasswordMask.size();
    }
    host = at + 1;
  }
  const size_t query = out.find('?', host);
  if (query == std::string::npos) return out;
  std::string masked = out.substr(0, query + 1);
  size_t param = query + 1;
  for (;;) {
    size_t end = out.find('&', param);
    if (end == std::string::npos) end = out.size();
    const std::string_view item = std::string_view(out).substr(param, end - param);
    const size_t equals = item.find('=');
    if (equals != std::string_view::npos && IsSecretKeyword(PercentDecode(item.substr(0, equals)))) {
      masked.append(item.substr(0, equals + 1)).append(kPasswordMask);
    } else {
      masked.append(item);
    }
    if (end == out.size()) break;
    masked.push_back('&');
    param = end + 1;
  }
  return masked;
}

storage::StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view listen) {
  auto bad = [&] {
    return storage::Status::InvalidArgument("\"" + std::string(listen) +
                                            "\" is not HOST:PORT (use [::1]:PORT for IPv6)");
  };
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string host(listen.substr(0, colon));
  std::string_view port_text = listen.substr(colon + 1);
  if (host.front() == '[') {
    if (host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return bad();
  }
  if (port_text.empty() || port_text.size() > 5) return bad();
  int port = 0;
  for (char ch : port_text) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) return bad();
    port = port * 10 + (ch - '0');
  }
  if (port > 65535 || host.empty()) return bad();
  return std::make_pair(host, static_cast<uint16_t>(port));
}

}  // namespace hookvault::server
