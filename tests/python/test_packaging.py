"""What a user building or installing backfill sees: one version everywhere, and a source build that
names every missing system library at once with the command that installs them."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import backfill

ROOT = Path(__file__).resolve().parents[2]


def test_one_version_everywhere() -> None:
    out = subprocess.run([sys.executable, "-m", "backfill", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"backfill {backfill.__version__}"
    assert importlib.metadata.version("backfill") == backfill.__version__
    assert f'version = "{backfill.__version__}"' in (ROOT / "pyproject.toml").read_text()


def test_a_build_missing_dependencies_names_them_all_once(tmp_path: Path) -> None:
    cmake = shutil.which("cmake", path=str(Path(sys.executable).parent)) or shutil.which("cmake")
    ninja = shutil.which("ninja", path=str(Path(sys.executable).parent)) or shutil.which("ninja")
    if not cmake or not ninja:
        pytest.skip("cmake and ninja are not installed")
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"), "PKG_CONFIG": str(tmp_path / "no-pkg-config")}
    out = subprocess.run(
        [cmake, "-S", str(ROOT), "-B", str(tmp_path / "build"), "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}",
         "-DBACKFILL_BUILD_PYTHON=OFF", "-DBACKFILL_BUILD_TESTS=OFF"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode != 0
    err = " ".join(out.stderr.split())
    assert "missing a C++20 compiler" in err
    assert "sudo apt-get install g++" in err and "sudo dnf install gcc-c++" in err
    assert err.count("CMake Error") == 1, out.stderr
