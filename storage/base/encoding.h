// Byte-to-text encodings: lower-case hex, and base64 in the standard and URL-safe alphabets
// (RFC 4648 sections 4 and 5). Base64 runs on OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock;
// the decoders add the checks that OpenSSL's lenient decoder leaves out, each as strict as
// its callers have always been.
//
// Includes nothing of ours (the core's storage/status.h at most, by the rule for
// storage/base/). Thread-safety: pure functions, safe from any thread.
#ifndef HOOKVAULT_STORAGE_BASE_ENCODING_H_
#define HOOKVAULT_STORAGE_BASE_ENCODING_H_

#include <optional>
#include <string>
#include <string_view>

namespace hookvault::base {

// Returns two lower-case hex digits for each byte of `bytes`.
std::string HexEncode(std::string_view bytes);

// Returns standard base64 (RFC 4648 section 4, with `=` padding) of `bytes`.
std::string Base64Encode(std::string_view bytes);

// Returns the bytes of standard, padded base64 `text`, or nullopt unless `text` is exactly
// that: a length that is a multiple of 4, only alphabet characters, and at most two `=` only
// at the very end. No whitespace is skipped ("" decodes to "").
std::optional<std::string> Base64Decode(std::string_view text);

// Returns URL-safe base64 (RFC 4648 section 5: `-` and `_` for `+` and `/`) of `bytes`,
// without padding.
std::string Base64UrlEncode(std::string_view bytes);

// Returns the bytes of unpadded URL-safe base64 `text`, or nullopt if it holds `+`, `/`, `=`,
// has a length of 4n+1, or is otherwise not base64 ("" decodes to ""). EVP_DecodeBlock's
// leniency is kept, as the feed's cursors have always had it: leading spaces and tabs, and
// trailing spaces, tabs, CRs and LFs, are skipped where what remains is still whole groups of
// four ("    Zm9v" decodes as "Zm9v"). A caller that must refuse whitespace checks first.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace hookvault::base

#endif  // HOOKVAULT_STORAGE_BASE_ENCODING_H_
