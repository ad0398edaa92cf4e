"""Helpers that run inside Blender (the bpy wheel) for the tests and the example generator.

Usage: <blender-venv>/bin/python tests/blender/scene_tools.py project|render IN.json OUT
"""

from __future__ import annotations

import json
import sys

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Matrix, Vector

CAMERA_FIELDS = (
    "type",
    "lens",
    "ortho_scale",
    "sensor_width",
    "sensor_height",
    "sensor_fit",
    "shift_x",
    "shift_y",
    "clip_start",
    "clip_end",
)
RENDER_FIELDS = ("resolution_x", "resolution_y", "resolution_percentage", "pixel_aspect_x", "pixel_aspect_y")


def make_camera(scene: bpy.types.Scene, fields: dict) -> bpy.types.Object:
    """A scene camera from Blender camera fields (the engine's camera JSON)."""
    data = bpy.data.cameras.new("RefineCamera")
    obj = bpy.data.objects.new("RefineCamera", data)
    scene.collection.objects.link(obj)
    scene.camera = obj
    obj.matrix_world = Matrix(fields["matrix_world"])
    for name in CAMERA_FIELDS:
        if name in fields:
            setattr(data, name, fields[name])
    for name in RENDER_FIELDS:
        if name in fields:
            setattr(scene.render, name, fields[name])
    return obj


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
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.rotation_euler = (0.6, 0.2, 0.8)
    scene.collection.objects.link(sun)
    world = bpy.data.worlds.new("World")
    world.color = (0.3, 0.3, 0.3)
    scene.world = world
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
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
