#include "api/verify/schema.h"

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/internal/regex.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

namespace hookvault::api {
namespace {

using storage::Status;
using storage::StatusOr;

// Bounds on what a config may ask us to load: a schema is the operator's file, but a typo
// (a $ref loop across files, a huge generated file) must fail at start, not hang it.
constexpr size_t kMaxSchemaFileBytes = 4 << 20;
constexpr size_t kMaxSchemaFiles = 64;
constexpr int kMaxSchemaDepth = 64;
constexpr int kMaxJsonDepth = 128;
// A $ref may point at another {"$ref": ...}; RapidJSON 1.1.0 follows such chains recursively
// while compiling and never stops on a cycle, so we refuse chains longer than this.
constexpr int kMaxRefChain = 32;

// RapidJSON 1.1.0's own regex (rapidjson/internal/regex.h), the one its validator compiles
// `pattern` with. It is a Thompson NFA: linear in the input, no backtracking blow-up.
using Regex = rapidjson::internal::GenericRegex<rapidjson::UTF8<>>;

bool IsOneOf(std::string_view word, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// Keywords that check nothing by design (annotations), or hold schemas only reached by $ref.
// `format` is here: draft-04 makes it optional and RapidJSON 1.1.0 does not check it (README).
bool IsAnnotation(std::string_view keyword) {
  return IsOneOf(keyword, {"$schema", "id", "$id", "title", "description", "default", "examples",
                           "format", "$comment", "readOnly", "writeOnly", "deprecated",
                           "contentMediaType", "contentEncoding", "definitions", "$defs"});
}

// Keywords of later drafts that RapidJSON 1.1.0 would silently ignore.
bool IsLaterDraftKeyword(std::string_view keyword) {
  return IsOneOf(keyword,
                 {"const", "contains", "propertyNames", "if", "then", "else", "dependentRequired",
                  "dependentSchemas", "prefixItems", "unevaluatedProperties", "unevaluatedItems",
                  "minContains", "maxContains", "$anchor", "$dynamicRef", "$dynamicAnchor",
                  "$recursiveRef", "$recursiveAnchor", "$vocabulary"});
}

std::string Quote(std::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

template <typename Pointer>
std::string PointerText(const Pointer& pointer) {
  rapidjson::StringBuffer buffer;
  pointer.Stringify(buffer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string Escape(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view View(const rapidjson::Value& string) {
  return {string.GetString(), string.GetStringLength()};
}

// Checks a `pattern` before RapidJSON 1.1.0's regex sees it. That regex asserts (and, built
// without assertions, reads past its operand stack) on some malformed patterns such as "a()"
// or "(a", treats ^ and $ anywhere as anchors of the whole pattern, and copies a{n,m}'s operand
// m times, and its matcher recurses without end through a loop that matches nothing, as in
// "a**" or "(a?)+". So we accept only a plain grammar it compiles as written, of bounded size,
// where *, + and {n,} never repeat what can match the empty string:
//   pattern := ['^'] alternation ['$'];  alternation := concat ('|' concat)*
//   concat := (atom quantifier*)+;  quantifier := ? | * | + | {n} | {n,} | {n,m}
//   atom := literal | . | [class] | [^class] | (alternation) | \escape
// Thread-safety: a value; one thread at a time.
class PatternChecker {
 public:
  explicit PatternChecker(std::string_view pattern) : text_(pattern) {}

  // Returns "" when the pattern is fine, else why not.
  std::string Check() {
    if (text_.size() > kMaxPatternBytes) return "is longer than 1024 bytes";
    bool anchored = Peek() == '^';
    if (anchored) ++pos_;
    size_t states = 0;
    Steps steps;
    bool nullable = false;
    std::string error = Alternation(0, &states, &steps, &nullable);
    const size_t splits = steps.splits;
    if (error.empty() && Peek() == '$' && pos_ + 1 == text_.size()) ++pos_;
    if (error.empty() && pos_ != text_.size()) error = Unexpected();
    if (error.empty() && states > kMaxPatternStates)
      error = "repeats too much (its automaton would be too large)";
    // Without ^ every character starts a new attempt; a loop keeps its states live on every
    // character. Either way each live state walks the splits after it on every character.
    const bool runs_along = !anchored || steps.loops > 0;
    const size_t max_splits = runs_along ? kMaxPatternSplits : kMaxAnchoredSplits;
    if (error.empty() && splits > max_splits) {
      error = "has " + std::to_string(splits) + " optional steps (each ?, *, +, | and optional " +
              "copy of {n,m}), more than " + std::to_string(max_splits) +
              (runs_along ? " for a pattern without ^ or with a loop (*, +, {n,})" : "") +
              ", which would make it cost too much per character";
    }
    if (error.empty() && !anchored && states > kMaxUnanchoredStates) {
      error = "is not anchored with ^ and its automaton has " + std::to_string(states) +
              " states, more than " + std::to_string(kMaxUnanchoredStates) +
              ", which would make it cost too much per character (anchor it with ^)";
    }
    return error;
  }

 private:
  static constexpr size_t kMaxPatternBytes = 1024;
  static constexpr size_t kMaxPatternStates = 20000;
  // RapidJSON 1.1.0's matcher, for each input character and each live state, follows the
  // empty moves after it (splits: ?, *, +, |, the optional copies of {n,m}) without memo,
  // and for a pattern not anchored by ^ also those from the start, where every character
  // starts one more live state. So a character costs about live states x (splits + 1) steps.
  // With ^ and no loop, states die within the pattern's length; a loop (*, +, {n,}) or the
  // lack of ^ keeps them live along the whole string. These caps, set by measuring the worst
  // shapes, keep one 1 MiB payload of such strings under half a second (README, "What a
  // payload may cost").
  static constexpr size_t kMaxPatternSplits = 8;
  static constexpr size_t kMaxAnchoredSplits = 24;
  static constexpr size_t kMaxUnanchoredStates = 64;

  // Empty moves of a part of a pattern: all of them, and those that loop back.
  struct Steps {
    size_t splits = 0;
    size_t loops = 0;
  };
  static constexpr unsigned kMaxRepeat = 1000;

  int Peek() const { return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_]) : -1; }

  std::string Unexpected() const {
    if (pos_ >= text_.size()) return "ends too early";
    return "has an unexpected " + Quote(text_.substr(pos_, 1)) + " at offset " +
           std::to_string(pos_) + " (^ and $ anchor only at the very start and end)";
  }

  static size_t Saturate(size_t a, size_t b) {
    return a > kMaxPatternStates || b > kMaxPatternStates ? kMaxPatternStates + 1 : a * b;
  }

  // Each of these parses what its name says, adds its automaton's states to *states and sets
  // *nullable when it can match the empty string.
  std::string Alternation(int depth, size_t* states, Steps* steps, bool* nullable) {
    if (depth > 32) return "nests groups deeper than 32";
    *nullable = false;
    for (;;) {
      size_t concat = 0;
      bool concat_nullable = false;
      std::string error = Concat(depth, &concat, steps, &concat_nullable);
      if (!error.empty()) return error;
      *states += concat + 1;
      if (*nullable && concat_nullable) return AmbiguousEmpty();
      *nullable = *nullable || concat_nullable;
      if (Peek() != '|') return "";
      ++pos_;
      ++steps->splits;
    }
  }

  std::string Concat(int depth, size_t* states, Steps* steps, bool* nullable) {
    size_t atoms = 0;
    *nullable = true;
    for (;;) {
      int c = Peek();
      if (c == -1 || c == '|' || c == ')') break;
      if (c == '$' && depth == 0 && pos_ + 1 == text_.size()) break;
      size_t atom = 0;
      Steps atom_steps;
      bool atom_nullable = false;
      std::string error = Atom(depth, &atom, &atom_steps, &atom_nullable);
      if (!error.empty()) return error;
      for (;;) {
        c = Peek();
        if ((c == '*' || c == '+') && atom_nullable) return EmptyLoop();
        if (c == '?' && atom_nullable) return AmbiguousEmpty();
        if (c == '?' || c == '*' || c == '+') {
          ++pos_;
          atom += 1;
          atom_steps.splits += 1;
          if (c != '?') atom_steps.loops += 1;
          atom_nullable = atom_nullable || c != '+';
        } else if (c == '{') {
          unsigned n = 0;
          unsigned m = 0;
          ++pos_;
          if (!Number(&n)) return Unexpected();
          m = n;
          bool unbounded = false;
          if (Peek() == ',') {
            ++pos_;
            if (Peek() == '}') {
              unbounded = true;
            } else if (!Number(&m) || m < n) {
              return "has a bad {n,m} quantifier at offset " + std::to_string(pos_);
            }
          }
          if (Peek() != '}') return Unexpected();
          ++pos_;
          if (!unbounded && m == 0) return "has {0}, which RapidJSON 1.1.0 does not take";
          if (unbounded && atom_nullable) return EmptyLoop();
          if (m > n && atom_nullable) return AmbiguousEmpty();
          atom = Saturate(atom + 1, (unbounded ? n : m) + 1);
          // Each copy keeps its splits; each optional copy (or the loop) adds one.
          atom_steps.splits = unbounded ? Saturate(atom_steps.splits, n + 1) + 1
                                        : Saturate(atom_steps.splits, m) + (m - n);
          atom_steps.loops = unbounded ? Saturate(atom_steps.loops, n + 1) + 1
                                       : Saturate(atom_steps.loops, m);
          atom_nullable = atom_nullable || n == 0;
        } else {
          break;
        }
      }
      *states += atom;
      steps->splits += atom_steps.splits;
      steps->loops += atom_steps.loops;
      *nullable = *nullable && atom_nullable;
      ++atoms;
    }
    if (atoms == 0) return "has an empty alternative or group at offset " + std::to_string(pos_);
    return "";
  }

  std::string EmptyLoop() const {
    return "repeats with *, + or {n,} at offset " + std::to_string(pos_) +
           " something that can match the empty string, which RapidJSON 1.1.0's regex loops on";
  }

  // RapidJSON 1.1.0's matcher follows every path of empty moves without remembering the ones
  // it took, so two ways to match nothing at one place (an optional group that can match the
  // empty string, or two alternatives that can) double its work per group: 2^n per character
  // for n such groups in a row.
  std::string AmbiguousEmpty() const {
    return "has at offset " + std::to_string(pos_) +
           " a ? or {n,m}, or a second alternative, around something that can already match "
           "the empty string (as in (a?)? or (a?|b?)): RapidJSON 1.1.0's matcher would try each "
           "way of matching nothing, exponentially many in a row";
  }

  bool Number(unsigned* out) {
    size_t start = pos_;
    unsigned value = 0;
    while (Peek() >= '0' && Peek() <= '9') {
      value = value * 10 + static_cast<unsigned>(Peek() - '0');
      if (value > kMaxRepeat) return false;
      ++pos_;
    }
    *out = value;
    return pos_ > start;
  }

  bool Escape(bool in_class) {
    ++pos_;  // the backslash
    int c = Peek();
    if (c == -1) return false;
    static constexpr std::string_view kEscapes = "^$|()?*+.[]{}\\fnrtv";
    if (kEscapes.find(static_cast<char>(c)) == std::string_view::npos && !(in_class && c == 'b')) {
      return false;
    }
    ++pos_;
    return true;
  }

  std::string Atom(int depth, size_t* states, Steps* steps, bool* nullable) {
    int c = Peek();
    *states = 1;
    *nullable = false;
    switch (c) {
      case '(': {
        ++pos_;
        size_t inner = 0;
        std::string error = Alternation(depth + 1, &inner, steps, nullable);
        if (!error.empty()) return error;
        if (Peek() != ')') return "has an unclosed group";
        ++pos_;
        *states = inner;
        return "";
      }
      case '[':
        return Class();
      case '\\':
        if (!Escape(false)) {
          return "has an escape RapidJSON 1.1.0 does not know at offset " + std::to_string(pos_);
        }
        return "";
      case '?':
      case '*':
      case '+':
      case '{':
      case ')':
      case '|':
      case '^':
      case '$':
        return Unexpected();
      default:
        ++pos_;
        return "";
    }
  }

  std::string Class() {
    ++pos_;  // '['
    if (Peek() == '^') ++pos_;
    int items = 0;
    for (;;) {
      int c = Peek();
      if (c == -1) return "has an unclosed [";
      if (c == ']') break;
      unsigned low = 0;
      if (!ClassChar(&low)) {
        return "has an escape RapidJSON 1.1.0 does not know at offset " + std::to_string(pos_);
      }
      if (Peek() == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] != ']') {
        ++pos_;
        unsigned high = 0;
        if (!ClassChar(&high)) return "has a bad range in [...]";
        if (high < low) return "has a range in [...] whose end comes before its start";
      }
      ++items;
    }
    ++pos_;  // ']'
    if (items == 0) return "has an empty []";
    return "";
  }

  bool ClassChar(unsigned* out) {
    if (Peek() == '\\') {
      size_t at = pos_ + 1;
      if (!Escape(true)) return false;
      char c = text_[at];
      switch (c) {
        case 'f':
          *out = 0x0C;
          break;
        case 'n':
          *out = 0x0A;
          break;
        case 'r':
          *out = 0x0D;
          break;
        case 't':
          *out = 0x09;
          break;
        case 'v':
          *out = 0x0B;
          break;
        case 'b':
          *out = 0x08;
          break;
        default:
          *out = static_cast<unsigned char>(c);
      }
      return true;
    }
    // One UTF-8 sequence is one code point to RapidJSON; ranges compare code points.
    unsigned char lead = static_cast<unsigned char>(text_[pos_]);
    size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    unsigned value = length == 1 ? lead : lead & (0x3F >> (length - 1));
    ++pos_;
    for (size_t i = 1; i < length && pos_ < text_.size(); ++i, ++pos_) {
      value = (value << 6) | (static_cast<unsigned char>(text_[pos_]) & 0x3F);
    }
    *out = value;
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// One schema file, parsed and kept for the life of the PayloadSchema: the compiled documents
// are rebuilt from it, and error messages quote it.
struct SourceDoc {
  std::string key;   // the normalised path, identifying the file among $refs
  std::string name;  // as the config or the $ref spelled it, for messages
  std::filesystem::path dir;
  rapidjson::Document doc;
};

// Returns whether `value` has arrays or objects nested more than `limit` deep (recursing at
// most `limit` levels itself).
bool NestedDeeperThan(const rapidjson::Value& value, int limit) {
  if (!value.IsObject() && !value.IsArray()) return false;
  if (limit == 0) return true;
  if (value.IsObject()) {
    for (const auto& member : value.GetObject()) {
      if (NestedDeeperThan(member.value, limit - 1)) return true;
    }
    return false;
  }
  for (const auto& item : value.GetArray()) {
    if (NestedDeeperThan(item, limit - 1)) return true;
  }
  return false;
}

// Returns whether `text` is UTF-8 as RapidJSON's decoder reads it (no surrogates, overlongs or
// truncated sequences).
bool IsUtf8(std::string_view text) {
  rapidjson::MemoryStream bytes(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(bytes);
  rapidjson::GenericStringBuffer<rapidjson::UTF8<>> out;
  while (in.Tell() < text.size()) {
    if (!rapidjson::UTF8<>::Validate(in, out)) return false;
  }
  return true;
}

// Splits a $ref into its file part and its fragment ("#/definitions/x", or "" for the root).
std::pair<std::string_view, std::string_view> SplitRef(std::string_view ref) {
  size_t hash = ref.find('#');
  if (hash == std::string_view::npos) return {ref, {}};
  return {ref.substr(0, hash), ref.substr(hash)};
}

std::string ResolveKey(const std::filesystem::path& dir, std::string_view file) {
  std::filesystem::path path(file);
  if (path.is_relative()) path = dir / path;
  return path.lexically_normal().string();
}

// Reads, parses and checks schema files: every keyword is one RapidJSON 1.1.0 checks or an
// annotation, every value has the shape it needs, every pattern compiles and every $ref
// resolves to a schema (in this file or in another, loaded in turn). RapidJSON itself accepts
// all of these mistakes silently and then does not check what they meant.
//
// Thread-safety: used by one thread during loading only.
class Loader {
 public:
  // Returns the index in docs() of the file, loading it (and what it refers to) if needed.
  StatusOr<size_t> LoadFile(const std::string& key, const std::string& name) {
    if (auto it = index_.find(key); it != index_.end()) {
      if (loading_.count(key) != 0) {
        return Status::InvalidArgument(name + ": $ref cycle between files");
      }
      return it->second;
    }
    if (docs_.size() >= kMaxSchemaFiles) {
      return Status::InvalidArgument(name + ": more than " + std::to_string(kMaxSchemaFiles) +
                                     " schema files referenced");
    }
    // A directory, FIFO or device (a $ref to "/dev/stdin") would fail oddly or block the load.
    std::error_code error;
    if (!std::filesystem::is_regular_file(key, error)) {
      return Status::InvalidArgument(
          name + ": cannot read the file" +
          (std::filesystem::exists(key, error) ? " (not a regular file)" : ""));
    }
    std::ifstream in(key, std::ios::binary);
    if (!in) return Status::InvalidArgument(name + ": cannot read the file");
    std::string text;
    char buffer[65536];
    while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
      text.append(buffer, static_cast<size_t>(in.gcount()));
      if (text.size() > kMaxSchemaFileBytes) {
        return Status::InvalidArgument(name + ": larger than " +
                                       std::to_string(kMaxSchemaFileBytes) + " bytes");
      }
    }
    if (in.bad()) return Status::InvalidArgument(name + ": cannot read the file");
    return Add(text, key, name, std::filesystem::path(key).parent_path());
  }

  // Parses `text` as the schema file `key` and checks it. Returns its index in docs().
  StatusOr<size_t> Add(std::string_view text, const std::string& key, const std::string& name,
                       const std::filesystem::path& dir) {
    auto source = std::make_unique<SourceDoc>();
    source->key = key;
    source->name = name;
    source->dir = dir;
    // Iterative: the nesting of a schema file cannot exhaust the stack while parsing. UTF-8
    // checked: RapidJSON's regex stops compiling a pattern at a byte it cannot decode and then
    // works on a half-built automaton.
    source->doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
        text.data(), text.size());
    if (source->doc.HasParseError()) {
      return Status::InvalidArgument(name + ": not JSON at offset " +
                                     std::to_string(source->doc.GetErrorOffset()) + ": " +
                                     rapidjson::GetParseError_En(source->doc.GetParseError()));
    }
    // RapidJSON compiles every object and array of the file recursively, annotations too.
    if (NestedDeeperThan(source->doc, kMaxJsonDepth)) {
      return Status::InvalidArgument(name + ": nested deeper than " +
                                     std::to_string(kMaxJsonDepth) + " levels");
    }
    if (!source->doc.IsObject()) {
      return Status::InvalidArgument(name + ": not a schema: the top level is not an object");
    }
    size_t index = docs_.size();
    index_[key] = index;
    docs_.push_back(std::move(source));
    loading_.insert(key);
    Status status = CheckSchema(index, docs_[index]->doc, "", 0);
    if (status.ok()) status = CheckEveryObject(index, docs_[index]->doc, "");
    loading_.erase(key);
    if (!status.ok()) return status;
    return index;
  }

  std::vector<std::unique_ptr<SourceDoc>> TakeDocs() { return std::move(docs_); }

  // Refuses recursion RapidJSON 1.1.0 cannot validate in bounded time. It starts a validator
  // for each schema that applies to a value: through $ref, each allOf/anyOf/oneOf branch, not
  // and dependencies schemas on the same value, and properties, patternProperties,
  // additionalProperties, items and additionalItems on a child value. So a cycle of schemas
  // that never goes down into a child value recurses without end (a stack overflow on the
  // first payload); a cycle that a schema continues two ways on one value (a union of
  // recursive variants; a branch and a member both leading back; patternProperties, where a
  // name can match several patterns and a property) doubles the validators at every level of
  // nesting. A cycle through one branch while the others end (a nullable recursive member,
  // "anyOf": [{"$ref": "#/definitions/node"}, {"type": "null"}]) costs one validator per
  // level and stays allowed. Call once all files are in.
  Status CheckRecursion() const;

 private:
  Status Fail(size_t doc, const std::string& pointer, const std::string& reason) const {
    return Status::InvalidArgument(docs_[doc]->name + ": " + (pointer.empty() ? "/" : pointer) +
                                   ": " + reason);
  }

  // RapidJSON compiles every object of the file as a schema, also those in annotations
  // ("default", "examples", "x-..."), so a "pattern", "patternProperties" or "$ref" anywhere
  // reaches its regex or its $ref resolution: check them wherever they are. Its
  // patternProperties is read as an object without looking, so it must be one.
  Status CheckEveryObject(size_t doc, const rapidjson::Value& value, const std::string& pointer) {
    if (value.IsArray()) {
      for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
        Status status = CheckEveryObject(doc, value[i], pointer + "/" + std::to_string(i));
        if (!status.ok()) return status;
      }
      return Status::Ok();
    }
    if (!value.IsObject()) return Status::Ok();
    for (const auto& member : value.GetObject()) {
      std::string_view name = View(member.name);
      std::string at = pointer + "/" + Escape(name);
      Status status = Status::Ok();
      if (name == "pattern" && member.value.IsString()) {
        status = CheckPattern(doc, member.value, at);
      } else if (name == "patternProperties") {
        if (!member.value.IsObject()) return Fail(doc, at, "must be an object of schemas");
        for (const auto& property : member.value.GetObject()) {
          status = CheckPattern(doc, property.name, at);
          if (!status.ok()) break;
        }
      } else if (name == "$ref" && member.value.IsString() && member.value.GetStringLength() > 0) {
        status = CheckRef(doc, member.value, at);
      }
      if (status.ok()) status = CheckEveryObject(doc, member.value, at);
      if (!status.ok()) return status;
    }
    return Status::Ok();
  }

  // Checks the schema `value` at `pointer` of docs_[doc].
  Status CheckSchema(size_t doc, const rapidjson::Value& value, const std::string& pointer,
                     int depth) {
    if (depth > kMaxSchemaDepth) {
      return Fail(doc, pointer, "schemas nested deeper than " + std::to_string(kMaxSchemaDepth));
    }
    if (!value.IsObject()) {
      return Fail(doc, pointer,
                  "a schema must be an object (draft-04 has no boolean schemas; RapidJSON "
                  "1.1.0 would not check this one)");
    }
    for (const auto& member : value.GetObject()) {
      std::string keyword(View(member.name));
      std::string at = pointer + "/" + Escape(keyword);
      Status status = CheckKeyword(doc, keyword, member.value, at, depth);
      if (!status.ok()) return status;
    }
    return Status::Ok();
  }

  Status CheckSchemaMap(size_t doc, const rapidjson::Value& value, const std::string& at, int depth,
                        bool names_are_patterns) {
    if (!value.IsObject()) return Fail(doc, at, "must be an object of schemas");
    for (const auto& member : value.GetObject()) {
      if (names_are_patterns) {
        Status status = CheckPattern(doc, member.name, at);
        if (!status.ok()) return status;
      }
      Status status =
          CheckSchema(doc, member.value, at + "/" + Escape(View(member.name)), depth + 1);
      if (!status.ok()) return status;
    }
    return Status::Ok();
  }

  Status CheckSchemaArray(size_t doc, const rapidjson::Value& value, const std::string& at,
                          int depth) {
    if (!value.IsArray() || value.Empty()) {
      return Fail(doc, at, "must be a non-empty array of schemas");
    }
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
      Status status = CheckSchema(doc, value[i], at + "/" + std::to_string(i), depth + 1);
      if (!status.ok()) return status;
    }
    return Status::Ok();
  }

  // RapidJSON 1.1.0 compares each item's hash with every earlier item's, and checks maxItems
  // only at the array's end: quadratic in the payload's array length whatever maxItems says
  // (4.6 s for a 1 MiB array under maxItems 20). No bound can be set from the schema, so
  // uniqueItems: true is refused.
  Status CheckUniqueItems(size_t doc, const rapidjson::Value& value, const std::string& at) {
    if (!value.IsBool()) return Fail(doc, at, "must be true or false");
    if (value.GetBool()) {
      return Fail(doc, at,
                  "uniqueItems: true is refused: RapidJSON 1.1.0 compares every item with every "
                  "earlier one before it checks maxItems, so one long array costs seconds of "
                  "CPU (quadratic in its length)");
    }
    return Status::Ok();
  }

  Status CheckPattern(size_t doc, const rapidjson::Value& value, const std::string& at) {
    if (!value.IsString()) return Fail(doc, at, "a pattern must be a string");
    std::string why;
    // RapidJSON reads the pattern up to its first NUL, and stops compiling at a sequence it
    // cannot decode (a lone surrogate written as "\udc00" gets this far as bytes).
    if (std::strlen(value.GetString()) != value.GetStringLength()) {
      why = "contains U+0000";
    } else if (!IsUtf8(View(value))) {
      why = "is not valid UTF-8 (a lone surrogate?)";
    } else {
      why = PatternChecker(View(value)).Check();
    }
    // Our grammar is RapidJSON's, narrowed; it must also agree that the pattern compiles.
    if (why.empty() && !Regex(value.GetString()).IsValid()) why = "does not compile";
    if (!why.empty()) {
      return Fail(doc, at,
                  "pattern " + Quote(View(value)) + " " + why +
                      "; RapidJSON 1.1.0's regex has literals, ., [...], [^...], |, (...), ?, "
                      "*, +, {n,m}, ^ and $ at the ends, and the escapes \\f \\n \\r \\t \\v "
                      "and of metacharacters; no \\d, \\w, \\s, (?:...) or backreferences");
    }
    return Status::Ok();
  }

  Status CheckKeyword(size_t doc, const std::string& keyword, const rapidjson::Value& value,
                      const std::string& at, int depth) {
    if (keyword == "$ref") return CheckRef(doc, value, at);
    if (keyword == "type") {
      auto valid = [&](const rapidjson::Value& name) {
        return name.IsString() && IsOneOf(View(name), {"null", "boolean", "object", "array",
                                                       "number", "string", "integer"});
      };
      bool ok = valid(value);
      if (value.IsArray() && !value.Empty()) {
        ok = true;
        for (const auto& name : value.GetArray()) ok = ok && valid(name);
      }
      if (!ok) {
        return Fail(doc, at,
                    "must be one of null, boolean, object, array, number, string, integer (or a "
                    "non-empty array of them)");
      }
      return Status::Ok();
    }
    if (keyword == "enum") {
      if (!value.IsArray() || value.Empty()) return Fail(doc, at, "must be a non-empty array");
      return Status::Ok();
    }
    if (keyword == "allOf" || keyword == "anyOf" || keyword == "oneOf") {
      return CheckSchemaArray(doc, value, at, depth);
    }
    if (keyword == "not") return CheckSchema(doc, value, at, depth + 1);
    if (keyword == "properties" || keyword == "definitions" || keyword == "$defs") {
      return CheckSchemaMap(doc, value, at, depth, false);
    }
    if (keyword == "patternProperties") return CheckSchemaMap(doc, value, at, depth, true);
    if (keyword == "additionalProperties" || keyword == "additionalItems") {
      if (value.IsBool()) return Status::Ok();
      return CheckSchema(doc, value, at, depth + 1);
    }
    if (keyword == "items") {
      if (value.IsArray()) return CheckSchemaArray(doc, value, at, depth);
      return CheckSchema(doc, value, at, depth + 1);
    }
    if (keyword == "required") {
      bool ok = value.IsArray();
      if (ok) {
        for (const auto& name : value.GetArray()) ok = ok && name.IsString();
      }
      if (!ok) return Fail(doc, at, "must be an array of member names");
      return Status::Ok();
    }
    if (keyword == "dependencies") {
      if (!value.IsObject()) return Fail(doc, at, "must be an object");
      // Empty, it checks nothing, and RapidJSON 1.1.0 would then memset a null state of no
      // member flags on every object (UB that UBSan reports; found by the schema fuzz target).
      if (value.ObjectEmpty()) return Fail(doc, at, "must name at least one member");
      for (const auto& member : value.GetObject()) {
        std::string member_at = at + "/" + Escape(View(member.name));
        if (member.value.IsArray()) {
          for (const auto& name : member.value.GetArray()) {
            if (!name.IsString()) return Fail(doc, member_at, "must list member names");
          }
          continue;
        }
        Status status = CheckSchema(doc, member.value, member_at, depth + 1);
        if (!status.ok()) return status;
      }
      return Status::Ok();
    }
    if (keyword == "minProperties" || keyword == "maxProperties" || keyword == "minItems" ||
        keyword == "maxItems" || keyword == "minLength" || keyword == "maxLength") {
      if (!value.IsUint()) return Fail(doc, at, "must be a non-negative integer");
      return Status::Ok();
    }
    if (keyword == "uniqueItems") return CheckUniqueItems(doc, value, at);
    if (keyword == "exclusiveMinimum" || keyword == "exclusiveMaximum") {
      if (!value.IsBool()) {
        return Fail(doc, at,
                    "must be true or false next to " +
                        std::string(keyword == "exclusiveMinimum" ? "minimum" : "maximum") +
                        " (draft-04; the numeric form is draft-06, which RapidJSON 1.1.0 would "
                        "ignore)");
      }
      return Status::Ok();
    }
    if (keyword == "minimum" || keyword == "maximum") {
      if (!value.IsNumber()) return Fail(doc, at, "must be a number");
      return Status::Ok();
    }
    if (keyword == "multipleOf") {
      if (!value.IsNumber() || !(value.GetDouble() > 0.0)) {
        return Fail(doc, at, "must be a number greater than 0");
      }
      return Status::Ok();
    }
    if (keyword == "pattern") return CheckPattern(doc, value, at);
    if (IsAnnotation(keyword)) {
      if (keyword == "definitions" || keyword == "$defs") {
        return CheckSchemaMap(doc, value, at, depth, false);
      }
      return Status::Ok();
    }
    if (keyword.rfind("x-", 0) == 0) return Status::Ok();  // vendor extensions
    if (IsLaterDraftKeyword(keyword)) {
      return Fail(doc, at,
                  "keyword " + Quote(keyword) +
                      " is from a later draft; RapidJSON 1.1.0 implements draft-04 and would "
                      "not check it");
    }
    return Fail(doc, at,
                "unknown keyword " + Quote(keyword) +
                    " (not a draft-04 keyword; RapidJSON would ignore it; vendor extensions "
                    "start with \"x-\")");
  }

  // Checks that a $ref resolves to a schema object, following chains of $refs.
  Status CheckRef(size_t doc, const rapidjson::Value& value, const std::string& at) {
    if (!value.IsString() || value.GetStringLength() == 0) {
      return Fail(doc, at, "must be a non-empty string");
    }
    size_t target_doc = doc;
    std::string ref(View(value));
    bool crossed_files = false;
    for (int hop = 0;; ++hop) {
      if (hop == kMaxRefChain) {
        return Fail(doc, at, "$ref " + Quote(View(value)) + " is a chain of $refs that loops");
      }
      auto [file, fragment] = SplitRef(ref);
      if (!file.empty()) {
        // RapidJSON 1.1.0 resolves a $ref to another file at once and records no schema under
        // the referring object, so a $ref that lands on it from another file finds nothing.
        if (crossed_files) {
          return Fail(doc, at,
                      "$ref " + Quote(View(value)) + " lands on " + Quote(ref) +
                          ", a further $ref to a file, which RapidJSON 1.1.0 does not follow; "
                          "point at the final schema instead");
        }
        crossed_files = true;
        if (file.find(':') != std::string_view::npos) {
          return Fail(doc, at,
                      "$ref " + Quote(ref) +
                          " is not a file path: only files relative to the schema's directory "
                          "(or absolute) are resolved, never URLs");
        }
        std::string key = ResolveKey(docs_[target_doc]->dir, file);
        if (loading_.count(key) != 0) {
          return Fail(doc, at,
                      "$ref " + Quote(ref) +
                          " refers back to a file that is being loaded ($ref "
                          "cycle between files; RapidJSON 1.1.0 cannot "
                          "compile it)");
        }
        StatusOr<size_t> loaded = LoadFile(key, key);
        if (!loaded.ok()) {
          return Fail(doc, at,
                      "$ref " + Quote(ref) + " does not resolve: " + loaded.status().message());
        }
        target_doc = *loaded;
      }
      const rapidjson::Value* target = &docs_[target_doc]->doc;
      if (!fragment.empty()) {
        rapidjson::Pointer pointer(fragment.data(), fragment.size());
        target = pointer.IsValid() ? pointer.Get(docs_[target_doc]->doc) : nullptr;
      }
      if (target == nullptr || !target->IsObject()) {
        return Fail(doc, at,
                    "$ref " + Quote(ref) + " does not resolve to a schema object in " +
                        docs_[target_doc]->name);
      }
      auto next = target->FindMember("$ref");
      if (next == target->MemberEnd() || !next->value.IsString() ||
          next->value.GetStringLength() == 0) {
        return Status::Ok();
      }
      ref.assign(View(next->value));
    }
  }

  std::vector<std::unique_ptr<SourceDoc>> docs_;
  std::map<std::string, size_t> index_;
  std::set<std::string> loading_;
};

// One schema object in the recursion graph of Loader::CheckRecursion, and the keyword edges
// that leave it. An edge's `keyword` is "" for one going down into a child value.
struct SchemaNode {
  size_t doc;
  const rapidjson::Value* value;
  std::string pointer;
  struct Edge {
    size_t to;
    std::string keyword;
    std::string at;  // the pointer of the edge's value, for the message
  };
  std::vector<Edge> edges;
};

Status Loader::CheckRecursion() const {
  if (docs_.empty()) return Status::Ok();
  std::vector<SchemaNode> nodes;
  std::map<const rapidjson::Value*, size_t> ids;
  auto intern = [&](size_t doc, const rapidjson::Value* value, std::string pointer) {
    auto [it, added] = ids.emplace(value, nodes.size());
    if (added) nodes.push_back({doc, value, std::move(pointer), {}});
    return it->second;
  };
  intern(0, &docs_[0]->doc, "");
  // Breadth-first over the schemas reachable from the root file's top: no recursion here.
  for (size_t id = 0; id < nodes.size(); ++id) {
    const size_t doc = nodes[id].doc;
    const rapidjson::Value& schema = *nodes[id].value;
    const std::string base = nodes[id].pointer;
    if (!schema.IsObject()) continue;
    auto edge = [&](const rapidjson::Value& to, const std::string& at, const char* keyword,
                    size_t to_doc) {
      if (!to.IsObject()) return;
      size_t target = intern(to_doc, &to, at);
      nodes[id].edges.push_back({target, keyword, at});
    };
    // RapidJSON 1.1.0 replaces an object holding a $ref by its target: siblings do nothing.
    auto ref = schema.FindMember("$ref");
    const bool is_ref = ref != schema.MemberEnd() && ref->value.IsString() &&
                        ref->value.GetStringLength() > 0;
    for (const auto& member : schema.GetObject()) {
      std::string_view keyword = View(member.name);
      std::string at = base + "/" + Escape(keyword);
      const rapidjson::Value& value = member.value;
      if (is_ref && keyword != "$ref") continue;
      if (keyword == "$ref" && value.IsString() && value.GetStringLength() > 0) {
        // Resolved as CheckRef did: one hop; a chain is a path of such edges.
        auto [file, fragment] = SplitRef(View(value));
        size_t target_doc = doc;
        if (!file.empty()) {
          auto it = index_.find(ResolveKey(docs_[doc]->dir, file));
          if (it == index_.end()) continue;
          target_doc = it->second;
        }
        const rapidjson::Value* target = &docs_[target_doc]->doc;
        std::string target_pointer;
        if (!fragment.empty()) {
          rapidjson::Pointer pointer(fragment.data(), fragment.size());
          target = pointer.IsValid() ? pointer.Get(docs_[target_doc]->doc) : nullptr;
          target_pointer = std::string(fragment.substr(1));
        }
        if (target == nullptr || !target->IsObject()) continue;
        size_t to = intern(target_doc, target, target_pointer);
        nodes[id].edges.push_back({to, "$ref", at});
      } else if (IsOneOf(keyword, {"allOf", "anyOf", "oneOf"}) && value.IsArray()) {
        for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
          edge(value[i], at + "/" + std::to_string(i), member.name.GetString(), doc);
        }
      } else if (keyword == "not") {
        edge(value, at, "not", doc);
      } else if ((keyword == "dependencies" || keyword == "patternProperties" ||
                  keyword == "properties") &&
                 value.IsObject()) {
        const char* kind = keyword == "properties" ? "" : member.name.GetString();
        for (const auto& entry : value.GetObject()) {
          edge(entry.value, at + "/" + Escape(View(entry.name)), kind, doc);
        }
      } else if (IsOneOf(keyword, {"additionalProperties", "additionalItems"})) {
        edge(value, at, "", doc);
      } else if (keyword == "items") {
        if (value.IsArray()) {
          for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
            edge(value[i], at + "/" + std::to_string(i), "", doc);
          }
        } else {
          edge(value, at, "", doc);
        }
      }
    }
  }
  // Tarjan's strongly connected components, iteratively (a long $ref chain must not exhaust
  // the stack). An edge whose ends share a component lies on a cycle.
  const size_t kUnseen = static_cast<size_t>(-1);
  std::vector<size_t> order(nodes.size(), kUnseen), low(nodes.size(), 0),
      component(nodes.size(), kUnseen);
  std::vector<bool> on_stack(nodes.size(), false);
  std::vector<size_t> stack;
  std::vector<std::pair<size_t, size_t>> frames;  // (node, next edge)
  size_t counter = 0;
  size_t components = 0;
  for (size_t start = 0; start < nodes.size(); ++start) {
    if (order[start] != kUnseen) continue;
    frames.push_back({start, 0});
    order[start] = low[start] = counter++;
    stack.push_back(start);
    on_stack[start] = true;
    while (!frames.empty()) {
      auto& [node, next] = frames.back();
      if (next < nodes[node].edges.size()) {
        size_t to = nodes[node].edges[next++].to;
        if (order[to] == kUnseen) {
          order[to] = low[to] = counter++;
          stack.push_back(to);
          on_stack[to] = true;
          frames.push_back({to, 0});
        } else if (on_stack[to]) {
          low[node] = std::min(low[node], order[to]);
        }
        continue;
      }
      size_t done = node;
      frames.pop_back();
      if (!frames.empty()) low[frames.back().first] = std::min(low[frames.back().first], low[done]);
      if (low[done] == order[done]) {
        size_t member;
        do {
          member = stack.back();
          stack.pop_back();
          on_stack[member] = false;
          component[member] = components;
        } while (member != done);
        ++components;
      }
    }
  }
  // Inside a component, a child edge goes to a value of its own (properties' names differ,
  // additionalProperties and additionalItems take only what the others do not, items one
  // schema or one per index), so a payload value meets each schema of the component along
  // one walk at most, unless a schema continues the cycle two ways on the same value (a
  // same-value edge beside another in-component edge), or the cycle never goes down a value.
  std::vector<bool> goes_down(components, false);
  for (size_t id = 0; id < nodes.size(); ++id) {
    for (const SchemaNode::Edge& edge : nodes[id].edges) {
      if (edge.keyword.empty() && component[edge.to] == component[id]) {
        goes_down[component[id]] = true;
      }
    }
  }
  const std::string kAllowed =
      "; a recursive schema must go down into a child value (properties, additionalProperties, "
      "items, additionalItems) on its way back, along one path: see the README";
  for (size_t id = 0; id < nodes.size(); ++id) {
    const SchemaNode& node = nodes[id];
    size_t inside = 0;
    for (const SchemaNode::Edge& edge : node.edges) {
      if (component[edge.to] == component[id]) ++inside;
    }
    for (const SchemaNode::Edge& edge : node.edges) {
      if (edge.keyword.empty() || component[edge.to] != component[id]) continue;
      if (edge.keyword == "patternProperties") {
        return Fail(node.doc, edge.at,
                    "a $ref cycle passes through \"patternProperties\" here: a member name can "
                    "match several patterns and a property, each running the recursion again "
                    "(exponential in the nesting)" + kAllowed);
      }
      if (!goes_down[component[id]]) {
        return Fail(node.doc, edge.at,
                    "a $ref cycle passes through " + Quote(edge.keyword) +
                        " here and never goes down into a child value: RapidJSON 1.1.0 would "
                        "validate the same value again and again, without end (a stack "
                        "overflow on the first payload)" + kAllowed);
      }
      if (inside > 1) {
        return Fail(node.doc, edge.at,
                    "a $ref cycle passes through " + Quote(edge.keyword) +
                        " here, and this schema continues the cycle another way too: RapidJSON "
                        "1.1.0 validates the same value along both, doubling its work at each "
                        "level of nesting (a recursive union)" + kAllowed);
      }
    }
  }
  return Status::Ok();
}

// The compiled form RapidJSON validates against: the root file's SchemaDocument and those of
// the files its $refs name. RapidJSON 1.1.0's regex keeps its match state in the compiled
// pattern (GenericRegex::Search writes state0_, state1_, stateSet_), so one compiled set must
// never serve two validations at once: each concurrent Validate() takes its own from a pool.
struct CompiledSet {
  std::map<std::string, std::unique_ptr<rapidjson::SchemaDocument>> documents;
  const rapidjson::SchemaDocument* root = nullptr;
};

class FileProvider;

class PayloadSchemaImpl final : public PayloadSchema {
 public:
  explicit PayloadSchemaImpl(std::vector<std::unique_ptr<SourceDoc>> docs)
      : docs_(std::move(docs)) {
    for (size_t i = 0; i < docs_.size(); ++i) {
      index_[docs_[i]->key] = i;
      FindPatterns(docs_[i]->doc);
    }
  }

  std::vector<SchemaError> ValidateImpl(const rapidjson::Value& payload) const;

  // Compiles the files into a fresh set (each a SchemaDocument, the root's last).
  std::unique_ptr<CompiledSet> Compile() const;
  const rapidjson::SchemaDocument* CompileFile(CompiledSet& set, size_t index) const;

  void Release(std::unique_ptr<CompiledSet> set) const {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(set));
  }

 private:
  std::unique_ptr<CompiledSet> Acquire() const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<CompiledSet> set = std::move(idle_.back());
        idle_.pop_back();
        return set;
      }
    }
    return Compile();
  }

  // Sets patterns_ / pattern_properties_ when `value` holds a pattern / patternProperties.
  void FindPatterns(const rapidjson::Value& value);
  // RapidJSON 1.1.0 matches a pattern up to the string's first U+0000 only, so "abc\u0000<x>"
  // would pass "^[a-z]+$". When the schema has patterns, a payload string (or, with
  // patternProperties, a member name) holding U+0000 is a violation of keyword "pattern"
  // ("patternProperties") at its pointer, found by one walk before the validator runs.
  std::optional<SchemaError> FindNul(const rapidjson::Value& value, std::string* pointer) const;

  SchemaError Describe(const rapidjson::SchemaValidator& validator,
                       const rapidjson::Value& payload) const;

  std::vector<std::unique_ptr<SourceDoc>> docs_;  // docs_[0] is the root file
  std::map<std::string, size_t> index_;
  bool patterns_ = false;
  bool pattern_properties_ = false;
  // An integer multipleOf somewhere: RapidJSON 1.1.0 then takes a payload integer's magnitude
  // as `i >= 0 ? i : -i`, which overflows (UB) for -9223372036854775808; FindNul refuses that
  // one number at its pointer instead.
  bool integer_multiple_of_ = false;
  mutable std::mutex mu_;
  // Compiled sets no Validate() is using; as many as the most concurrent calls so far.
  mutable std::vector<std::unique_ptr<CompiledSet>> idle_;  // guarded by mu_
};

// Hands RapidJSON the SchemaDocument of a file a $ref names, relative to the referring file.
// RapidJSON 1.1.0 passes the URI's length one short (GetRemoteDocument(s, i - 1)), so the name
// is read from the NUL-terminated $ref string itself, up to its '#'.
class FileProvider final : public rapidjson::IRemoteSchemaDocumentProvider {
 public:
  FileProvider(const PayloadSchemaImpl& schema, CompiledSet& set, std::filesystem::path dir,
               const std::map<std::string, size_t>& index)
      : schema_(schema), set_(set), dir_(std::move(dir)), index_(index) {}

  const rapidjson::SchemaDocument* GetRemoteDocument(const char* uri,
                                                     rapidjson::SizeType) override {
    std::string_view file = SplitRef(uri).first;
    auto it = index_.find(ResolveKey(dir_, file));
    if (it == index_.end()) return nullptr;  // the Loader made sure this does not happen
    return schema_.CompileFile(set_, it->second);
  }

 private:
  const PayloadSchemaImpl& schema_;
  CompiledSet& set_;
  std::filesystem::path dir_;
  const std::map<std::string, size_t>& index_;
};

const rapidjson::SchemaDocument* PayloadSchemaImpl::CompileFile(CompiledSet& set,
                                                                size_t index) const {
  const SourceDoc& source = *docs_[index];
  if (auto it = set.documents.find(source.key); it != set.documents.end()) {
    return it->second.get();
  }
  FileProvider provider(*this, set, source.dir, index_);
  auto document = std::make_unique<rapidjson::SchemaDocument>(source.doc, &provider);
  const rapidjson::SchemaDocument* compiled = document.get();
  set.documents[source.key] = std::move(document);
  return compiled;
}

std::unique_ptr<CompiledSet> PayloadSchemaImpl::Compile() const {
  auto set = std::make_unique<CompiledSet>();
  set->root = CompileFile(*set, 0);
  return set;
}

void PayloadSchemaImpl::FindPatterns(const rapidjson::Value& value) {
  if (value.IsArray()) {
    for (const auto& item : value.GetArray()) FindPatterns(item);
  } else if (value.IsObject()) {
    for (const auto& member : value.GetObject()) {
      std::string_view name = View(member.name);
      if (name == "pattern" && member.value.IsString()) patterns_ = true;
      if (name == "patternProperties") pattern_properties_ = true;
      if (name == "multipleOf" && member.value.IsUint64()) integer_multiple_of_ = true;
      FindPatterns(member.value);
    }
  }
}

bool HasNul(const rapidjson::Value& string) {
  return std::memchr(string.GetString(), 0, string.GetStringLength()) != nullptr;
}

std::optional<SchemaError> PayloadSchemaImpl::FindNul(const rapidjson::Value& value,
                                                      std::string* pointer) const {
  if (value.IsInt64() && value.GetInt64() == std::numeric_limits<int64_t>::min()) {
    if (!integer_multiple_of_) return std::nullopt;
    std::string where = pointer->empty() ? "the payload" : *pointer;
    return SchemaError{*pointer, "multipleOf",
                       where + " is -9223372036854775808, which multipleOf cannot check"};
  }
  if (value.IsString()) {
    if (!patterns_ || !HasNul(value)) return std::nullopt;
    std::string where = pointer->empty() ? "the payload" : *pointer;
    return SchemaError{*pointer, "pattern",
                       where + " contains U+0000, which a pattern cannot check"};
  }
  size_t length = pointer->size();
  if (value.IsArray()) {
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
      pointer->append("/" + std::to_string(i));
      auto error = FindNul(value[i], pointer);
      if (error) return error;
      pointer->resize(length);
    }
  } else if (value.IsObject()) {
    for (const auto& member : value.GetObject()) {
      pointer->append("/" + Escape(View(member.name)));
      if (pattern_properties_ && HasNul(member.name)) {
        return SchemaError{*pointer, "patternProperties",
                           *pointer + " is a member name with U+0000, which patternProperties "
                                      "cannot check"};
      }
      auto error = FindNul(member.value, pointer);
      if (error) return error;
      pointer->resize(length);
    }
  }
  return std::nullopt;
}

std::vector<SchemaError> PayloadSchemaImpl::ValidateImpl(const rapidjson::Value& payload) const {
  std::vector<SchemaError> errors;
  if (patterns_ || pattern_properties_ || integer_multiple_of_) {
    std::string pointer;
    if (auto error = FindNul(payload, &pointer)) {
      errors.push_back(std::move(*error));
      return errors;
    }
  }
  std::unique_ptr<CompiledSet> set = Acquire();
  {
    rapidjson::SchemaValidator validator(*set->root);
    if (!payload.Accept(validator)) errors.push_back(Describe(validator, payload));
  }
  Release(std::move(set));
  return errors;
}

std::string TypeName(const rapidjson::Value& value) {
  switch (value.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return value.IsInt64() || value.IsUint64() ? "an integer" : "a number";
  }
  return "a value";
}

// Says in a sentence why `value` (the payload's value at the error, maybe null) breaks
// `keyword` of `schema` (the schema object that holds it, maybe null when it cannot be found).
std::string Sentence(std::string_view keyword, const rapidjson::Value* schema,
                     const rapidjson::Value* value) {
  const rapidjson::Value* rule = nullptr;
  if (schema != nullptr) {
    auto it = schema->FindMember(rapidjson::StringRef(keyword.data(), keyword.size()));
    if (it != schema->MemberEnd()) rule = &it->value;
  }
  auto flag = [&](const char* name) {
    if (schema == nullptr) return false;
    auto it = schema->FindMember(name);
    return it != schema->MemberEnd() && it->value.IsBool() && it->value.GetBool();
  };
  std::string is = value != nullptr ? "is " + TypeName(*value) : "the value";
  if (keyword == "type") {
    if (rule != nullptr && value != nullptr) {
      std::string expected;
      if (rule->IsString()) {
        expected = std::string(View(*rule));
      } else if (rule->IsArray()) {
        for (const auto& name : rule->GetArray()) {
          if (!name.IsString()) continue;
          if (!expected.empty()) expected += " or ";
          expected += View(name);
        }
      }
      return "is " + TypeName(*value) + ", not " + expected;
    }
    return "has the wrong type";
  }
  if (keyword == "required") {
    if (rule != nullptr && rule->IsArray() && value != nullptr && value->IsObject()) {
      for (const auto& name : rule->GetArray()) {
        if (name.IsString() && !value->HasMember(name)) {
          return "lacks the required member " + Quote(View(name));
        }
      }
    }
    return "lacks a required member";
  }
  if (keyword == "enum") {
    if (rule != nullptr) {
      std::string allowed = ToJson(*rule);
      if (allowed.size() <= 200) return "is not one of " + allowed;
    }
    return "is not one of the allowed values";
  }
  if (keyword == "minimum" && rule != nullptr) {
    return flag("exclusiveMinimum") ? "must be greater than " + ToJson(*rule)
                                    : "must be at least " + ToJson(*rule);
  }
  if (keyword == "maximum" && rule != nullptr) {
    return flag("exclusiveMaximum") ? "must be less than " + ToJson(*rule)
                                    : "must be at most " + ToJson(*rule);
  }
  if (keyword == "multipleOf" && rule != nullptr) {
    return "is not a multiple of " + ToJson(*rule);
  }
  if (keyword == "minLength" && rule != nullptr) {
    return "is shorter than " + ToJson(*rule) + " characters";
  }
  if (keyword == "maxLength" && rule != nullptr) {
    return "is longer than " + ToJson(*rule) + " characters";
  }
  if (keyword == "pattern" && rule != nullptr && rule->IsString()) {
    return "does not match the pattern " + Quote(View(*rule));
  }
  if (keyword == "minItems" && rule != nullptr) {
    return "has fewer than " + ToJson(*rule) + " items";
  }
  if (keyword == "maxItems" && rule != nullptr) {
    return "has more than " + ToJson(*rule) + " items";
  }
  if (keyword == "uniqueItems") return "has duplicate items";
  if (keyword == "items") return "is an item beyond the schema's list of item schemas";
  if (keyword == "minProperties" && rule != nullptr) {
    return "has fewer than " + ToJson(*rule) + " members";
  }
  if (keyword == "maxProperties" && rule != nullptr) {
    return "has more than " + ToJson(*rule) + " members";
  }
  if (keyword == "additionalProperties") return "is a member the schema does not allow";
  if (keyword == "patternProperties") return "has a member that breaks its pattern's schema";
  if (keyword == "dependencies") return "lacks a member that another member depends on";
  if (keyword == "allOf") return "does not match all of the schemas in allOf";
  if (keyword == "anyOf") return "matches none of the schemas in anyOf";
  if (keyword == "oneOf") return "does not match exactly one of the schemas in oneOf";
  if (keyword == "not") return "matches the schema in not";
  return is + " and breaks " + Quote(keyword);
}

SchemaError PayloadSchemaImpl::Describe(const rapidjson::SchemaValidator& validator,
                                        const rapidjson::Value& payload) const {
  SchemaError error;
  const char* keyword = validator.GetInvalidSchemaKeyword();
  error.keyword = keyword != nullptr ? keyword : "";
  auto document_pointer = validator.GetInvalidDocumentPointer();
  error.pointer = PointerText(document_pointer);
  const rapidjson::Value* value = document_pointer.Get(payload);
  // The schema object that failed, in the root file. RapidJSON names it by pointer and gives
  // "" when it lies in another file, so the object is only used if it holds the keyword.
  const rapidjson::Value* schema = validator.GetInvalidSchemaPointer().Get(docs_[0]->doc);
  for (int hop = 0; schema != nullptr && schema->IsObject() && hop < kMaxRefChain; ++hop) {
    auto ref = schema->FindMember("$ref");
    if (ref == schema->MemberEnd() || !ref->value.IsString()) break;
    std::string_view text = View(ref->value);
    if (text.empty() || text[0] != '#') {
      schema = nullptr;
      break;
    }
    rapidjson::Pointer pointer(text.data(), text.size());
    schema = pointer.IsValid() ? pointer.Get(docs_[0]->doc) : nullptr;
  }
  if (schema != nullptr && (!schema->IsObject() || !schema->HasMember(keyword))) {
    schema = nullptr;
  }
  std::string where = error.pointer.empty() ? "the payload" : error.pointer;
  error.message = where + " " + Sentence(error.keyword, schema, value);
  return error;
}

std::filesystem::path WorkingDirectory() {
  std::error_code error;
  std::filesystem::path dir = std::filesystem::current_path(error);
  return error ? std::filesystem::path() : dir;
}

}  // namespace

// Every PayloadSchema is a PayloadSchemaImpl: the constructor is protected and only the two
// factories below make one.
std::vector<SchemaError> PayloadSchema::Validate(const rapidjson::Value& payload) const {
  return static_cast<const PayloadSchemaImpl*>(this)->ValidateImpl(payload);
}

StatusOr<std::shared_ptr<const PayloadSchema>> PayloadSchema::LoadFile(const std::string& file) {
  Loader loader;
  StatusOr<size_t> loaded = loader.LoadFile(ResolveKey(WorkingDirectory(), file), file);
  if (!loaded.ok()) return loaded.status();
  if (Status status = loader.CheckRecursion(); !status.ok()) return status;
  auto schema = std::make_shared<PayloadSchemaImpl>(loader.TakeDocs());
  // Compiling once now proves it compiles and serves the first payload.
  schema->Release(schema->Compile());
  return std::shared_ptr<const PayloadSchema>(std::move(schema));
}

StatusOr<std::shared_ptr<const PayloadSchema>> PayloadSchema::Parse(std::string_view json,
                                                                    std::string_view name) {
  Loader loader;
  std::string key = ResolveKey(WorkingDirectory(), name);
  StatusOr<size_t> loaded =
      loader.Add(json, key, std::string(name), std::filesystem::path(key).parent_path());
  if (!loaded.ok()) return loaded.status();
  if (Status status = loader.CheckRecursion(); !status.ok()) return status;
  auto schema = std::make_shared<PayloadSchemaImpl>(loader.TakeDocs());
  schema->Release(schema->Compile());
  return std::shared_ptr<const PayloadSchema>(std::move(schema));
}

}  // namespace hookvault::api
