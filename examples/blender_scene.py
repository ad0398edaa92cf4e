"""Scene helpers that run inside Blender (the bpy module): a camera from the engine's camera JSON,
Cycles set up for silhouettes, renders read back as arrays. Used by the example runner and the tests."""

from __future__ import annotations

import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from refine_protocol.messages import CAMERA_FIELDS, MATRIX_WORLD, RENDER_FIELDS  # noqa: E402


def make_camera(scene: bpy.types.Scene, fields: dict) -> bpy.types.Object:
    """A scene camera from Blender camera fields (the engine's camera JSON)."""
    data = bpy.data.cameras.new("RefineCamera")
    obj = bpy.data.objects.new("RefineCamera", data)
    scene.collection.objects.link(obj)
    scene.camera = obj
    obj.matrix_world = Matrix(fields[MATRIX_WORLD])
    for name in CAMERA_FIELDS:
        if name in fields:
            setattr(data, name, fields[name])
    for name in RENDER_FIELDS:
        if name in fields:
            setattr(scene.render, name, fields[name])
    return obj


def setup_cycles(scene: bpy.types.Scene, samples: int = 16) -> None:
    """Cycles on the CPU with a transparent film (RGBA PNG whose alpha is the silhouette), a sun
    and a grey world."""
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


def render_rgba(path: str | Path) -> np.ndarray:
    """Render the scene to `path`; returns (H, W, 4) float32 with row 0 at the top."""
    scene = bpy.context.scene
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return load_rgba(path)


def load_rgba(path: str | Path) -> np.ndarray:
    img = bpy.data.images.load(str(path), check_existing=False)
    w, h = img.size
    px = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(px)
    bpy.data.images.remove(img)
    return px.reshape(h, w, 4)[::-1]  # Blender stores the bottom row first


def save_rgb(path: str | Path, rgb: np.ndarray) -> None:
    """Write (H, W, 3) floats in [0, 1] (row 0 at the top) as a PNG through Blender."""
    h, w = rgb.shape[:2]
    img = bpy.data.images.new("out", w, h, alpha=True)
    rgba = np.concatenate([rgb, np.ones((h, w, 1))], -1)[::-1].astype(np.float32)
    img.pixels.foreach_set(rgba.ravel())
    img.filepath_raw, img.file_format = str(path), "PNG"
    img.save()
    bpy.data.images.remove(img)
