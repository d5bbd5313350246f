# cmake -DBIN=... -DARG=... -DOUT=... [-DGZIP=ON] -P gen.cmake: writes `BIN ARG` to OUT (the
# package's generated documents: onestor config-template, onestor man), gzipped with -n
# (no name or time stamp: the same bytes every build) when GZIP is set.
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=ONESTOR_CONF "${BIN}" ${ARG}
                OUTPUT_FILE "${OUT}.tmp" COMMAND_ERROR_IS_FATAL ANY)
if(GZIP)
  execute_process(COMMAND gzip -9nf "${OUT}.tmp" COMMAND_ERROR_IS_FATAL ANY)
  file(RENAME "${OUT}.tmp.gz" "${OUT}")
else()
  file(RENAME "${OUT}.tmp" "${OUT}")
endif()
