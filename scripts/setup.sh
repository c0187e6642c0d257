#!/usr/bin/env bash
# Sets up a development environment, idempotently and quietly:
#   1. the system libraries of the C++ core (Debian packages), installed only when missing;
#   2. .venv with the build tools and an editable install of backfill (rebuilt only when the C++ or
#      build files changed since the last setup).
# Usage: scripts/setup.sh            (prints one line when there is nothing to do)
#        scripts/setup.sh --packages  (the Debian packages only: what scripts/build_wheel.sh needs)
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(build-essential pkg-config libcurl4-openssl-dev libsimdjson-dev libspdlog-dev libfmt-dev
              libsqlite3-dev libgtest-dev libxxhash-dev libzip-dev libzstd-dev zstd libnghttp2-dev libssl-dev libpq-dev clang-format python3-venv
              python3-dev)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-venv/python3-dev only matter for Debian's python; a python with venv and headers is enough.
if python3 -c 'import venv, sysconfig, os; assert os.path.exists(sysconfig.get_paths()["include"] + "/Python.h")' 2>/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == python3-venv || "$p" == python3-dev ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp)
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    echo "setup: apt-get failed (full log: $apt_log)" >&2
    exit 1
  fi
  rm -f "$apt_log"
fi

[[ "${1:-}" == --packages ]] && exit 0

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python

# Rebuild only when an input of the build changed.
stamp_file=.venv/.backfill-build-stamp
stamp=$( (cat pyproject.toml CMakeLists.txt; find cpp -type f \( -name '*.cpp' -o -name '*.hpp' -o -name 'CMakeLists.txt' \) -print0 \
          | sort -z | xargs -0 cat) | sha256sum | cut -d' ' -f1)
if [[ -f $stamp_file && "$(cat "$stamp_file")" == "$stamp" ]] && "$VPY" -c 'import backfill._core' 2>/dev/null; then
  echo "setup: up to date"
  exit 0
fi

echo "setup: building backfill (editable) into .venv"
log=.venv/setup.log
: > "$log"
pip_install() {
  if ! "$VPY" -m pip install -q --disable-pip-version-check "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "setup: pip install $* failed (full log: $log)" >&2
    exit 1
  fi
}
pip_install "scikit-build-core>=0.11" "pybind11>=3" "cmake>=3.24" ninja
# CI builds the extension with warnings as errors too (the C++ tests' builds get it from the Makefile).
werror=()
[[ "${CI:-}" == "true" ]] && werror=(--config-settings=cmake.define.BACKFILL_WERROR=ON)
pip_install --no-build-isolation "${werror[@]+"${werror[@]}"}" -e ".[test,notebook]"
echo "$stamp" > "$stamp_file"
echo "setup: done"
