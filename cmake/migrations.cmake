# Embeds src/store/migrations/NNNN_name.sql, in order, into kiln/migrations.hpp so the binary
# migrates a database with nothing installed beside it.
file(GLOB KILN_MIGRATIONS ${CMAKE_SOURCE_DIR}/src/store/migrations/*.sql)
list(SORT KILN_MIGRATIONS)
set(KILN_MIGRATION_ROWS "")
foreach(sql ${KILN_MIGRATIONS})
  get_filename_component(name ${sql} NAME_WE)
  string(SUBSTRING ${name} 0 4 version)
  math(EXPR version "${version}")
  file(READ ${sql} text)
  string(APPEND KILN_MIGRATION_ROWS "    {${version}, \"${name}\", R\"kilnsql(${text})kilnsql\"},\n")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${sql})
endforeach()
file(WRITE ${CMAKE_BINARY_DIR}/generated/kiln/migrations.hpp.tmp
"#pragma once\n// Generated from src/store/migrations/*.sql by cmake/migrations.cmake.\n#include <array>\n\nnamespace kiln::store {\nstruct Migration {\n  int version;\n  const char* name;\n  const char* sql;\n};\ninline constexpr Migration kMigrations[] = {\n${KILN_MIGRATION_ROWS}};\n}  // namespace kiln::store\n")
configure_file(${CMAKE_BINARY_DIR}/generated/kiln/migrations.hpp.tmp
               ${CMAKE_BINARY_DIR}/generated/kiln/migrations.hpp COPYONLY)
