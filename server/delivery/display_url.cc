#include "server/delivery/display_url.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>

namespace hookvault::server {
namespace {

// The fallback of DisplayUrl for what libcurl cannot parse: cut at the first '?' or '#', and
// drop everything between "://" and the last '@' before that (whatever it is, it is not shown).
std::string StripByHand(std::string_view url) {
  url = url.substr(0, std::min(url.find_first_of("?#"), url.size()));
  size_t scheme_end = url.find("://");
  size_t at = url.rfind('@');
  if (scheme_end != std::string_view::npos && at != std::string_view::npos && at > scheme_end) {
    return std::string(url.substr(0, scheme_end + 3)) + std::string(url.substr(at + 1));
  }
  return std::string(url);
}

}  // namespace

std::string DisplayUrl(std::string_view url) {
  // libcurl parses it as the scheduler's requests will use it (the same parser).
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  std::string text(url);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return StripByHand(url);
  }
  for (CURLUPart part : {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS, CURLUPART_QUERY,
                         CURLUPART_FRAGMENT}) {
    curl_url_set(u.get(), part, nullptr, 0);
  }
  char* out = nullptr;
  if (curl_url_get(u.get(), CURLUPART_URL, &out, 0) != CURLUE_OK || out == nullptr) {
    return StripByHand(url);
  }
  std::string shown(out);
  curl_free(out);
  return shown;
}

}  // namespace hookvault::server
