# The Debian package: `cmake --build build --target package` (or `cpack` in build/) makes
# kiln_VERSION_ARCH.deb. Nothing here is built by the default target; tests/deploy/ builds
# and installs it (package_test.sh).
include(GNUInstallDirs)

# Units, udev rules, configs and documentation (the binary is installed in ../CMakeLists.txt).
install(FILES config/systemd/kiln-node.service config/systemd/kiln-coordinator.service
        DESTINATION lib/systemd/system)
install(FILES udev/70-kiln.rules DESTINATION lib/udev/rules.d)
# /etc/kiln: the configs kiln reads, conffiles (dpkg keeps an operator's edits on upgrade).
# 0640 root:kiln (the postinst sets the group): database URLs may carry passwords.
set(KILN_CONFIG_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES config/node.toml config/coordinator.toml
        DESTINATION /etc/kiln PERMISSIONS ${KILN_CONFIG_PERMISSIONS})
install(FILES config/presets/default.toml
        DESTINATION /etc/kiln/presets PERMISSIONS ${KILN_CONFIG_PERMISSIONS})
# Examples an operator copies elsewhere (Prometheus, Grafana) and the documentation.
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES udev/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME udev.md)
install(FILES config/prometheus/kiln-alerts.yml config/grafana/kiln-dashboard.json
              config/node.toml config/coordinator.toml config/presets/default.toml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kiln)
set(CPACK_PACKAGE_VENDOR "Kiln")
set(CPACK_PACKAGE_CONTACT "Kiln maintainers <kiln@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "hardware-accelerated transcoding node (HLS/DASH ladders)")
set(CPACK_PACKAGE_DESCRIPTION "Kiln turns a video into an adaptive-bitrate ladder packaged as CMAF for
HLS and DASH, on VAAPI, QSV, NVENC, Vulkan or software encoders. The package holds the kiln
binary (which also makes resized WebP, AVIF and JPEG variants of images, with libvips), the
hardened systemd units kiln-node and kiln-coordinator (installed, not enabled),
udev rules for render nodes and example configs in /etc/kiln.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION video)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: the postinst makes the kiln user; shlibdeps adds the libraries kiln links.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# acl: the udev rules' setfacl lines (NVIDIA nodes); the render group alone covers /dev/dri.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "acl")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql, prometheus, mesa-vulkan-drivers, intel-media-va-driver-non-free")
set(KILN_DEB_SCRIPTS ${CMAKE_SOURCE_DIR}/packaging/deb)
# CPack does not mark /etc files as conffiles by itself.
file(WRITE ${CMAKE_BINARY_DIR}/deb/conffiles
     "/etc/kiln/node.toml\n/etc/kiln/coordinator.toml\n/etc/kiln/presets/default.toml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/deb/conffiles
    ${KILN_DEB_SCRIPTS}/postinst ${KILN_DEB_SCRIPTS}/prerm ${KILN_DEB_SCRIPTS}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
