#!/usr/bin/env bash
# Tests the artefact users get: the wheel in wheelhouse/ for this Python, installed (not editable) into a
# fresh virtual environment, used from an empty folder so that nothing of the source tree is importable.
# Runs the README demo with it, then the whole Python test suite against it, and prints the import time.
# Usage: scripts/test_wheel.sh [python]   (default: .venv/bin/python's version; `make test-wheel`)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
py=${1:-.venv/bin/python}
tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
whl=$(ls wheelhouse/backfill-*-"$tag"-"$tag"-manylinux_*.whl 2>/dev/null | tail -1)
[[ -n $whl ]] || { echo "test-wheel: no $tag wheel in wheelhouse/ (make wheel)" >&2; exit 1; }

venv=$repo/build/wheel-test/venv
empty=$repo/build/wheel-test/empty
rm -rf "$venv" "$empty"
mkdir -p "$empty"
"$py" -m venv "$venv"
log=$repo/build/wheel-test/install.log
if ! "$venv/bin/pip" install -q --disable-pip-version-check "$whl[test,notebook]" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "test-wheel: installing $whl failed (log: $log)" >&2
  exit 1
fi
cd "$empty"
where=$("$venv/bin/python" -c 'import backfill; print(backfill.__file__)')
[[ $where == "$venv"/* ]] || { echo "test-wheel: backfill imported from $where, not the installed wheel" >&2; exit 1; }
import_ms=$("$venv/bin/python" - <<'PY'
import statistics, subprocess, sys
code = "import time; t = time.perf_counter(); import backfill; print((time.perf_counter() - t) * 1000)"
runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(5)]
print(f"{statistics.median(runs):.0f}")
PY
)
echo "test-wheel: $(basename "$whl") ($(du -k "$repo/$whl" | cut -f1) KiB) imports in ${import_ms} ms (median of 5)"

# The README demo, with the installed console script, from an empty folder.
"$venv/bin/python" "$repo/scripts/wheel_demo.py" "$repo"

# Every Python test, against the installed package (the tests' own helpers come from tests/python).
"$venv/bin/python" -m pytest -q -p no:cacheprovider -c "$repo/pyproject.toml" --rootdir "$repo" "$repo/tests/python"
