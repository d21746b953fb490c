# SPDX-License-Identifier: Apache-2.0
# Every third-party library gloam links, found once here so modules only name
# imported targets. scripts/install-deps installs the Debian packages.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)

pkg_check_modules(LIBEVENT REQUIRED IMPORTED_TARGET
  libevent_core libevent_extra libevent_openssl libevent_pthreads)
pkg_check_modules(JANSSON  REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(SQLITE3  REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(PCRE2    REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(ZLIB     REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(TSS2     REQUIRED IMPORTED_TARGET tss2-esys tss2-tctildr tss2-mu tss2-rc)
pkg_check_modules(SECCOMP  REQUIRED IMPORTED_TARGET libseccomp)
pkg_check_modules(CURL     REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(LIBPQ    REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(FFMPEG   REQUIRED IMPORTED_TARGET libavformat libavcodec libswresample libavutil)
pkg_check_modules(LIBPNG   REQUIRED IMPORTED_TARGET libpng)
find_library(MATH_LIB m REQUIRED)

# Debian's libwslay-dev ships no pkg-config file.
find_path(WSLAY_INCLUDE_DIR wslay/wslay.h REQUIRED)
find_library(WSLAY_LIBRARY wslay REQUIRED)
add_library(gloam_dep_wslay INTERFACE)
target_include_directories(gloam_dep_wslay INTERFACE ${WSLAY_INCLUDE_DIR})
target_link_libraries(gloam_dep_wslay INTERFACE ${WSLAY_LIBRARY})
add_library(PkgConfig::WSLAY ALIAS gloam_dep_wslay)
