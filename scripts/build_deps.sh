#!/usr/bin/env bash
# Builds the libraries a wheel links statically, each from Debian's own source package (the upstream
# tarball with Debian's patches, security fixes included), configured with only what backfill uses:
#   curl     HTTP and HTTPS over OpenSSL, HTTP/2 (nghttp2), zlib; no LDAP, SSH, RTMP, Kerberos, IDN,
#            PSL, FTP, mail or other protocols;
#   libzip   reading Slack export zips (deflate, zlib); no bzip2/lzma/zstd, no encryption;
#   simdjson the parser (Debian ships it only as a shared library);
#   zstd     journal page compression: the library only (lib/, static and PIC), no CLI, no legacy formats;
#   libpq    PostgreSQL's client library (the pgvector sink), from postgresql-15 with OpenSSL only: no
#            GSSAPI, LDAP, ICU, readline or zlib (Debian's libpq5 pulls in Kerberos and OpenLDAP).
# Where the sources come from:
#   apt   (on Debian, the default) `apt-get source`, verified by the system's keyring. OpenSSL and
#         xxHash then link from the static archives Debian's -dev packages ship, spdlog and fmt are
#         used header-only from them;
#   lock  (--lock, and wherever there is no apt: the manylinux/musllinux images of the release build,
#         see [tool.cibuildwheel] in pyproject.toml) the files scripts/deps.lock pins, downloaded from
#         Debian's archive and checked against their SHA-256; OpenSSL, xxHash, spdlog and fmt are then
#         built (or their headers installed) here too. scripts/deps_lock.py refreshes the lock.
# nghttp2, SQLite and zlib stay shared (the system's -dev packages; Debian's archives of them are not
# position independent): auditwheel copies those three small libraries into the wheel.
# Output: build/deps/prefix (lib/, include/, CMake configs), or $BACKFILL_DEPS_ROOT/prefix. Idempotent:
# a stamp keeps what is built.
# Usage: scripts/build_deps.sh [--lock]
set -euo pipefail
cd "$(dirname "$0")/.."
root=${BACKFILL_DEPS_ROOT:-$PWD/build/deps}
prefix=$root/prefix
jobs=${JOBS:-2}
packages=(curl libzip simdjson libzstd)
mode=apt
if [[ ${1:-} == --lock ]] || ! command -v apt-get >/dev/null; then mode=lock; fi
# Rebuilt when this script, the lock or (apt) the system's -dev packages of these sources change (their
# source version is what `apt-get source` fetches; the system's apt has no deb-src lists to ask).
dev_packages=(libcurl4-openssl-dev libzip-dev libsimdjson-dev libzstd-dev libpq-dev)
stamp=$( (echo "$mode"; cat "$0"; if [[ $mode == lock ]]; then cat scripts/deps.lock; else
  dpkg-query -W -f='${source:Version}\n' "${dev_packages[@]}" 2>/dev/null; fi) | sha256sum | cut -d' ' -f1)
if [[ -f $prefix/.stamp && "$(cat "$prefix/.stamp")" == "$stamp" ]]; then
  echo "deps: up to date ($prefix)"
  exit 0
fi
rm -rf "$root"
mkdir -p "$root/src" "$root/apt/lists/partial" "$root/apt/cache/archives/partial" "$prefix/include" "$prefix/lib"
log=$root/build.log
: >"$log"
step() { echo "deps: $*"; }
run() { if ! "$@" >>"$log" 2>&1; then tail -n 40 "$log" >&2; echo "deps: failed: $* (log: $log)" >&2; exit 1; fi; }

# Debian's source packages through a private apt configuration (the system's keyring verifies them).
fetch_apt() {
  local codename
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  cat >"$root/apt/sources.list" <<LIST
deb-src http://deb.debian.org/debian $codename main
deb-src http://deb.debian.org/debian $codename-updates main
deb-src http://deb.debian.org/debian-security $codename-security main
LIST
  local apt=(apt-get -q -o "Dir::Etc::SourceList=$root/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$root/apt/lists" -o "Dir::Cache=$root/apt/cache" -o APT::Sandbox::User=root)
  step "fetching Debian sources: ${packages[*]} postgresql-15"
  run "${apt[@]}" update
  # Each package at the newest version whose source the mirrors serve: debian-security may list a
  # release (and serve its binary packages) without serving its source.
  local p v fetched
  for p in "${packages[@]}" postgresql-15; do
    fetched=""
    for v in $(apt-cache "${apt[@]:1}" showsrc "$p" 2>/dev/null | sed -n 's/^Version: //p' | sort -V -r -u); do
      if (cd "$root/src" && "${apt[@]}" source "$p=$v" >>"$log" 2>&1); then fetched=$v; break; fi
    done
    [[ -n $fetched ]] || { tail -n 20 "$log" >&2; echo "deps: no source of $p could be fetched" >&2; exit 1; }
  done
}

# The files scripts/deps.lock pins, checked, unpacked into src/<package>-lock with Debian's patches
# applied in the order of debian/patches/series (what dpkg-source does for a 3.0 (quilt) package).
fetch_lock() {
  local name version url sha file dir patch opts
  mkdir -p "$root/downloads"
  step "fetching the sources scripts/deps.lock pins: $(grep -v '^#' scripts/deps.lock | cut -d' ' -f1 | sort -u | tr '\n' ' ')"
  while read -r name version url sha; do
    [[ -z $name || $name == \#* ]] && continue
    file=$root/downloads/${url##*/}
    [[ -f $file ]] || run curl -fsSL --retry 3 -o "$file" "$url"
    if ! echo "$sha  $file" | sha256sum -c --quiet - >/dev/null 2>&1; then
      echo "deps: ${url##*/} does not match its SHA-256 in scripts/deps.lock (removed; run again, or refresh the lock with scripts/deps_lock.py)" >&2
      rm -f "$file"
      exit 1
    fi
    dir=$root/src/$name-lock
    mkdir -p "$dir"
    if [[ $url == *.orig.tar.* ]]; then run tar -xf "$file" -C "$dir" --strip-components=1; else run tar -xf "$file" -C "$dir"; fi
  done <scripts/deps.lock
  for dir in "$root"/src/*-lock; do
    [[ -f $dir/debian/patches/series ]] || continue
    while read -r patch opts; do
      [[ -z $patch || $patch == \#* ]] && continue
      run patch -d "$dir" -s -N "${opts:--p1}" -i "$dir/debian/patches/$patch"
    done <"$dir/debian/patches/series"
  done
}

# What the lock builds beyond the apt mode: static OpenSSL and xxHash, spdlog's and fmt's headers.
build_lock_extras() {
  local dir
  dir=$(src openssl)
  step "building openssl"
  (cd "$dir" && run ./Configure no-shared no-tests no-module --prefix="$prefix" --libdir=lib -fPIC &&
    run make -j "$jobs" build_libs && run make install_dev)
  dir=$(src xxhash)
  step "building xxhash"
  run make -C "$dir" -j "$jobs" libxxhash.a CFLAGS="-O2 -fPIC"
  install -m 644 "$dir/xxhash.h" "$prefix/include/"
  install -m 644 "$dir/libxxhash.a" "$prefix/lib/"
  step "installing spdlog and fmt headers"
  cp -R "$(src spdlog)/include/spdlog" "$(src fmtlib)/include/fmt" "$prefix/include/"
}

if [[ $mode == apt ]]; then fetch_apt; else fetch_lock; fi
src() { find "$root/src" -mindepth 1 -maxdepth 1 -type d -name "$1-*" | head -1; }

cmake_build() {  # name, source dir, cmake options...
  local name=$1 dir=$2
  shift 2
  step "building $name"
  run cmake -S "$dir" -B "$root/build-$name" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "$@"
  run cmake --build "$root/build-$name" -j "$jobs"
  run cmake --install "$root/build-$name"
}

if [[ $mode == lock ]]; then build_lock_extras; fi
cmake_build curl "$(src curl)" -DBUILD_CURL_EXE=OFF -DCURL_USE_OPENSSL=ON -DOPENSSL_USE_STATIC_LIBS=ON \
  -DUSE_NGHTTP2=ON -DCURL_ZLIB=ON -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_LIBIDN2=OFF -DCURL_USE_LIBPSL=OFF \
  -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_GSSAPI=OFF -DENABLE_UNIX_SOCKETS=OFF \
  -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON -DCURL_DISABLE_RTSP=ON -DCURL_DISABLE_FTP=ON \
  -DCURL_DISABLE_FILE=ON -DCURL_DISABLE_TELNET=ON -DCURL_DISABLE_DICT=ON -DCURL_DISABLE_TFTP=ON \
  -DCURL_DISABLE_GOPHER=ON -DCURL_DISABLE_POP3=ON -DCURL_DISABLE_IMAP=ON -DCURL_DISABLE_SMTP=ON \
  -DCURL_DISABLE_SMB=ON -DCURL_DISABLE_MQTT=ON -DCURL_DISABLE_NTLM=ON -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none
cmake_build libzip "$(src libzip)" -DENABLE_BZIP2=OFF -DENABLE_LZMA=OFF -DENABLE_ZSTD=OFF -DENABLE_GNUTLS=OFF \
  -DENABLE_OPENSSL=OFF -DENABLE_MBEDTLS=OFF -DENABLE_COMMONCRYPTO=OFF -DENABLE_WINDOWS_CRYPTO=OFF \
  -DBUILD_TOOLS=OFF -DBUILD_REGRESS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_DOC=OFF
cmake_build simdjson "$(src simdjson)" -DSIMDJSON_DEVELOPER_MODE=OFF -DSIMDJSON_ENABLE_THREADS=ON

# zstd's library with its own Makefile (the archive alone: no CLI, no dictionary builder beyond the
# library's, no legacy-format decoders), position independent for the extension.
step "building zstd"
zstd=$(src libzstd)
run make -C "$zstd/lib" -j "$jobs" libzstd.a ZSTD_LEGACY_SUPPORT=0 CFLAGS="-O2 -fPIC"
install -m 644 "$zstd/lib/zstd.h" "$zstd/lib/zstd_errors.h" "$zstd/lib/zdict.h" "$prefix/include/"
install -m 644 "$zstd/lib/libzstd.a" "$prefix/lib/"

# libpq with what it needs and nothing else: the generated headers, src/common and src/port (as
# PIC archives), then the static library; the shared one is removed so the extension links the archive.
step "building libpq"
pg=$(src postgresql-15)
(cd "$pg" && run ./configure --prefix="$prefix" --with-includes="$prefix/include" --with-libraries="$prefix/lib" --with-openssl --without-readline --without-icu --without-gssapi \
  --without-ldap --without-zlib --without-lz4 --without-zstd --without-llvm --without-libxml --without-pam \
  --without-perl --without-python --without-tcl --without-selinux --without-systemd CFLAGS="-O2 -fPIC")
run make -C "$pg/src/backend" generated-headers  # errcodes.h and the like, which src/common includes
for dir in src/include src/common src/port src/interfaces/libpq; do run make -C "$pg/$dir" -j "$jobs"; done
for dir in src/include src/interfaces/libpq; do run make -C "$pg/$dir" install; done
cp "$pg/src/common/libpgcommon_shlib.a" "$pg/src/port/libpgport_shlib.a" "$prefix/lib/"
rm -f "$prefix"/lib/libpq.so*

echo "$stamp" >"$prefix/.stamp"
step "done: $(du -sh "$prefix" | cut -f1) in $prefix"
