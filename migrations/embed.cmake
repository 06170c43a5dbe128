# Writes OUT, a C++ file defining hookvault::storage::FUNCTION() (declared in HEADER) from FILES
# (sorted migrations/<dialect>/NNNN_verb_noun.sql paths). Run by the build; see CMakeLists.txt.
set(body "")
foreach(f IN LISTS FILES)
  get_filename_component(name ${f} NAME)
  file(READ ${f} sql)
  string(APPEND body "    {\"${name}\", R\"hvsql(${sql})hvsql\"},\n")
endforeach()
file(WRITE ${OUT}.tmp
"// Generated from migrations/ by migrations/embed.cmake. Do not edit.
#include \"${HEADER}\"

namespace hookvault::storage {

const std::vector<Migration>& ${FUNCTION}() {
  static const std::vector<Migration> kMigrations = {
${body}  };
  return kMigrations;
}

}  // namespace hookvault::storage
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
