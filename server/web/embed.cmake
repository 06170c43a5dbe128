# Writes OUT, a C++ file defining hookvault::server::ConsoleAssets() (server/web/console.h) from
# FILES (absolute paths; each is served at /console/<file name>). Run by the build; see
# CMakeLists.txt. Bytes go in as a hex array, so any file (minified JavaScript with ")" and
# quotes in it, binary images) embeds unchanged; the ETag is the SHA-256 of the bytes, computed
# here, so a changed asset gets a new ETag and an unchanged one keeps it across builds.
set(arrays "")
set(entries "")
set(index 0)
foreach(f IN LISTS FILES)
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "${f} is missing: run scripts/setup (it runs npm ci in server/web)")
  endif()
  get_filename_component(name "${f}" NAME)
  string(REGEX MATCH "[^.]+$" ext "${name}")
  if(ext STREQUAL "html")
    set(type "text/html; charset=utf-8")
  elseif(ext STREQUAL "js")
    set(type "text/javascript; charset=utf-8")
  elseif(ext STREQUAL "css")
    set(type "text/css; charset=utf-8")
  elseif(ext STREQUAL "svg")
    set(type "image/svg+xml")
  elseif(ext STREQUAL "png")
    set(type "image/png")
  else()
    message(FATAL_ERROR "${f}: no content type known for .${ext}; add one to server/web/embed.cmake")
  endif()
  file(SHA256 "${f}" sha)
  string(SUBSTRING "${sha}" 0 32 etag)
  file(READ "${f}" hex HEX)
  file(SIZE "${f}" size)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # A zero-length array is not C++: an empty file gets one byte that the size leaves out.
  if(size EQUAL 0)
    set(bytes "0x00")
  endif()
  string(APPEND arrays "const unsigned char kAsset${index}[] = {${bytes}};\n")
  string(APPEND entries
    "      {\"${name}\", \"${type}\", Bytes(kAsset${index}, ${size}), \"\\\"${etag}\\\"\"},\n")
  math(EXPR index "${index} + 1")
endforeach()
file(WRITE ${OUT}.tmp
"// Generated from server/web/ by server/web/embed.cmake. Do not edit.
#include \"server/web/console.h\"

namespace hookvault::server {
namespace {

${arrays}
std::string_view Bytes(const unsigned char* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace

const std::vector<ConsoleAsset>& ConsoleAssets() {
  static const std::vector<ConsoleAsset> kAssets = {
${entries}  };
  return kAssets;
}

}  // namespace hookvault::server
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
