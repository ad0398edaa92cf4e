"""What the Blender scenarios check with (inside the bpy wheel's Python): the installed add-on,
renders read back as silhouettes, IoU, exact snapshots of a mesh and its shape keys."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
from mathutils import Matrix, Vector

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from blender_scene import load_rgba, render_rgba  # noqa: E402

PKG = "bl_ext.user_default.refine_mesh"


def addon():
    importlib.import_module(f"{PKG}.batch")  # the headless entry point, imported by batch scripts only
    return sys.modules[PKG]


def base_coords(obj) -> np.ndarray:
    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def render_alpha(path: Path) -> np.ndarray:
    return render_rgba(path)[..., 3]


def load_alpha(path: Path) -> np.ndarray:
    return load_rgba(path)[..., 3]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum() / max((a | b).sum(), 1))


def snapshot(obj) -> dict:
    keys = obj.data.shape_keys
    blocks = {} if keys is None else {k.name: (np.array([p.co[:] for p in k.data], np.float32), k.value) for k in keys.key_blocks}
    return {"base": base_coords(obj), "keys": blocks}


def same(a: dict, b: dict) -> bool:
    return (
        np.array_equal(a["base"], b["base"])
        and a["keys"].keys() == b["keys"].keys()
        and all(np.array_equal(a["keys"][k][0], b["keys"][k][0]) and a["keys"][k][1] == b["keys"][k][1] for k in a["keys"])
    )


def refine_key(obj):
    keys = obj.data.shape_keys
    key = None if keys is None else keys.key_blocks.get("REFINE")
    return None if key is None else np.array([p.co[:] for p in key.data], np.float32)


def look_at_origin(location: tuple) -> Matrix:
    loc = Vector(location)
    return Matrix.Translation(loc) @ (-loc).to_track_quat("-Z", "Y").to_matrix().to_4x4()
