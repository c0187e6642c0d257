#!/usr/bin/env python3
"""Writes scripts/deps.lock: the Debian source packages a release wheel links statically, pinned.

On Debian, scripts/build_deps.sh takes these sources from apt (`apt-get source`, verified by the system's
keyring). Where there is no apt (the manylinux and musllinux images cibuildwheel builds in), it downloads
the files this lock names from Debian's archive and checks their SHA-256: the same upstream tarball and
the same Debian patches (security fixes included) as a Debian host builds from.

Usage: scripts/deps_lock.py [--suite bookworm]   (run when Debian publishes a fix; commit the lock)
"""

from __future__ import annotations

import argparse
import lzma
import re
import urllib.request
from pathlib import Path

MIRROR = "https://deb.debian.org"
# Source package, and why it is built here rather than taken from the build image.
PACKAGES = {
    "curl": "HTTP client, configured with only HTTP(S), HTTP/2 and zlib",
    "libzip": "Slack export zips, deflate only",
    "simdjson": "the parser",
    "libzstd": "journal page compression",
    "openssl": "TLS; the images' OpenSSL has no static archive or is older than 3.0",
    "xxhash": "content hashes",
    "spdlog": "logging, header-only",
    "fmtlib": "formatting, header-only",
    "postgresql-15": "libpq for the pgvector sink, without Kerberos, LDAP or ICU",
}


def debian_version_key(version: str) -> tuple[object, ...]:
    """Sort key of a Debian version (epoch, upstream, revision) as dpkg --compare-versions orders them."""
    epoch, _, rest = version.rpartition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")

    def part(s: str) -> tuple[object, ...]:
        out: list[object] = []
        for text, digits in re.findall(r"(\D*)(\d*)", s):
            # '~' sorts before everything, even the end of the string; letters before other symbols.
            out.append(tuple(-1 if c == "~" else ord(c) if c.isalpha() else ord(c) + 256 for c in text) + (0,))
            out.append(int(digits or 0))
        return tuple(out)

    return int(epoch or 0), part(upstream), part(revision)


def sources(suite: str) -> list[tuple[str, str]]:
    """(archive root, Sources text) of a suite, its updates and its security suite."""
    out = []
    for root, dist in ((f"{MIRROR}/debian", suite), (f"{MIRROR}/debian", f"{suite}-updates"),
                       (f"{MIRROR}/debian-security", f"{suite}-security")):
        with urllib.request.urlopen(f"{root}/dists/{dist}/main/source/Sources.xz", timeout=120) as r:
            out.append((root, lzma.decompress(r.read()).decode()))
    return out


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def newest(suite: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Per package: the newest version in the suite whose orig and debian tarballs (url, sha256) the
    archive serves (an index can name a security upload before every mirror has its files)."""
    candidates: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {}
    for root, text in sources(suite):
        for para in text.split("\n\n"):
            name = re.search(r"^Package: (.+)$", para, re.M)
            if not name or name.group(1) not in PACKAGES:
                continue
            version = re.search(r"^Version: (.+)$", para, re.M).group(1)  # type: ignore[union-attr]
            directory = re.search(r"^Directory: (.+)$", para, re.M).group(1)  # type: ignore[union-attr]
            block = re.search(r"^Checksums-Sha256:\n((?: .+\n?)+)", para, re.M).group(1)  # type: ignore[union-attr]
            files = [line.split() for line in block.strip().splitlines()]
            tarballs = [(f"{root}/{directory}/{f}", sha) for sha, _, f in files
                        if re.search(r"\.(orig|debian)\.tar\.\w+$", f)]
            candidates.setdefault(name.group(1), []).append((version, tarballs))
    best: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for key, found in candidates.items():
        for version, tarballs in sorted(found, key=lambda c: debian_version_key(c[0]), reverse=True):
            if all(reachable(url) for url, _ in tarballs):
                best[key] = (version, tarballs)
                break
    missing = sorted(set(PACKAGES) - set(best))
    if missing:
        raise SystemExit(f"deps_lock: {', '.join(missing)} not found in Debian {suite}")
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="bookworm")
    args = ap.parse_args()
    lines = [f"# Written by scripts/deps_lock.py from Debian {args.suite}: package version url sha256",
             "# (each package: its orig tarball, then its debian tarball with the patches applied on top)."]
    for name, (version, tarballs) in sorted(newest(args.suite).items()):
        lines += [f"{name} {version} {url} {sha}" for url, sha in sorted(tarballs, key=lambda t: ".debian." in t[0])]
    out = Path(__file__).with_name("deps.lock")
    out.write_text("\n".join(lines) + "\n")
    print(f"deps_lock: wrote {out} ({len(PACKAGES)} packages)")


if __name__ == "__main__":
    main()
