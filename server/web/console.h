// The operator console: the embedded page's assets and the handler that serves them at
// /console/ (the page itself holds no data: it reads everything from the REST API with the
// operator's token, so serving it is public and touches no store).
#ifndef HOOKVAULT_SERVER_WEB_CONSOLE_H_
#define HOOKVAULT_SERVER_WEB_CONSOLE_H_

#include <string_view>
#include <vector>

#include "api/http.h"

namespace hookvault::server {

// One file of server/web/, compiled into the binary by server/web/embed.cmake.
struct ConsoleAsset {
  std::string_view name;          // "app.js": served at /console/app.js
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;          // the file's bytes
  std::string_view etag;          // strong, quoted: a hash of the bytes, fixed at build time
};

// Returns every embedded asset (generated code; the list is CMakeLists.txt's).
const std::vector<ConsoleAsset>& ConsoleAssets();

// The Content-Security-Policy of every console answer: nothing from another origin, no inline
// script or style, no plugins, no framing. The page renders attacker-controlled payloads and
// headers (as text); the policy is the second wall should a bug ever render one as markup.
inline constexpr std::string_view kConsoleCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'";

// Answers GET /console, /console/ and /console/<asset>. Stateless.
//
// Thread-safety: the functions are pure; call them from any thread.

// Returns the asset named `name`, or nullptr.
const ConsoleAsset* FindConsoleAsset(std::string_view name);

// Answers `/console/<name>` (`name` empty: index.html): 200 with the asset, 304 with no body
// when If-None-Match names its ETag, 404 problem+json when there is no such asset. Every answer
// carries the console's security headers, Cache-Control: no-cache (revalidate each time, so a
// new binary's page is never mixed with an old one's scripts) and, but for the 404, the ETag.
api::ApiResponse ServeConsoleAsset(const api::ApiRequest& request, std::string_view name);

// Answers `/console`: 301 to `/console/`, so the page's relative asset paths resolve.
api::ApiResponse RedirectToConsole();

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_WEB_CONSOLE_H_
