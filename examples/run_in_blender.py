"""The whole stack on the bundled example, headless, as a new user runs it: Blender (the bpy
module) with the REFINE extension installed from its zip; the coarse cow imported, a plain photo
picked (examples/cow/photo.jpg: a JPEG, no alpha) and no camera in the scene. Refine Mesh with Fit
Camera "Find" through a real engine: the engine finds the camera and the object's silhouette in
the photo, then refines the mesh.

    .venv-blender/bin/python examples/run_in_blender.py ZIP ENGINE_PYTHON OUT_DIR

Writes OUT_DIR/refined.blend (the cow with its "REFINE" shape key, the found camera "Cow REFINE
camera" with the photo behind it, the silhouette "Cow REFINE mask") and OUT_DIR/before_after.png
(Cycles renders through the found camera before and after over the silhouette found in the photo:
yellow = both, red = mesh only, green = photo only).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import bpy
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from blender_scene import render_rgba, save_rgb, setup_cycles  # noqa: E402

PKG = "bl_ext.user_default.refine_mesh"


def overlay(mesh_alpha: np.ndarray, photo_alpha: np.ndarray) -> np.ndarray:
    pred, target = mesh_alpha > 0.5, photo_alpha > 0.5
    return (np.stack([pred, target, np.zeros_like(target)], -1) * 0.9 + 0.08).astype(np.float32)


def start(zip_path: str, engine_python: str) -> tuple[Any, bpy.types.Object]:
    """A fresh Blender with the extension installed from its zip (as Install from Disk does),
    set to start the engine in `engine_python`, Cycles for the renders, and the coarse cow
    imported and active. Returns the add-on's package and the cow."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.python, prefs.engine_root = engine_python, str(HERE.parent)
    importlib.import_module(f"{PKG}.batch")  # the headless helpers (print_progress)
    setup_cycles(bpy.context.scene, samples=8)
    bpy.ops.wm.obj_import(filepath=str(HERE / "cow" / "coarse.obj"), forward_axis="Y", up_axis="Z")
    cow = bpy.context.selected_objects[0]
    cow.name = "Cow"
    bpy.context.view_layer.objects.active = cow
    return sys.modules[PKG], cow


def refine(addon: Any, cow: bpy.types.Object) -> Any:
    """Refine Mesh on the cow with the panel's settings, as the button does (blocking, progress
    printed), then stop the engine. Returns the finished session."""
    session = addon.session.run_blocking(
        bpy.context,
        [cow],
        addon.preferences.engine_config(bpy.context),
        addon.session.Inputs.from_panel(bpy.context.scene),
        addon.batch.print_progress(cow.name),
    )
    bpy.ops.refine.stop_engine()
    return session


def main() -> int:
    zip_path, engine_python, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    addon, cow = start(zip_path, engine_python)
    scene = bpy.context.scene
    settings = addon.properties.scene_settings(scene)
    settings.image = bpy.data.images.load(str(HERE / "cow" / "photo.jpg"))  # what an artist picks in the panel
    settings.fit_camera = addon.refine_protocol.messages.FIT_SEARCH.upper()  # "Find": there is no camera

    session = refine(addon, cow)
    report, found = session.report, _pixels(settings.mask_image)  # the scene now renders through the found camera
    key = cow.data.shape_keys.key_blocks["REFINE"]
    key.mute = True
    before = render_rgba(out / "render_before.png")[..., 3]
    key.mute = False
    after = render_rgba(out / "render_after.png")[..., 3]
    gap = np.ones((found.shape[0], 4, 3), np.float32)
    save_rgb(out / "before_after.png", np.concatenate([overlay(before, found), gap, overlay(after, found)], 1))
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "refined.blend"))

    def iou(a: np.ndarray) -> float:
        return float(((a > 0.5) & (found > 0.5)).sum() / ((a > 0.5) | (found > 0.5)).sum())

    print(
        f"{session.summary()}\nrefined '{cow.name}' in {report.seconds:.1f} s on {report.device}; "
        f"silhouette IoU (Cycles renders through the found camera vs the silhouette found in the photo) "
        f"{iou(before):.3f} -> {iou(after):.3f}\nwrote {out / 'refined.blend'} and {out / 'before_after.png'}"
    )
    return 0


def _pixels(image: bpy.types.Image) -> np.ndarray:
    """A grey image's (H, W) values, row 0 at the top."""
    w, h = image.size
    return np.array(image.pixels[:], np.float32).reshape(h, w, 4)[::-1, :, 0]


if __name__ == "__main__":
    sys.exit(main())
