#include "server/http/request_head.h"

#include "storage/base/strings.h"

namespace hookvault::server {
namespace {

// RFC 9110 section 5.6.2: the characters of a token (method, field name).
bool IsTokenChar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

RequestHeadChecker::Refusal BadRequest(std::string detail) { return {400, std::move(detail)}; }

// The methods Pistache 0.0.5 parses (HTTP_METHODS in pistache/http_defs.h), case-sensitive as
// in HTTP. Any other is refused here with 501 (RFC 9110 section 15.6.2), where Pistache would
// answer a 400; a known method a route does not take is the router's 405.
bool IsKnownMethod(std::string_view method) {
  for (std::string_view known :
       {"GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}) {
    if (method == known) return true;
  }
  return false;
}

}  // namespace

std::optional<RequestHeadChecker::Refusal> RequestHeadChecker::Feed(std::string_view bytes) {
  while (!complete_ && !bytes.empty()) {
    size_t newline = bytes.find('\n');
    size_t take = newline == std::string_view::npos ? bytes.size() : newline + 1;
    if (head_bytes_ + take > max_head_bytes_) {
      return Refusal{413, "the request line and header fields are over the limit of " +
                              std::to_string(max_head_bytes_) + " bytes"};
    }
    head_bytes_ += take;
    line_.append(bytes.substr(0, newline == std::string_view::npos ? take : newline));
    bytes.remove_prefix(take);
    if (newline == std::string_view::npos) break;
    if (line_.empty() || line_.back() != '\r') {
      return BadRequest("a line of the request head does not end with CRLF");
    }
    line_.pop_back();
    std::optional<Refusal> refusal;
    if (!request_line_seen_) {
      request_line_seen_ = true;
      refusal = CheckRequestLine(line_);
    } else if (line_.empty()) {
      complete_ = true;
    } else {
      refusal = CheckField(line_);
    }
    if (refusal) return refusal;
    line_.clear();
  }
  return std::nullopt;
}

void RequestHeadChecker::Reset() {
  line_.clear();
  head_bytes_ = 0;
  raw_query_.clear();
  forwarded_for_.clear();
  request_line_seen_ = false;
  content_length_seen_ = false;
  complete_ = false;
}

// method SP request-target SP HTTP-version (RFC 9112 section 3). Pistache itself refuses methods
// it does not know.
std::optional<RequestHeadChecker::Refusal> RequestHeadChecker::CheckRequestLine(
    std::string_view line) {
  size_t first = line.find(' ');
  size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || !IsToken(line.substr(0, first)) ||
      second == first + 1) {
    return BadRequest("malformed request line");
  }
  for (unsigned char c : line.substr(first + 1, second - first - 1)) {
    if (IsControl(c)) return BadRequest("control character in the request target");
  }
  std::string_view version = line.substr(second + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return BadRequest("unsupported or malformed HTTP version");
  }
  if (!IsKnownMethod(line.substr(0, first))) {
    return Refusal{501, "the method is not implemented by this server"};
  }
  std::string_view target = line.substr(first + 1, second - first - 1);
  if (size_t question = target.find('?'); question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    raw_query_.assign(query.substr(0, query.find('#')));
  }
  return std::nullopt;
}

// field-name ":" OWS field-value OWS (RFC 9112 section 5): no whitespace before the colon, no
// obsolete line folding, no control characters but HTAB in the value; one Content-Length of
// digits only (RFC 9112 section 6.3).
std::optional<RequestHeadChecker::Refusal> RequestHeadChecker::CheckField(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    return BadRequest("obsolete line folding in the header fields");
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
    return BadRequest("malformed header field");
  }
  std::string_view value = line.substr(colon + 1);
  for (unsigned char c : value) {
    if (IsControl(c) && c != '\t') return BadRequest("control character in a header field");
  }
  if (base::EqualsIgnoreCase(line.substr(0, colon), "x-forwarded-for")) {
    forwarded_for_.emplace_back(base::TrimOptionalWhitespace(value));
  }
  if (base::EqualsIgnoreCase(line.substr(0, colon), "content-length")) {
    if (content_length_seen_) return BadRequest("more than one Content-Length");
    content_length_seen_ = true;
    value = base::TrimOptionalWhitespace(value);
    // 18 digits fit in 64 bits, so Pistache's conversion cannot throw.
    if (value.empty() || value.size() > 18) return BadRequest("invalid Content-Length");
    for (char c : value) {
      if (c < '0' || c > '9') return BadRequest("invalid Content-Length");
    }
  }
  return std::nullopt;
}

}  // namespace hookvault::server
