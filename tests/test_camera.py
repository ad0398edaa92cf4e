"""The camera model against Blender itself: world_to_camera_view and a Cycles render."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.camera import BlenderCamera, look_at, project
from engine.errors import InputError
from engine.preview import silhouette
from engine.render.view import mask_iou

from .conftest import ico_sphere, run_blender

VARIANTS = [
    {},
    dict(resolution_x=200, resolution_y=300),
    dict(shift_x=0.1, shift_y=-0.2, resolution_x=200, resolution_y=300),
    dict(sensor_fit="VERTICAL", sensor_height=20.0, shift_x=0.07),
    dict(sensor_fit="HORIZONTAL", resolution_x=200, resolution_y=300),
    dict(pixel_aspect_x=2.0, pixel_aspect_y=1.0, shift_x=0.1, shift_y=0.15),
    dict(pixel_aspect_x=1.0, pixel_aspect_y=1.5, sensor_fit="VERTICAL", shift_y=0.1, shift_x=-0.05),
    dict(pixel_aspect_x=1.0, pixel_aspect_y=1.5, resolution_x=200, resolution_y=300, shift_y=0.1),
    dict(type="ORTHO", ortho_scale=3.0, shift_x=0.05, resolution_x=200, resolution_y=300),
    dict(type="ORTHO", ortho_scale=3.0, pixel_aspect_x=1.3, sensor_fit="VERTICAL", shift_y=-0.1),
    dict(resolution_percentage=50, lens=35.0),
]


def _camera(**overrides) -> BlenderCamera:
    base = look_at(np.array([0.3, -0.2, 0.1]), 35, 20, 6.0, (320, 240)).to_dict()
    m = np.array(base["matrix_world"])
    m[:3, :3] *= 1.7  # object scale inside matrix_world must not change the projection
    base["matrix_world"] = m.tolist()
    return BlenderCamera.from_dict({**base, **overrides})


def test_projection_matches_blender_world_to_camera_view(tmp_path):
    points = np.random.default_rng(0).normal(0, 0.8, (40, 3)) + np.array([0.3, -0.2, 0.1])
    for i, variant in enumerate(VARIANTS):
        cam = _camera(**variant)
        out = tmp_path / f"proj{i}.json"
        run_blender("project", {"camera": cam.to_dict(), "points": points.tolist()}, out, tmp_path)
        expected = np.array(json.loads(out.read_text()))
        ours = project(cam, torch.tensor(points)).numpy()
        # Blender computes in float32: agreement to a thousandth of a pixel.
        np.testing.assert_allclose(ours, expected, atol=1e-3, err_msg=str(variant))


def test_bundled_photo_alpha_matches_our_silhouette_of_the_ground_truth(example):
    """examples/cow/photo.png was rendered by Cycles (examples/make_example.py)."""
    ours = silhouette(example["gt_verts"], example["gt_faces"], example["camera"])
    assert mask_iou(ours, example["mask"] > 0.5) > 0.998


@pytest.mark.parametrize(
    "variant",
    [
        dict(type="ORTHO", ortho_scale=2.5, resolution_x=120, resolution_y=90, shift_x=0.1),
        dict(resolution_x=96, resolution_y=128, shift_y=-0.1, pixel_aspect_x=1.5, lens=40.0),
    ],
)
def test_cycles_render_matches_our_silhouette(tmp_path, variant):
    from engine.io import load_image, save_mesh

    verts, faces = ico_sphere(3)
    verts = verts * np.array([0.9, 0.5, 0.7]) + np.array([0.3, -0.2, 0.1])
    mesh = tmp_path / "blob.obj"
    save_mesh(mesh, verts, faces)
    cam = _camera(**variant)
    png = tmp_path / "render.png"
    run_blender("render", {"camera": cam.to_dict(), "mesh": str(mesh), "samples": 4}, png, tmp_path)
    alpha = load_image(png).mask
    assert alpha.shape == (cam.image_size_wh[1], cam.image_size_wh[0])
    assert mask_iou(silhouette(verts, faces, cam), alpha > 0.5) > 0.98


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"matrix_world": None}, "missing field 'matrix_world'"),
        ({"matrix_world": [[1, 0], [0, 1]]}, "4x4"),
        ({"matrix_world": np.zeros((4, 4)).tolist()}, "singular"),
        ({"lens": -1.0}, "'lens' must be > 0"),
        ({"type": "PANO"}, "'type' must be one of"),
        ({"sensor_fit": 3}, "'sensor_fit' must be a string"),
        ({"resolution_x": 10.5}, "'resolution_x' must be an integer"),
        ({"shift_x": float("nan")}, "'shift_x' must be a finite number"),
        ({"focal": 50}, r"unknown field\(s\) focal"),
        ({"clip_start": 10.0, "clip_end": 1.0}, "'clip_end' must be greater"),
    ],
)
def test_bad_camera_fields_are_named(fields, message):
    data = {k: v for k, v in {"matrix_world": np.eye(4).tolist(), **fields}.items() if v is not None}
    with pytest.raises(InputError, match=message):
        BlenderCamera.from_dict(data)
