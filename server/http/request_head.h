// RequestHeadChecker: checks the head of an HTTP/1.x request (its request line and header
// fields) line by line as the bytes arrive, before Pistache 0.0.5 parses them.
//
// Pistache waits for more input when it cannot parse a head (no HTTP version, a header line
// without a colon, lines ended by a bare LF: until the header timeout), rescans the whole head on
// every read of 4 KiB (a 1 MB header line cost 0.65 s of CPU here), keeps the first of two
// Content-Length fields (a request smuggling vector: RFC 9112 section 6.3 requires a 400), and
// answers a plain-text 500 to a negative or overlong Content-Length. The checker refuses all of
// these as soon as the offending line is complete, so that the HTTP adapter can answer a
// problem+json 400 (413 for a head over the limit, 501 for a method Pistache does not know) and
// close the connection.
//
// It also keeps two things Pistache's parsed request loses: the raw query string of the request
// target (Pistache keeps one value per parameter name, in no particular order), and
// every X-Forwarded-For line (Pistache keeps only the first line of a repeated header name, which
// behind a proxy that adds its own line, as HAProxy does, is the one the client wrote).
#ifndef HOOKVAULT_SERVER_HTTP_REQUEST_HEAD_H_
#define HOOKVAULT_SERVER_HTTP_REQUEST_HEAD_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookvault::server {

// Thread-safety: none; one per connection, used on that connection's reactor thread.
class RequestHeadChecker {
 public:
  struct Refusal {
    int status;          // 400, 413 for a head over the limit, 501 for an unknown method
    std::string detail;  // fixed text: never echoes what the client sent
  };

  explicit RequestHeadChecker(size_t max_head_bytes) : max_head_bytes_(max_head_bytes) {}

  // Takes the next bytes received on the connection. Returns a refusal as soon as a complete
  // line of the head is malformed or the head grows beyond max_head_bytes, else nullopt. Bytes
  // after the blank line that ends the head (the body) are not looked at until Reset().
  std::optional<Refusal> Feed(std::string_view bytes);

  // Returns true once the blank line that ends the head has been received.
  bool head_complete() const { return complete_; }

  // The request target's query string as sent (after the first '?', without it; empty when
  // there is none). Valid once the request line has been received, until Reset().
  const std::string& raw_query() const { return raw_query_; }

  // The value of every X-Forwarded-For line, in arrival order (whitespace around each trimmed).
  // Valid once the head is complete, until Reset().
  const std::vector<std::string>& forwarded_for() const { return forwarded_for_; }

  // Starts over for the next request on the connection.
  void Reset();

 private:
  std::optional<Refusal> CheckRequestLine(std::string_view line);
  std::optional<Refusal> CheckField(std::string_view line);

  size_t max_head_bytes_;
  std::string line_;  // the line being received, without its line end
  size_t head_bytes_ = 0;
  bool request_line_seen_ = false;
  bool content_length_seen_ = false;
  bool complete_ = false;
  std::string raw_query_;
  std::vector<std::string> forwarded_for_;
};

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_HTTP_REQUEST_HEAD_H_
