// The OpenAPI 3 description of every route hookvault serves (api/openapi.json), embedded into
// the binary at build time and served at GET /api/v1/openapi.json.
#ifndef HOOKVAULT_API_OPENAPI_H_
#define HOOKVAULT_API_OPENAPI_H_

#include <string_view>

namespace hookvault::api {

// Returns the OpenAPI document (JSON text). Thread-safe: a constant with static storage.
std::string_view OpenApiJson();

}  // namespace hookvault::api

#endif  // HOOKVAULT_API_OPENAPI_H_
