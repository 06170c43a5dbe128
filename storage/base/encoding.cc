#include "storage/base/encoding.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstddef>

namespace hookvault::base {
namespace {

bool IsBase64AlphabetChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// EVP_DecodeBlock is too forgiving to validate with: it trims surrounding whitespace and
// decodes '=' anywhere as if it were 'A' ("A=A=" and "====" decode), so a mistyped secret
// would silently become a different key. Checked first: length a multiple of 4, only
// alphabet characters, and at most two '=' only at the very end.
bool IsStrictPaddedBase64(std::string_view text) {
  if (text.size() % 4 != 0) return false;
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  return std::all_of(text.begin(), text.end() - static_cast<std::ptrdiff_t>(padding),
                     IsBase64AlphabetChar);
}

// Returns EVP_DecodeBlock's output for `text`, which must be padded to a multiple of 4 and end
// in exactly `padding` '=', or nullopt if it refuses. EVP_DecodeBlock counts the zero bytes
// that padding stands for ("Zg==" gives 3, not 1); they are dropped here.
std::optional<std::string> DecodeBlock(std::string_view text, size_t padding) {
  if (text.empty()) return std::string();
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  // OpenSSL's OPENSSL_buf2hexstr writes upper case with ':' separators; the stored audit
  // hashes and tokens are plain lower case.
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    unsigned char b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 0xf];
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  // EVP_EncodeBlock takes an int length; whole 3-byte groups per call keep the chunks
  // independent, so concatenating their outputs is the encoding of the whole.
  constexpr size_t kChunk = 3 * (size_t{1} << 20);
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t pos = 0; pos < bytes.size(); pos += kChunk) {
    std::string_view chunk = bytes.substr(pos, kChunk);
    size_t start = out.size();
    // +1: EVP_EncodeBlock writes a terminating NUL after the text.
    out.resize(start + (chunk.size() + 2) / 3 * 4 + 1);
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + start),
                            reinterpret_cast<const unsigned char*>(chunk.data()),
                            static_cast<int>(chunk.size()));
    out.resize(start + static_cast<size_t>(n));
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (!IsStrictPaddedBase64(text)) return std::nullopt;
  size_t padding =
      text.empty() ? 0 : static_cast<size_t>(std::count(text.end() - 2, text.end(), '='));
  return DecodeBlock(text, padding);
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string s = Base64Encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  // OpenSSL knows only the standard alphabet: translate, refusing the characters that are
  // standard-only (they would otherwise decode as if they were URL-safe).
  std::string s(text);
  for (char& c : s) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (c == '+' || c == '/' || c == '=') {
      return std::nullopt;
    }
  }
  size_t padding = (4 - s.size() % 4) % 4;
  if (padding == 3) return std::nullopt;
  s.append(padding, '=');
  return DecodeBlock(s, padding);
}

}  // namespace hookvault::base
