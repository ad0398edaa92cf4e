from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cow"
BLENDER_PYTHON = Path(os.environ.get("REFINE_BLENDER_PYTHON", ROOT / ".venv-blender" / "bin" / "python"))
SCENE_TOOLS = ROOT / "tests" / "blender" / "scene_tools.py"


def run_blender(mode: str, job: dict, out: Path, tmp_path: Path) -> None:
    """Run tests/blender/scene_tools.py inside real Blender (the bpy wheel's interpreter)."""
    assert BLENDER_PYTHON.exists(), f"Blender's Python (bpy wheel) not found at {BLENDER_PYTHON}; run the README's test command"
    src = tmp_path / f"{mode}_job.json"
    src.write_text(json.dumps(job))
    proc = subprocess.run(
        [str(BLENDER_PYTHON), str(SCENE_TOOLS), mode, str(src), str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The engine CLI in its own process, as users run it."""
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def example():
    from engine.io import load_camera, load_image, load_mesh

    verts, faces = load_mesh(EXAMPLE / "coarse.obj")
    photo = load_image(EXAMPLE / "photo.png")
    rgb, mask = photo.rgb, photo.mask
    gt_verts, gt_faces = load_mesh(EXAMPLE / "ground_truth.obj")
    return {
        "verts": verts,
        "faces": faces,
        "rgb": rgb,
        "mask": mask,
        "camera": load_camera(EXAMPLE / "camera.json"),
        "gt_verts": gt_verts,
        "gt_faces": gt_faces,
    }


def ico_sphere(level: int = 2) -> tuple[np.ndarray, np.ndarray]:
    from pytorch3d.utils import ico_sphere as p3d_ico

    m = p3d_ico(level)
    return m.verts_packed().numpy().astype(np.float64), m.faces_packed().numpy()
