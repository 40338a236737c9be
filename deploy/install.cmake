# install.cmake -- what `make install` / `cmake --install` puts where:
# the daemons and interlinkctl, example configurations, the systemd units
# (their paths filled in for this prefix) and the deployment manifests.
include(GNUInstallDirs)
# Installing needs only the installed targets (make install / make deb build
# them first), not the unit tests and the benchmark.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

# Units go where systemd looks for them: /lib/systemd/system for /usr (as
# Debian does), PREFIX/lib/systemd/system otherwise.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(IL_SYSTEMD_UNITDIR_DEFAULT "/lib/systemd/system")
else()
  set(IL_SYSTEMD_UNITDIR_DEFAULT "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
set(IL_SYSTEMD_UNITDIR "${IL_SYSTEMD_UNITDIR_DEFAULT}" CACHE PATH "where systemd units are installed")
set(IL_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}")
set(IL_SYSCONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}")

install(TARGETS interlink interlink-local interlink-slurm interlink-vk interlink-gateway interlinkctl
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(IL_UNITS interlink interlink-local interlink-slurm interlink-vk interlink-gateway)
foreach(unit ${IL_UNITS})
  configure_file(${CMAKE_SOURCE_DIR}/deploy/systemd/${unit}.service.in
                 ${CMAKE_BINARY_DIR}/systemd/${unit}.service @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit}.service DESTINATION ${IL_SYSTEMD_UNITDIR})
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/interlink.sysusers
        DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d RENAME interlink.conf)

# Example configurations: under share/interlink (not share/doc, which
# minimal images leave out), copied to /etc/interlink by the Debian package
# or by the admin (interlinkctl setup writes site ones).
set(IL_SHAREDIR ${CMAKE_INSTALL_DATADIR}/interlink)
file(GLOB IL_EXAMPLE_CONFIGS ${CMAKE_SOURCE_DIR}/deploy/config/*.yaml)
install(FILES ${IL_EXAMPLE_CONFIGS} DESTINATION ${IL_SHAREDIR}/examples)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION ${IL_SHAREDIR}/examples/pods)
if(EXISTS ${CMAKE_SOURCE_DIR}/deploy/kubernetes)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/kubernetes DESTINATION ${IL_SHAREDIR})
endif()

# `make deb`: a Debian package of the same tree (configured with
# CMAKE_INSTALL_PREFIX=/usr).  Its maintainer scripts create the system
# user, the state directories and /etc/interlink (deploy/debian/).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME interlink)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "interlink-c maintainers <interlink@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "interLink: Kubernetes pods offloaded to SLURM and other backends (C implementation)")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "bubblewrap")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "slurm-client, podman")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
