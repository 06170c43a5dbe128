# Writes OUT, a C++ file defining hookvault::api::OpenApiJson() from IN (api/openapi.json), so a
# deployed hookvault serves its OpenAPI description with no file beside it. Run by the build;
# see CMakeLists.txt. A document that is not JSON fails the build here, naming the error.
file(READ ${IN} json)
string(JSON openapi_version ERROR_VARIABLE json_error GET "${json}" openapi)
if(json_error)
  message(FATAL_ERROR "${IN}: not a valid OpenAPI document: ${json_error}")
endif()
set(delimiter "hvjson")
string(FIND "${json}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains \")${delimiter}\"\", the raw string's end; change the delimiter")
endif()
file(WRITE ${OUT}.tmp
"// Generated from api/openapi.json by api/embed_openapi.cmake. Do not edit.
#include \"api/openapi.h\"

namespace hookvault::api {

std::string_view OpenApiJson() {
  static constexpr std::string_view kDocument = R\"${delimiter}(${json})${delimiter}\";
  return kDocument;
}

}  // namespace hookvault::api
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
