"""Helpers that run inside Blender (the bpy wheel) for the tests and the example generator.

Usage: <blender-venv>/bin/python tests/blender/scene_tools.py project|render IN.json OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from blender_scene import make_camera, setup_cycles  # noqa: E402


def project(fields: dict, points: list) -> list:
    """Pixel u, v and depth of world points through Blender's own world_to_camera_view."""
    scene = bpy.context.scene
    cam = make_camera(scene, fields)
    bpy.context.view_layer.update()
    pct = scene.render.resolution_percentage / 100
    w, h = int(scene.render.resolution_x * pct), int(scene.render.resolution_y * pct)
    out = []
    for p in points:
        x, y, z = world_to_camera_view(scene, cam, Vector(p))
        out.append([x * w, (1 - y) * h, z])
    return out


def render(fields: dict, mesh_path: str, out_png: str, samples: int = 16) -> None:
    """Cycles render (CPU) of an OBJ with a transparent film: an RGBA photo whose alpha is the silhouette."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.wm.obj_import(filepath=mesh_path, forward_axis="Y", up_axis="Z")
    make_camera(scene, fields)
    setup_cycles(scene, samples)
    scene.render.filepath = out_png
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    mode, src, dst = sys.argv[1:4]
    job = json.loads(open(src).read())
    if mode == "project":
        with open(dst, "w") as f:
            json.dump(project(job["camera"], job["points"]), f)
    elif mode == "render":
        render(job["camera"], job["mesh"], dst, job.get("samples", 16))
