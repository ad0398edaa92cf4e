"""The reference-sheet example, headless, as a modeler runs it: Blender (the bpy module) with the
REFINE extension installed from its zip; the coarse cow imported and two reference images
(examples/cow/views/: front and side, with alpha) placed as image empties, as Add > Image >
Reference makes them; no photo, no camera. Refine Mesh fits the cow to both pictures at once.

    .venv-blender/bin/python examples/run_views_in_blender.py ZIP ENGINE_PYTHON OUT_DIR

Writes OUT_DIR/refined_views.blend (the cow with its "REFINE" shape key and the two image empties)
and OUT_DIR/views_before_after.png: per view (rows), Cycles renders through the view's camera
before | after over the picture's silhouette (yellow = both, red = mesh only, green = picture only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from blender_scene import load_rgba, make_camera, render_rgba, save_rgb  # noqa: E402
from run_in_blender import overlay, refine, start  # noqa: E402


def main() -> int:
    zip_path, engine_python, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    addon, cow = start(zip_path, engine_python)
    scene = bpy.context.scene
    empties = [_image_empty(scene, placed) for placed in json.loads((HERE / "cow" / "views" / "views.json").read_text())]
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj == cow)
    bpy.context.view_layer.objects.active = cow

    session = refine(addon, cow)
    verts = (
        np.array([v.co[:] for v in cow.data.vertices]) @ np.array(cow.matrix_world)[:3, :3].T + np.array(cow.matrix_world)[:3, 3]
    )
    rows, said = [], []
    key = cow.data.shape_keys.key_blocks["REFINE"]
    for empty in empties:
        view = addon.reference_views.view_of(empty, verts)
        picture = load_rgba(HERE / "cow" / "views" / empty.data.name)[..., 3]
        picture = picture[:, ::-1] if view.flip[0] else picture
        camera = make_camera(scene, view.camera)
        key.mute = True
        before = render_rgba(out / f"render_{empty.name}_before.png")[..., 3]
        key.mute = False
        after = render_rgba(out / f"render_{empty.name}_after.png")[..., 3]
        bpy.data.objects.remove(camera)
        gap = np.ones((picture.shape[0], 4, 3), np.float32)
        rows.append(np.concatenate([overlay(before, picture), gap, overlay(after, picture), gap], 1))
        rows.append(np.ones((4, rows[-1].shape[1], 3), np.float32))
        said.append(f"{empty.name}: {_iou(before, picture):.3f} -> {_iou(after, picture):.3f}")
    save_rgb(out / "views_before_after.png", np.concatenate(rows, 0))
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "refined_views.blend"))
    print(
        f"{session.summary()}\nrefined '{cow.name}' against {len(empties)} reference images in "
        f"{session.report.seconds:.1f} s on {session.report.device}; silhouette IoU (Cycles renders through each "
        f"view) {'; '.join(said)}\nwrote {out / 'refined_views.blend'} and {out / 'views_before_after.png'}"
    )
    return 0


def _image_empty(scene: bpy.types.Scene, placed: dict) -> bpy.types.Object:
    """An image empty holding a reference picture, where views.json places it."""
    image = bpy.data.images.load(str(HERE / "cow" / "views" / placed["image"]))
    empty = bpy.data.objects.new(Path(placed["image"]).stem.capitalize(), None)
    scene.collection.objects.link(empty)
    empty.empty_display_type, empty.data, empty.empty_display_size = "IMAGE", image, placed["size"]
    matrix = Matrix(placed["matrix"]).to_4x4()
    matrix.translation = placed["location"]
    empty.matrix_world = matrix
    return empty


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a > 0.5) & (b > 0.5)).sum() / max(((a > 0.5) | (b > 0.5)).sum(), 1))


if __name__ == "__main__":
    sys.exit(main())
