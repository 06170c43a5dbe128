// ASCII string helpers that every wing uses: trimming, lower-casing and case-insensitive
// comparison over std::string_view.
//
// They are ASCII only and never consult the C locale: what they see is protocol text (HTTP
// field names and values, media types, configuration keys), whose meaning a locale must not
// change. Each trims exactly the characters its caller names, because the callers differ on
// purpose: a header value's optional whitespace is space and tab only, while a raw header
// line from curl also ends in CR LF.
//
// Includes nothing of ours (the core's storage/status.h at most, by the rule for
// storage/base/). Thread-safety: pure functions, safe from any thread.
#ifndef HOOKVAULT_STORAGE_BASE_STRINGS_H_
#define HOOKVAULT_STORAGE_BASE_STRINGS_H_

#include <string>
#include <string_view>

namespace hookvault::base {

// HTTP's optional whitespace, OWS (RFC 9110 section 5.6.3): space and horizontal tab.
inline constexpr std::string_view kOptionalWhitespace = " \t";

// Returns `s` without the leading characters that occur in `chars`.
std::string_view TrimLeft(std::string_view s, std::string_view chars);

// Returns `s` without the trailing characters that occur in `chars`.
std::string_view TrimRight(std::string_view s, std::string_view chars);

// Returns `s` without leading and trailing spaces and tabs (kOptionalWhitespace); CR, LF and
// other whitespace stay.
std::string_view TrimOptionalWhitespace(std::string_view s);

// Returns `c` lower-cased if it is an ASCII upper-case letter, else `c`.
constexpr char AsciiToLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Returns `s` with its ASCII letters in lower case; every other byte unchanged.
std::string AsciiLower(std::string_view s);

// Returns true if `a` and `b` are equal once ASCII letters are lower-cased.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Returns true if `s` begins with `prefix`, ASCII letters compared without regard to case.
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix);

}  // namespace hookvault::base

#endif  // HOOKVAULT_STORAGE_BASE_STRINGS_H_
