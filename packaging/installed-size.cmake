# CPACK_POST_BUILD_SCRIPTS: CPack counts each symlink of the remotes tree at the size of the
# binary it points at (Installed-Size ~120 MB for ~3 MB of files); this sets the control
# field to what the files take (du -sk, as dpkg-gencontrol does) and rebuilds the .deb.
foreach(deb ${CPACK_PACKAGE_FILES})
  set(d "${deb}.dir")
  file(REMOVE_RECURSE "${d}")
  execute_process(COMMAND dpkg-deb -R "${deb}" "${d}" COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND du -sk --exclude=DEBIAN "${d}" OUTPUT_VARIABLE du COMMAND_ERROR_IS_FATAL ANY)
  string(REGEX MATCH "^[0-9]+" kib "${du}")
  file(READ "${d}/DEBIAN/control" control)
  string(REGEX REPLACE "Installed-Size: [0-9]+" "Installed-Size: ${kib}" control "${control}")
  file(WRITE "${d}/DEBIAN/control" "${control}")
  execute_process(COMMAND dpkg-deb --root-owner-group -b "${d}" "${deb}" OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
  file(REMOVE_RECURSE "${d}")
endforeach()
