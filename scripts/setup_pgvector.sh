#!/usr/bin/env bash
# Installs PostgreSQL 15 with the pgvector extension for the pgvector sink's tests and benchmark,
# idempotently and quietly. Debian 12 packages PostgreSQL but not pgvector: pgvector is built from
# Debian's own orig tarball (checked against its sha256) with postgresql-server-dev-15 and installed
# into the server's extension directory once. Called by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PG=15
PGVECTOR_VERSION=0.8.0
PGVECTOR_SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
PGVECTOR_URL=http://deb.debian.org/debian/pool/main/p/pgvector/pgvector_${PGVECTOR_VERSION}.orig.tar.gz

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"

ext_dir=/usr/share/postgresql/$PG/extension
if [[ -f $ext_dir/vector--$PGVECTOR_VERSION.sql && -f /usr/lib/postgresql/$PG/lib/vector.so ]]; then
  exit 0
fi

missing=()
for p in postgresql-$PG postgresql-server-dev-$PG libpq-dev curl ca-certificates; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
log=$(mktemp)
fail() { tail -n 30 "$log" >&2; echo "setup: $* (full log: $log)" >&2; exit 1; }
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1 ||
    fail "apt-get failed"
fi

echo "setup: building pgvector $PGVECTOR_VERSION for PostgreSQL $PG"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL -o "$work/pgvector.tar.gz" "$PGVECTOR_URL" >"$log" 2>&1 || fail "cannot download $PGVECTOR_URL"
echo "$PGVECTOR_SHA256  $work/pgvector.tar.gz" | sha256sum -c --quiet - >"$log" 2>&1 ||
  fail "pgvector tarball does not match its sha256 ($PGVECTOR_SHA256)"
tar -xzf "$work/pgvector.tar.gz" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'pgvector*' | head -1)
# OPTFLAGS="": no -march=native, so the library runs on any x86-64 the tests land on.
make -C "$src" -j "${JOBS:-2}" PG_CONFIG=/usr/lib/postgresql/$PG/bin/pg_config OPTFLAGS="" >"$log" 2>&1 ||
  fail "building pgvector failed"
$SUDO make -C "$src" PG_CONFIG=/usr/lib/postgresql/$PG/bin/pg_config OPTFLAGS="" install >"$log" 2>&1 ||
  fail "installing pgvector failed"
rm -f "$log"
echo "setup: pgvector $PGVECTOR_VERSION installed"
