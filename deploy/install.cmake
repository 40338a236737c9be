# install.cmake -- what `make install` / `cmake --install` puts where:
# the daemons and interlinkctl, example configurations, the systemd units
# (their paths filled in for this prefix) and the deployment manifests.
include(GNUInstallDirs)

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

install(TARGETS interlink interlink-local interlink-slurm interlink-vk interlinkctl
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(IL_UNITS interlink interlink-local interlink-slurm interlink-vk)
foreach(unit ${IL_UNITS})
  configure_file(${CMAKE_SOURCE_DIR}/deploy/systemd/${unit}.service.in
                 ${CMAKE_BINARY_DIR}/systemd/${unit}.service @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit}.service DESTINATION ${IL_SYSTEMD_UNITDIR})
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/interlink.sysusers
        DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d RENAME interlink.conf)

# Example configurations: under share/doc, copied to /etc/interlink by the
# Debian package or by the admin (interlinkctl setup writes site ones).
file(GLOB IL_EXAMPLE_CONFIGS ${CMAKE_SOURCE_DIR}/deploy/config/*.yaml)
install(FILES ${IL_EXAMPLE_CONFIGS} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/pods)
if(EXISTS ${CMAKE_SOURCE_DIR}/deploy/kubernetes)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/kubernetes DESTINATION ${CMAKE_INSTALL_DOCDIR})
endif()
