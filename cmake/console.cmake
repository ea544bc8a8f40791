# The web console's files: its ES modules, CSS and HTML shell (src/console/assets/) and the two
# players pinned in src/console/package-lock.json (hls.js, dashjs; `npm ci` in src/console, which
# scripts/install-deps runs). Copied beside the binary (build/console/, where a build-tree kiln
# finds them) on every build, and installed to share/kiln/console/ (the .deb's /usr/share).
set(KILN_CONSOLE_SRC ${CMAKE_SOURCE_DIR}/src/console/assets)
set(KILN_CONSOLE_MODULES ${CMAKE_SOURCE_DIR}/src/console/node_modules)
set(KILN_CONSOLE_VENDOR
  ${KILN_CONSOLE_MODULES}/hls.js/dist/hls.min.js
  ${KILN_CONSOLE_MODULES}/dashjs/dist/dash.all.min.js)
foreach(f ${KILN_CONSOLE_VENDOR})
  if(NOT EXISTS ${f})
    message(WARNING "console: ${f} is missing: run `npm ci` in src/console (scripts/install-deps does); "
                    "without it the console's preview player does not load")
  endif()
endforeach()
string(REPLACE ";" "|" KILN_CONSOLE_VENDOR_ARG "${KILN_CONSOLE_VENDOR}")
add_custom_target(console_assets ALL
  COMMAND ${CMAKE_COMMAND} -E copy_directory ${KILN_CONSOLE_SRC} ${CMAKE_BINARY_DIR}/console
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/console/vendor
  COMMAND ${CMAKE_COMMAND} -DFILES=${KILN_CONSOLE_VENDOR_ARG} -DDEST=${CMAKE_BINARY_DIR}/console/vendor
          -P ${CMAKE_SOURCE_DIR}/cmake/copy_if_present.cmake
  COMMENT "console files -> build/console"
  VERBATIM)
install(DIRECTORY ${KILN_CONSOLE_SRC}/ DESTINATION share/kiln/console)
foreach(f ${KILN_CONSOLE_VENDOR})
  install(FILES ${f} DESTINATION share/kiln/console/vendor OPTIONAL)
endforeach()
