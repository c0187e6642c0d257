#!/usr/bin/env bash
# The wheel on a bare machine: a Debian root filesystem (debootstrap, minbase) with python3 and nothing
# else (no compiler, no -dev package, no libcurl), the wheel installed there with pip, and the README demo
# run in it. Needs root (chroot) and Debian's package mirror; `make test-wheel-bare`.
# Usage: scripts/test_wheel_bare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[[ $(id -u) -eq 0 ]] || { echo "test-wheel-bare: needs root (chroot); skipped"; exit 0; }
root=$repo/build/bare/rootfs
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
tag=$(python3 -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')  # Debian's python3
whl=$(ls wheelhouse/backfill-*-"$tag"-"$tag"-manylinux_*.whl 2>/dev/null | tail -1)
[[ -n $whl ]] || { echo "test-wheel-bare: no $tag wheel in wheelhouse/ (make wheel)" >&2; exit 1; }

if [[ ! -x $root/usr/bin/python3 ]]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  echo "test-wheel-bare: building a bare Debian $codename with python3 only (debootstrap)"
  rm -rf "$root"
  mkdir -p "$root"
  log=$repo/build/bare/debootstrap.log
  debootstrap --variant=minbase --include=python3,python3-venv "$codename" "$root" http://deb.debian.org/debian \
    >"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
fi
for tool in cc gcc g++ c++ pkg-config; do
  [[ ! -e $root/usr/bin/$tool ]] || { echo "test-wheel-bare: $tool is in the bare root" >&2; exit 1; }
done
compgen -G "$root/usr/lib/*/libcurl.so*" >/dev/null && { echo "test-wheel-bare: libcurl is in the bare root" >&2; exit 1; }

# What pip installs there: the wheel and its one dependency, downloaded here (the chroot has no index).
work=$root/work
rm -rf "$work"
mkdir -p "$work/wheels"
cp "$whl" "$work/wheels/"
python3 -m pip download -q --disable-pip-version-check --only-binary :all: -d "$work/wheels" tqdm >/dev/null
cp -r "$repo/examples" "$work/examples"

mount -t proc proc "$root/proc"
trap 'umount "$root/proc"' EXIT
chroot "$root" /bin/sh -ec '
  cd /work
  python3 -m venv venv
  venv/bin/pip install -q --disable-pip-version-check --no-index --find-links wheels backfill
  venv/bin/backfill run examples/slack-demo.toml --progress log >demo.log 2>&1 || { cat demo.log; exit 1; }
  venv/bin/backfill query examples/slack-demo.toml "root cause of the postgres failover incident" -k 1
'
echo "test-wheel-bare: $(basename "$whl") installed on a bare Debian $codename (python3 only) and the demo verified"
