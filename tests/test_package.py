"""The engine as a normal Python package: a wheel built with the standard tooling holds `engine`
and `refine_protocol` (nothing else), their pinned dependencies and the `refine-engine` console
script, and runs from wherever it is installed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import ROOT


def test_the_engine_installs_as_a_package_with_its_console_script(tmp_path: Path):
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)]
    subprocess.run(build, check=True, capture_output=True, cwd=tmp_path)  # not the checkout: its build.py shadows `build`
    (wheel,) = tmp_path.glob("refine_engine-0.1.0-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names if not n.startswith("refine_engine-")}
    assert packages == {"engine", "refine_protocol"}, packages
    assert "engine/silhouette/extract.py" in names and "refine_protocol/messages.py" in names
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: torch==2.12.0" in meta and "Requires-Dist: easypytorch3d==0.7.9.post1" in meta
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import engine; print(engine.__file__)"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert where.stdout.strip().startswith(str(site)), where.stdout
    script = subprocess.run([str(site / "bin" / "refine-engine"), "refine", "--help"], env=env, cwd=tmp_path,
                            capture_output=True, text=True)  # fmt: skip
    assert script.returncode == 0 and "--find-silhouette" in script.stdout, script.stderr
