#include "api/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <set>
#include <vector>

namespace hookvault::api {
namespace {

// Returns true if `s` holds a UTF-16 surrogate (U+D800..U+DFFF) encoded like a character
// (0xED 0xA0..0xBF ...), which is not UTF-8. The input is validated, so only an escape makes
// one: RapidJSON 1.1.0 refuses a "\uD800".."\uDBFF" without its pair but decodes an unpaired
// "\uDC00".."\uDFFF" into those bytes.
bool HoldsSurrogate(const char* s, rapidjson::SizeType n) {
  for (rapidjson::SizeType i = 0; i + 1 < n; ++i) {
    if (static_cast<unsigned char>(s[i]) == 0xED && static_cast<unsigned char>(s[i + 1]) >= 0xA0) {
      return true;
    }
  }
  return false;
}

// Stands in for a Document when the parse only validates: takes every SAX event, builds nothing.
struct NoDocument {
  bool Null() { return true; }
  bool Bool(bool) { return true; }
  bool Int(int) { return true; }
  bool Uint(unsigned) { return true; }
  bool Int64(int64_t) { return true; }
  bool Uint64(uint64_t) { return true; }
  bool Double(double) { return true; }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return true; }
  bool String(const char*, rapidjson::SizeType, bool) { return true; }
  bool Key(const char*, rapidjson::SizeType, bool) { return true; }
  bool StartObject() { return true; }
  bool EndObject(rapidjson::SizeType) { return true; }
  bool StartArray() { return true; }
  bool EndArray(rapidjson::SizeType) { return true; }
};

// Forwards SAX events to `Target` (a Document, or NoDocument) while counting depth; stops the
// parse past max_depth, and at a string or key holding an unpaired surrogate.
template <typename Target>
class DepthLimitedHandler {
 public:
  DepthLimitedHandler(Target& doc, int max_depth) : doc_(doc), max_(max_depth) {}

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return doc_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return WithoutSurrogate(s, n) && doc_.String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    return WithoutSurrogate(s, n) && doc_.Key(s, n, copy);
  }
  bool StartObject() { return Enter() && doc_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndObject(n);
  }
  bool StartArray() { return Enter() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return doc_.EndArray(n);
  }

  bool too_deep() const { return too_deep_; }
  bool surrogate() const { return surrogate_; }

 private:
  bool Enter() {
    if (++depth_ > max_) too_deep_ = true;
    return !too_deep_;
  }
  bool WithoutSurrogate(const char* s, rapidjson::SizeType n) {
    if (HoldsSurrogate(s, n)) surrogate_ = true;
    return !surrogate_;
  }

  Target& doc_;
  const int max_;
  int depth_ = 0;
  bool too_deep_ = false;
  bool surrogate_ = false;
};

// True when every byte of `s` is below 0x80. Written as one OR over the bytes so that the
// compiler vectorises it: on a 1 KiB body it costs a small fraction of the parse it can spare.
bool IsAscii(std::string_view s) {
  unsigned char any = 0;
  for (char c : s) any |= static_cast<unsigned char>(c);
  return any < 0x80;
}

// What one parse found: RapidJSON's result, and what the handler stopped it for.
struct ParseOutcome {
  rapidjson::ParseResult result;
  size_t consumed = 0;  // bytes the stream read
  bool too_deep = false;
  bool surrogate = false;
};

// Feeds `text` to `target` through a DepthLimitedHandler with the iterative parser. ASCII text
// is valid UTF-8 byte for byte, so RapidJSON's per-character encoding check (a third of the
// parse of a typical webhook) runs only when a byte is not ASCII; what is accepted, refused and
// built is the same either way (escapes are decoded and checked alike).
//
// The parse reads a copy of `text` followed by 16 NUL bytes. On x86-64, CMakeLists.txt builds
// RapidJSON with RAPIDJSON_SSE2: a StringStream's whitespace and (unvalidated) strings are then
// scanned 16 aligned bytes at a time, which may read up to 15 bytes past the closing quote; the
// padding keeps every such read inside the copy. A StringStream ends at the first NUL as a
// MemoryStream ends at its end (its Peek() is then '\0' too), so the copy parses, fails and
// reports offsets exactly as `text` would.
template <typename Target>
ParseOutcome RunParse(std::string_view text, Target& target, int max_depth) {
  constexpr size_t kPadding = 16;
  std::string padded;
  padded.reserve(text.size() + kPadding);
  padded.append(text);
  padded.append(kPadding, '\0');
  rapidjson::StringStream stream(padded.c_str());
  rapidjson::Reader reader;
  DepthLimitedHandler<Target> handler(target, max_depth);
  ParseOutcome out;
  if (IsAscii(text)) {
    out.result = reader.Parse<rapidjson::kParseIterativeFlag>(stream, handler);
  } else {
    out.result = reader.Parse<rapidjson::kParseIterativeFlag |
                              rapidjson::kParseValidateEncodingFlag>(stream, handler);
  }
  out.consumed = stream.Tell();
  out.too_deep = handler.too_deep();
  out.surrogate = handler.surrogate();
  return out;
}

// The Status of a parse of `text`, with the messages ParseJson documents.
storage::Status ParseStatus(const ParseOutcome& parse, std::string_view text, int max_depth) {
  if (parse.too_deep) {
    return storage::Status::InvalidArgument("JSON nested deeper than " + std::to_string(max_depth) +
                                            " levels");
  }
  if (parse.surrogate) {  // as RapidJSON words it for an unpaired high surrogate
    return storage::Status::InvalidArgument(
        "invalid JSON at byte " + std::to_string(parse.result.Offset()) + ": " +
        rapidjson::GetParseError_En(rapidjson::kParseErrorStringUnicodeSurrogateInvalid));
  }
  if (parse.result.IsError()) {
    return storage::Status::InvalidArgument(std::string("invalid JSON at byte ") +
                                            std::to_string(parse.result.Offset()) + ": " +
                                            rapidjson::GetParseError_En(parse.result.Code()));
  }
  // RapidJSON's MemoryStream reads a NUL byte as the end of input: refuse anything after it.
  if (parse.consumed != text.size()) {
    return storage::Status::InvalidArgument("invalid JSON at byte " +
                                            std::to_string(parse.consumed) + ": NUL byte");
  }
  return storage::Status::Ok();
}

}  // namespace

storage::Status ParseJson(std::string_view text, rapidjson::Document& doc, int max_depth) {
  ParseOutcome parse;
  auto generate = [&](rapidjson::Document& d) {
    parse = RunParse(text, d, max_depth);
    return !parse.result.IsError();
  };
  doc.Populate(generate);
  return ParseStatus(parse, text, max_depth);
}

storage::Status ValidateJson(std::string_view text, int max_depth) {
  NoDocument none;
  return ParseStatus(RunParse(text, none, max_depth), text, max_depth);
}

std::optional<std::string> FindRepeatedMember(const rapidjson::Value& value) {
  // Iterative, so a document as deep as ParseJson allows cannot exhaust the stack.
  std::vector<const rapidjson::Value*> pending = {&value};
  while (!pending.empty()) {
    const rapidjson::Value* v = pending.back();
    pending.pop_back();
    if (v->IsArray()) {
      for (const auto& item : v->GetArray()) pending.push_back(&item);
    } else if (v->IsObject()) {
      std::set<std::string_view> names;
      for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
        std::string_view name(it->name.GetString(), it->name.GetStringLength());
        if (!names.insert(name).second) return std::string(name);
        pending.push_back(&it->value);
      }
    }
  }
  return std::nullopt;
}

std::string ValidUtf8(std::string_view s) {
  bool ascii = true;
  for (char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(s);
  std::string out;
  out.reserve(s.size());
  rapidjson::StringBuffer valid;
  size_t pos = 0;
  while (pos < s.size()) {
    rapidjson::MemoryStream in(s.data() + pos, s.size() - pos);
    valid.Clear();
    if (rapidjson::UTF8<>::Validate(in, valid)) {
      out.append(valid.GetString(), valid.GetSize());
      pos += in.Tell();
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER for the bad byte
      pos += 1;
    }
  }
  return out;
}

std::string JsonQuote(std::string_view s) {
  std::string text = ValidUtf8(s);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return std::string(buf.GetString(), buf.GetSize());
}

std::string HeadersToJson(const HeaderList& headers) {
  // Sorted by name (stably, so a repeated name's values keep their order) instead of merged in
  // a map: one allocation instead of two per header, on every ingested event.
  std::vector<const std::pair<std::string, std::string>*> sorted;
  sorted.reserve(headers.size());
  for (const auto& header : headers) {
    if (header.first == "x-auth-token" || header.first == "authorization") continue;
    sorted.push_back(&header);
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->first < b->first; });
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  // Writes `s` as a key or a string, invalid UTF-8 replaced (ASCII, the usual case, as it is).
  auto put = [&w](std::string_view s, bool key) {
    std::string valid;
    if (!IsAscii(s)) {
      valid = ValidUtf8(s);
      s = valid;
    }
    const auto n = static_cast<rapidjson::SizeType>(s.size());
    key ? w.Key(s.data(), n) : w.String(s.data(), n);
  };
  w.StartObject();
  for (size_t i = 0; i < sorted.size();) {
    size_t end = i + 1;
    while (end < sorted.size() && sorted[end]->first == sorted[i]->first) ++end;
    put(sorted[i]->first, /*key=*/true);
    if (end == i + 1) {
      put(sorted[i]->second, /*key=*/false);
    } else {
      std::string joined = sorted[i]->second;
      for (size_t k = i + 1; k < end; ++k) joined += ", " + sorted[k]->second;
      put(joined, /*key=*/false);
    }
    i = end;
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

const std::string* ApiRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

}  // namespace hookvault::api
