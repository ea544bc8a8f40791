# cmake -DFILES="a|b" -DDEST=dir -P copy_if_present.cmake: copies those of the files that exist.
string(REPLACE "|" ";" files "${FILES}")
foreach(f ${files})
  if(EXISTS ${f})
    file(COPY ${f} DESTINATION ${DEST})
  endif()
endforeach()
