from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Tests compare runs bit for bit (same seed, CLI against batch against server): one thread count
# for every engine they start, as the engine would otherwise follow the machine's load.
os.environ.setdefault("REFINE_THREADS", "2")
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


def uv_sphere(segments: int = 32, rings: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Blender's UV sphere (radius 1): the poles and rings - 1 rings of `segments` vertices, the
    quads split in two; outward-facing triangles."""
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack(
        [
            np.outer(np.sin(theta), np.cos(phi)),
            np.outer(np.sin(theta), np.sin(phi)),
            np.repeat(np.cos(theta)[:, None], segments, 1),
        ],
        -1,
    )
    verts = np.concatenate([[[0.0, 0.0, 1.0]], ring.reshape(-1, 3), [[0.0, 0.0, -1.0]]])
    j = np.arange(segments)
    k = (j + 1) % segments
    bottom, last_ring = len(verts) - 1, 1 + (rings - 2) * segments
    faces = [np.stack([np.zeros_like(j), 1 + j, 1 + k], 1), np.stack([np.full_like(j, bottom), last_ring + k, last_ring + j], 1)]
    for r in range(rings - 2):
        a, b = 1 + r * segments + j, 1 + r * segments + k
        faces += [np.stack([a, a + segments, b + segments], 1), np.stack([a, b + segments, b], 1)]
    return verts, np.concatenate(faces)
