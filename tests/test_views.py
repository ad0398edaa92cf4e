"""Several views of the object (RefineInputs.more_views): the shape refined against every view's
silhouette at once, through the library and the CLI (repeated --image / --camera / --mask)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.metrics import mesh_accuracy
from engine.camera.blender import look_at, look_from
from engine.errors import InputError
from engine.preview import silhouette
from engine.refine import refine
from engine.settings import preset

from .conftest import EXAMPLE, run_cli


@pytest.fixture(scope="module")
def side_view(example):
    """A second exact view of the example, 80 degrees round from the photo's: camera and silhouette."""
    cam, verts = example["camera"], example["gt_verts"]
    centre = (verts.min(0) + verts.max(0)) / 2
    d = np.asarray(cam.location) - centre
    side = look_at(centre, np.degrees(np.arctan2(d[1], d[0])) + 80.0, 15.0, float(np.linalg.norm(d)), cam.image_size_wh)
    return side, silhouette(verts, example["gt_faces"], side).astype(np.float32)


def test_a_second_view_brings_the_shape_closer_to_the_truth(tmp_path, example, side_view):
    """The CLI with two photos and their cameras against the library with one: what is depth in
    the first view is outline in the second."""
    ex, (side, side_mask) = example, side_view
    settings = preset("fast")
    one = refine(ex["verts"], ex["faces"], ex["mask"], ex["camera"], settings)
    (tmp_path / "side.json").write_text(json.dumps(side.to_dict()))
    for name, mask in (("front", ex["mask"]), ("side", side_mask)):
        Image.fromarray((mask * 255).round().astype(np.uint8)).save(tmp_path / f"{name}.png")
    report = tmp_path / "report.json"
    proc = run_cli(
        *("refine", "--mesh", str(EXAMPLE / "coarse.obj"), "--preset", "fast", "--quiet", "--report", str(report)),
        *("--image", str(EXAMPLE / "photo.png"), "--camera", str(EXAMPLE / "camera.json")),
        *("--image", str(tmp_path / "side.png"), "--mask", str(tmp_path / "front.png"), "--mask", str(tmp_path / "side.png")),
        *("--camera", str(tmp_path / "side.json"), "--out", str(tmp_path / "two.obj")),
    )
    assert proc.returncode == 0, proc.stderr
    assert "view 2: silhouette IoU" in proc.stdout
    views = json.loads(report.read_text())["views"]
    assert len(views) == 1 and views[0]["iou_after"] > views[0]["iou_before"] + 0.1
    from engine.io import load_mesh

    two = load_mesh(tmp_path / "two.obj")[0]
    chamfer_one = mesh_accuracy(one.vertices, ex["faces"], ex["gt_verts"], ex["gt_faces"])[0]
    chamfer_two = mesh_accuracy(two, ex["faces"], ex["gt_verts"], ex["gt_faces"])[0]
    assert chamfer_two < 0.8 * chamfer_one


def test_a_view_that_does_not_see_the_object_is_named(example, side_view):
    side, side_mask = side_view
    centre = example["gt_verts"].mean(0)
    away = (np.asarray(side.location) - centre) / np.linalg.norm(np.asarray(side.location) - centre)
    behind = look_from(side, centre + 10 * away, -away, 5.0, np.array([0.0, 0.0, 1.0]))  # looks away from the object
    with pytest.raises(InputError, match="view 2: "):
        refine(example["verts"], example["faces"], example["mask"], example["camera"], preset("fast"),
               more_views=((behind, side_mask, None),))  # fmt: skip
    with pytest.raises(InputError, match="view 3: image: a silhouette"):
        refine(example["verts"], example["faces"], example["mask"], example["camera"], preset("fast"),
               more_views=((side, side_mask, None), (side, None, None)))  # fmt: skip


def test_cli_pairs_views_by_order(tmp_path):
    proc = run_cli(
        *("refine", "--mesh", str(EXAMPLE / "coarse.obj"), "--out", str(tmp_path / "r.obj")),
        *("--image", str(EXAMPLE / "photo.png"), "--image", str(EXAMPLE / "photo.png"), "--camera", str(EXAMPLE / "camera.json")),
    )
    assert proc.returncode == 2 and "several views: one --camera per --image, got 2 images and 1 cameras" in proc.stderr


def test_a_hand_placed_further_view_is_corrected_with_the_shape(example, side_view):
    """The side view's camera placed by hand, 5 degrees pitched and 6 rolled, refine mode: its
    camera is corrected together with the shape and ends closer to the true one; the report gives
    the correction, the result the corrected camera. With fit_views off it is used as given."""
    from engine.camera.pose import CameraCorrection, rotation_between_deg

    ex, (side, side_mask) = example, side_view
    verts = ex["gt_verts"]
    off = CameraCorrection(side, (verts.min(0) + verts.max(0)) / 2, float(np.ptp(verts, axis=0).max()))
    off.set_(orbit=np.radians([5.0, 0.0, 6.0]))
    placed = off.fitted()
    settings = preset("fast").with_overrides(fit_camera="refine")
    args = (ex["verts"], ex["faces"], ex["mask"], ex["camera"])
    result = refine(*args, settings, more_views=((placed, side_mask, None),))
    (view,) = result.report.views
    corrected = result.view_cameras[0]
    assert rotation_between_deg(corrected, side) < 0.8 * rotation_between_deg(placed, side), view["rotation_deg"]
    assert view["rotation_deg"] == pytest.approx(rotation_between_deg(placed, corrected))
    assert view["camera"] == corrected.to_dict() and view["iou_after"] > view["iou_before"] + 0.1
    first = (
        result.report.corrected_camera
    )  # every view's camera moves with the shape: the first (right) shares the error a little
    assert first["camera"] == result.camera.to_dict() and first["rotation_deg"] < 3.0, first["rotation_deg"]
    exact = refine(*args, settings.with_overrides(fit_views=False), more_views=((placed, side_mask, None),))
    assert "camera" not in exact.report.views[0] and exact.view_cameras == (placed,)


def test_cli_reads_further_views_from_a_views_file(tmp_path, example, side_view):
    """--views: a JSON list of views, paths relative to the file; a bad file is named."""
    side, side_mask = side_view
    (tmp_path / "side.json").write_text(json.dumps(side.to_dict()))
    Image.fromarray((side_mask * 255).round().astype(np.uint8)).save(tmp_path / "side.png")
    (tmp_path / "views.json").write_text(json.dumps([{"image": "side.png", "camera": "side.json"}]))
    report = tmp_path / "report.json"
    base = ("refine", "--mesh", str(EXAMPLE / "coarse.obj"), "--image", str(EXAMPLE / "photo.png"))
    proc = run_cli(*base, "--camera", str(EXAMPLE / "camera.json"), "--views", str(tmp_path / "views.json"),
                   *("--preset", "fast", "--iterations", "5", "--quiet", "--report", str(report), "--out", str(tmp_path / "r.obj")))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(report.read_text())["views"]) == 1
    (tmp_path / "bad.json").write_text(json.dumps([{"image": "side.png"}]))
    bad = run_cli(
        *base, "--camera", str(EXAMPLE / "camera.json"), "--views", str(tmp_path / "bad.json"), "--out", str(tmp_path / "b.obj")
    )
    assert bad.returncode == 2 and "views: entry 1 must be an object with 'image' and 'camera'" in bad.stderr
