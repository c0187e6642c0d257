#!/usr/bin/env bash
# The backfill that the client-CPU benchmarks measure: this tree's wheel (scripts/build_wheel.sh),
# installed as users install it (pip, not editable) into build/bench-wheel/venv. Prints that venv's
# python on stdout; everything else goes to stderr.
#
# An editable install is what a developer runs, not a user: it loads the distribution's shared libcurl
# (with GnuTLS, Kerberos, LDAP and their dependencies, ~8 ms of relocations a start) where the wheel has
# a static curl, and it finds the package through the editable finder.
# Usage: scripts/bench_venv.sh [python]   (default .venv/bin/python; `make bench` passes the result as
#        --backfill-python to bench/e2e_bench.py and bench/github_bench.py)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-.venv/bin/python}
py=$(cd "$(dirname "$py")" && pwd)/$(basename "$py")
tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
newest_wheel() { ls -t wheelhouse/backfill-*-"$tag"-"$tag"-manylinux_*.whl 2>/dev/null | head -1; }
whl=$(newest_wheel)
# Built again unless a wheel is newer than every source it is made of (a rebuild takes minutes).
if [[ -z $whl ]] || [[ -n $(find cpp python CMakeLists.txt pyproject.toml scripts/build_deps.sh -newer "$whl" \
    -type f -not -path '*/__pycache__/*' -print -quit) ]]; then
  bash scripts/build_wheel.sh "$py" >&2
  whl=$(newest_wheel)
fi
venv=$PWD/build/bench-wheel/venv
[[ -x $venv/bin/python ]] || "$py" -m venv "$venv"
pip=("$venv/bin/pip" install -q --disable-pip-version-check)
"${pip[@]}" "$whl" >&2                             # its dependencies, the first time
"${pip[@]}" --force-reinstall --no-deps "$whl" >&2  # this build, even at an unchanged version
echo "$venv/bin/python"
