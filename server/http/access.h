// Access: who may call a route. Every route names one (Router::Add has no default), so a route
// is never public by omission, and the Router enforces API-token permissions before any handler
// runs.
#ifndef HOOKVAULT_SERVER_HTTP_ACCESS_H_
#define HOOKVAULT_SERVER_HTTP_ACCESS_H_

#include <variant>

#include "api/auth.h"

namespace hookvault::server {

// Anyone may call the route: the probes, the metrics, the OpenAPI description.
struct PublicAccess {};

// The route's handler authenticates the caller itself, against the source's own secret
// (POST /webhooks/:source: the x-auth-token of api::IngestHandler). API tokens mean nothing
// there, so the router checks none and passes no principal.
struct SourceTokenAccess {};

// One of the above, or an api::Permission: the router lets through only an
// `Authorization: Bearer` API token whose role grants it (api::Authenticator), and passes the
// handler who it is.
using Access = std::variant<PublicAccess, SourceTokenAccess, api::Permission>;

inline constexpr PublicAccess kPublic;
inline constexpr SourceTokenAccess kSourceToken;

}  // namespace hookvault::server

#endif  // HOOKVAULT_SERVER_HTTP_ACCESS_H_
