// SessionHandler: GET /api/v1/session, who a token is and what its role may do, so that a
// console (or any client) offers only what the server would allow. The server still checks
// every route's permission on its own.
#ifndef HOOKVAULT_API_SESSION_H_
#define HOOKVAULT_API_SESSION_H_

#include <string>

#include "api/auth.h"
#include "api/http.h"

namespace hookvault::api {

// Returns {"name", "role", "may": {"read", "reprocess", "pull", "consume"}, "consumers": [...]}
// of `who`: `may` is api::Allows for each permission, `consumers` the consumers a consumer token
// lists ([] for the other roles).
std::string RenderSession(const Principal& who);

// Stateless. The router has authenticated the caller (Permission::kSession: any valid token).
//
// Thread-safety: Session() may be called from many threads at once.
class SessionHandler {
 public:
  void Session(const ApiRequest& req, const Principal& who, Responder respond) const;
};

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_SESSION_H_
