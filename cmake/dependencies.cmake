# Finds every system dependency of the core first and, when any is missing, stops once with the whole
# list and the one command that installs them (Debian/Ubuntu, Fedora/RHEL, Homebrew), instead of failing
# on the first and leaving the rest to be discovered one run at a time.
#
# Each entry: the name shown, then the Debian, Fedora and Homebrew packages that provide it.
#
# The core links them through backfill::deps, one interface target. With BACKFILL_BUNDLE_DEPS (wheels,
# scripts/build_wheel.sh) curl, libzip, simdjson, zstd and libpq link statically as scripts/build_deps.sh builds them
# (in BACKFILL_DEPS_PREFIX), OpenSSL and xxHash from their static archives, spdlog and fmt
# header-only; nghttp2, SQLite and zlib stay shared for auditwheel to copy into the wheel.
include(CheckLanguage)
if(BACKFILL_BUNDLE_DEPS)
  set(BACKFILL_DEPS_PREFIX "${CMAKE_CURRENT_SOURCE_DIR}/build/deps/prefix" CACHE PATH
      "Where scripts/build_deps.sh installed the libraries a wheel links statically")
  list(PREPEND CMAKE_PREFIX_PATH "${BACKFILL_DEPS_PREFIX}")
  set(OPENSSL_USE_STATIC_LIBS TRUE)
  set(_backfill_config CONFIG)  # curl's, libzip's and simdjson's own configs, from the prefix
endif()

set(_backfill_missing "")
macro(_backfill_need found name deb rpm brew)
  if(NOT ${found})
    list(APPEND _backfill_missing "${name}")
    list(APPEND _backfill_missing_deb ${deb})
    list(APPEND _backfill_missing_rpm ${rpm})
    list(APPEND _backfill_missing_brew ${brew})
  endif()
endmacro()

check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  set(_backfill_cxx_found TRUE)
endif()
_backfill_need(_backfill_cxx_found "a C++20 compiler" g++ gcc-c++ "")

find_package(PkgConfig QUIET)
_backfill_need(PKG_CONFIG_FOUND "pkg-config" pkg-config pkgconf-pkg-config pkg-config)

find_package(OpenSSL QUIET)
find_package(CURL ${_backfill_config} QUIET)
find_package(simdjson CONFIG QUIET)
if(BACKFILL_BUNDLE_DEPS)
  find_path(_backfill_spdlog_headers spdlog/spdlog.h)
  find_path(_backfill_fmt_headers fmt/format-inl.h)
  if(_backfill_spdlog_headers AND _backfill_fmt_headers)
    set(spdlog_FOUND TRUE)
  endif()
  find_package(libzip CONFIG QUIET)
  set(LIBZIP_FOUND ${libzip_FOUND})
  find_library(_backfill_xxhash_archive NAMES libxxhash.a)
  if(_backfill_xxhash_archive)
    set(XXHASH_FOUND TRUE)
  endif()
  # zstd compresses journal pages; scripts/build_deps.sh builds its archive (PIC) into the prefix.
  find_library(_backfill_zstd_archive NAMES libzstd.a PATHS "${BACKFILL_DEPS_PREFIX}/lib" NO_DEFAULT_PATH)
  if(_backfill_zstd_archive)
    set(ZSTD_FOUND TRUE)
  endif()
else()
  find_package(spdlog CONFIG QUIET)
endif()
find_package(SQLite3 QUIET)
if(BACKFILL_BUILD_TESTS)
  find_package(GTest CONFIG QUIET)
endif()
if(BACKFILL_BUILD_PYTHON)
  find_package(Python 3.10 QUIET COMPONENTS Interpreter Development.Module)
endif()
if(PKG_CONFIG_FOUND)
  # The engine's own HTTP/2 connections for gRPC (cpp/src/http/h2/): nghttp2 frames, OpenSSL for TLS.
  pkg_check_modules(NGHTTP2 QUIET IMPORTED_TARGET libnghttp2)
  if(NOT BACKFILL_BUNDLE_DEPS)
    # libzip and xxhash through pkg-config: Debian's libzip CMake config insists on its command-line tools.
    pkg_check_modules(LIBZIP QUIET IMPORTED_TARGET libzip)
    pkg_check_modules(XXHASH QUIET IMPORTED_TARGET libxxhash)
    # zstd compresses journal pages (cpp/src/journal/page_codec.cpp).
    pkg_check_modules(ZSTD QUIET IMPORTED_TARGET libzstd)
  endif()
  if(NOT BACKFILL_BUNDLE_DEPS)
    # The pgvector sink speaks to PostgreSQL through libpq (cpp/src/sinks/pgvector/).
    pkg_check_modules(LIBPQ QUIET IMPORTED_TARGET libpq)
  endif()
endif()
if(BACKFILL_BUNDLE_DEPS)
  # libpq as scripts/build_deps.sh builds it: the archive and the two it needs (PIC builds).
  set(_backfill_libpq "")
  foreach(_lib libpq.a libpgcommon_shlib.a libpgport_shlib.a)
    find_library(_backfill_${_lib} NAMES ${_lib} PATHS "${BACKFILL_DEPS_PREFIX}/lib" NO_DEFAULT_PATH)
    if(_backfill_${_lib})
      list(APPEND _backfill_libpq "${_backfill_${_lib}}")
    endif()
  endforeach()
  list(LENGTH _backfill_libpq _backfill_libpq_count)
  if(_backfill_libpq_count EQUAL 3)
    set(LIBPQ_FOUND TRUE)
  endif()
endif()

_backfill_need(CURL_FOUND "libcurl (with OpenSSL)" libcurl4-openssl-dev libcurl-devel curl)
_backfill_need(SQLite3_FOUND "SQLite 3" libsqlite3-dev sqlite-devel sqlite)
_backfill_need(simdjson_FOUND "simdjson" libsimdjson-dev simdjson-devel simdjson)
_backfill_need(spdlog_FOUND "spdlog and fmt" "libspdlog-dev;libfmt-dev" "spdlog-devel;fmt-devel" "spdlog;fmt")
_backfill_need(OPENSSL_FOUND "OpenSSL" libssl-dev openssl-devel openssl@3)
_backfill_need(LIBZIP_FOUND "libzip" libzip-dev libzip-devel libzip)
_backfill_need(XXHASH_FOUND "xxHash" libxxhash-dev xxhash-devel xxhash)
_backfill_need(ZSTD_FOUND "zstd" libzstd-dev libzstd-devel zstd)
_backfill_need(NGHTTP2_FOUND "nghttp2" libnghttp2-dev libnghttp2-devel libnghttp2)
_backfill_need(LIBPQ_FOUND "libpq (PostgreSQL's client library)" libpq-dev libpq-devel libpq)
if(BACKFILL_BUILD_PYTHON)
  _backfill_need(Python_FOUND "Python 3.10+ headers" python3-dev python3-devel python)
endif()
if(BACKFILL_BUILD_TESTS)
  _backfill_need(GTest_FOUND "GoogleTest (for the C++ tests)" libgtest-dev gtest-devel googletest)
endif()

if(_backfill_missing)
  list(JOIN _backfill_missing ", " _names)
  list(JOIN _backfill_missing_deb " " _deb)
  list(JOIN _backfill_missing_rpm " " _rpm)
  list(JOIN _backfill_missing_brew " " _brew)
  message(FATAL_ERROR
    "backfill's C++ core cannot be built: missing ${_names}.\n"
    "Install them, then build again:\n"
    "  Debian/Ubuntu:  sudo apt-get install ${_deb}\n"
    "  Fedora/RHEL:    sudo dnf install ${_rpm}\n"
    "  macOS:          brew install ${_brew}\n"
    "On Debian, scripts/setup.sh installs them and builds a development venv.")
endif()

find_package(Threads REQUIRED)
# CMake 4 renamed the imported SQLite target; accept both names.
if(TARGET SQLite3::SQLite3)
  set(_backfill_sqlite SQLite3::SQLite3)
else()
  set(_backfill_sqlite SQLite::SQLite3)
endif()
add_library(backfill_deps INTERFACE)
add_library(backfill::deps ALIAS backfill_deps)
if(BACKFILL_BUNDLE_DEPS)
  target_include_directories(backfill_deps INTERFACE "${BACKFILL_DEPS_PREFIX}/include")
else()
  set(_backfill_libpq PkgConfig::LIBPQ)
endif()
target_link_libraries(backfill_deps INTERFACE simdjson::simdjson CURL::libcurl ${_backfill_sqlite}
                      PkgConfig::NGHTTP2 ${_backfill_libpq} OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
if(BACKFILL_BUNDLE_DEPS)
  target_compile_definitions(backfill_deps INTERFACE SPDLOG_FMT_EXTERNAL FMT_HEADER_ONLY)
  target_link_libraries(backfill_deps INTERFACE libzip::zip ${_backfill_xxhash_archive} ${_backfill_zstd_archive}
                        ${CMAKE_DL_LIBS})
else()
  target_link_libraries(backfill_deps INTERFACE spdlog::spdlog PkgConfig::LIBZIP PkgConfig::XXHASH PkgConfig::ZSTD)
endif()
