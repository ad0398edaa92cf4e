"""Build the installable extension zip (manifest at its root) into dist/ and validate it with
Blender's own extension code (it ships inside the bpy wheel).

    python build.py [--blender-python .venv-blender/bin/python]

Exit status 1 if Blender's validator rejects the zip.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON = ROOT / "refine_addon"


def addon_files() -> list[tuple[Path, str]]:
    """(source, name in the zip): the add-on's modules, with the vendored wire-format package
    (refine_addon/refine_protocol is a link to the one the engine uses: one definition)."""
    files = [(ROOT / "blender_manifest.toml", "blender_manifest.toml")]
    for folder, dirs, names in os.walk(ADDON, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = Path(folder) / name
                files.append((path, path.relative_to(ADDON).as_posix()))
    return files


def build(out_dir: Path = ROOT / "dist") -> Path:
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for src, name in addon_files():
            zf.write(src, name)  # follows the link: the zip holds real files
    return zip_path


def blender_validator(blender_python: Path) -> Path | None:
    site = blender_python.parent.parent / "lib"
    found = sorted(site.glob("python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return found[-1] if found else None


def validate(zip_path: Path, blender_python: Path) -> int:
    validator = blender_validator(blender_python)
    if validator is None:
        print(f"build: Blender's extension validator not found next to {blender_python}; zip not validated", file=sys.stderr)
        return 0
    proc = subprocess.run([str(blender_python), str(validator), "validate", str(zip_path)], capture_output=True, text=True)
    print((proc.stdout + proc.stderr).strip())
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blender-python", type=Path, default=ROOT / ".venv-blender" / "bin" / "python")
    ap.add_argument("--out", type=Path, default=ROOT / "dist")
    args = ap.parse_args(argv)
    zip_path = build(args.out)
    print(f"built {zip_path}")
    return validate(zip_path, args.blender_python)


if __name__ == "__main__":
    sys.exit(main())
