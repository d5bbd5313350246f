# The Debian package (`cmake --build build --target package`, CPack's DEB generator).
# Everything in it but the licence is made by the built binary from its own tables, so the
# package cannot ship a document that disagrees with the program:
#   /usr/bin/onestor
#   /usr/lib/onestor/remotes        onestor install-remotes (the install(CODE) in CMakeLists.txt)
#   /etc/one/onestor.conf           onestor config-template: every setting, commented, at its
#                                   default (a conffile: dpkg keeps the operator's edits)
#   /usr/share/man/man1/onestor.1.gz  onestor man: --help's synopsis, the registry, the settings
# plus the licence (copyright) and a native package's changelog.gz. `lintian` finds nothing to
# say about it (test/container/test_container.sh).
# No maintainer script: switching oned's remotes over is the operator's step (README).
set(gen ${CMAKE_CURRENT_LIST_DIR}/gen.cmake)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/onestor.conf
  COMMAND ${CMAKE_COMMAND} -DBIN=$<TARGET_FILE:onestor> -DARG=config-template
          -DOUT=${CMAKE_BINARY_DIR}/onestor.conf -P ${gen}
  DEPENDS onestor ${gen} VERBATIM)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/onestor.1.gz
  COMMAND ${CMAKE_COMMAND} -DBIN=$<TARGET_FILE:onestor> -DARG=man -DGZIP=ON
          -DOUT=${CMAKE_BINARY_DIR}/onestor.1.gz -P ${gen}
  DEPENDS onestor ${gen} VERBATIM)
# Whoever builds a package to ship says who answers for it: -DONESTOR_MAINTAINER="Name <mail>".
set(ONESTOR_MAINTAINER "onestor maintainers <maintainers@onestor.invalid>" CACHE STRING "the package's Maintainer")
configure_file(${CMAKE_CURRENT_LIST_DIR}/changelog.in ${CMAKE_BINARY_DIR}/changelog @ONLY)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/changelog.gz
  COMMAND gzip -9nc ${CMAKE_BINARY_DIR}/changelog > ${CMAKE_BINARY_DIR}/changelog.gz
  DEPENDS ${CMAKE_BINARY_DIR}/changelog VERBATIM)
add_custom_target(onestor_docs ALL DEPENDS ${CMAKE_BINARY_DIR}/onestor.conf ${CMAKE_BINARY_DIR}/onestor.1.gz
                                           ${CMAKE_BINARY_DIR}/changelog.gz)

install(FILES ${CMAKE_BINARY_DIR}/onestor.conf DESTINATION /etc/one PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${CMAKE_BINARY_DIR}/onestor.1.gz DESTINATION share/man/man1)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/copyright ${CMAKE_BINARY_DIR}/changelog.gz DESTINATION share/doc/onestor)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME onestor)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${ONESTOR_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "OpenNebula storage drivers (fs, shared, ssh, qcow2, fs_lvm) in one program")
set(CPACK_PACKAGE_DESCRIPTION "onestor runs OpenNebula's datastore and transfer manager actions
through a tree of symlinks, speaking the driver protocol word for word, with no
shell strings built from input and nothing half-written. Install its remotes
tree into oned's with `onestor install-remotes /var/lib/one/remotes`.")
# /etc/one/onestor.conf is an absolute destination: install into the staging tree through
# DESTDIR, with the prefix the package's.
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The tools the drivers run (the linked shared libraries come from dpkg-shlibdeps above;
# the downloader's are opened at its first use, which dpkg-shlibdeps cannot see, so they
# are named here). The context ISO is made for every VM, so an ISO maker is needed; an
# image with a file system (DS mkfs, FS in the default SUPPORTED_FS ext2-4) is made on the
# front-end by mkfs.ext4 (xfs: mkfs.xfs); LVM, virsh and Ceph's tools only by fs_lvm, the
# live qcow2 actions and ceph (`onestor doctor` says which are missing).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "qemu-utils, openssh-client, genisoimage | xorriso, e2fsprogs, libcurl4, libarchive13, libssl3, zlib1g")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "lvm2, libvirt-clients, xfsprogs")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "ceph-common")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_POST_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/installed-size.cmake)
include(CPack)
