"""The whole stack on the bundled example, headless: Blender (the bpy module) with the REFINE
extension installed from its zip, refining examples/cow against the photo through a real engine.

    .venv-blender/bin/python examples/run_in_blender.py ZIP ENGINE_PYTHON OUT_DIR

Writes OUT_DIR/refined.blend (the cow with its "REFINE" shape key) and OUT_DIR/before_after.png
(Cycles renders of the mesh before and after over the photo's silhouette: yellow = both,
red = mesh only, green = photo only).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import bpy
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from blender_scene import load_rgba, make_camera, render_rgba, save_rgb, setup_cycles  # noqa: E402

PKG = "bl_ext.user_default.refine_mesh"


def overlay(mesh_alpha: np.ndarray, photo_alpha: np.ndarray) -> np.ndarray:
    pred, target = mesh_alpha > 0.5, photo_alpha > 0.5
    return (np.stack([pred, target, np.zeros_like(target)], -1) * 0.9 + 0.08).astype(np.float32)


def main() -> int:
    zip_path, engine_python, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.python, prefs.engine_root = engine_python, str(HERE.parent)
    importlib.import_module(f"{PKG}.batch")  # the headless helpers (print_progress)
    addon = sys.modules[PKG]

    scene = bpy.context.scene
    make_camera(scene, json.loads((HERE / "cow" / "camera.json").read_text()))
    setup_cycles(scene, samples=8)
    bpy.ops.wm.obj_import(filepath=str(HERE / "cow" / "coarse.obj"), forward_axis="Y", up_axis="Z")
    cow = bpy.context.selected_objects[0]
    bpy.context.view_layer.objects.active = cow
    photo = bpy.data.images.load(str(HERE / "cow" / "photo.png"))
    settings = addon.properties.scene_settings(scene)
    settings.image = photo  # what an artist picks in the panel

    before = render_rgba(out / "render_before.png")[..., 3]
    report = addon.session.run_blocking(
        bpy.context,
        cow,
        addon.preferences.engine_config(bpy.context),
        addon.session.Inputs.from_panel(scene),
        addon.batch.print_progress(cow.name),
    )
    after = render_rgba(out / "render_after.png")[..., 3]
    bpy.ops.refine.stop_engine()

    photo_alpha = load_rgba(HERE / "cow" / "photo.png")[..., 3]
    gap = np.ones((photo_alpha.shape[0], 4, 3), np.float32)
    save_rgb(out / "before_after.png", np.concatenate([overlay(before, photo_alpha), gap, overlay(after, photo_alpha)], 1))
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "refined.blend"))

    def iou(a: np.ndarray) -> float:
        return float(((a > 0.5) & (photo_alpha > 0.5)).sum() / ((a > 0.5) | (photo_alpha > 0.5)).sum())

    print(
        f"refined '{cow.name}' in {report['iterations_run']} iterations ({report['seconds']['total']:.1f} s on {report['device']}); "
        f"silhouette IoU in Cycles renders {iou(before):.3f} -> {iou(after):.3f}\n"
        f"wrote {out / 'refined.blend'} (shape key 'REFINE') and {out / 'before_after.png'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
