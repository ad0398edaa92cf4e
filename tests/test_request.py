"""The refine request as a client builds it (refine_protocol.request.RefineRequest) and as the
engine's server reads it back: every field survives the wire, and a field at its default is not
sent."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.server.requests import Limits, RequestError, parse_refine
from refine_protocol import decode_frame, encode_frame
from refine_protocol.request import HINT_BACKGROUND, RefineRequest, check_settings

from .conftest import EXAMPLE


def test_a_request_reads_back_as_it_was_sent(example):
    camera = json.loads((EXAMPLE / "camera.json").read_text())
    verts, faces = example["verts"], example["faces"]
    half = len(verts) // 2
    request = RefineRequest(
        verts, faces, camera, image=(EXAMPLE / "photo.png").read_bytes(), settings={"preset": "fast", "iterations": 5, "seed": 3},
        exif_orientation=False, parts=[half, len(verts) - half], occluder=(verts[:3] + 10, np.array([[0, 1, 2]])), progress_hz=2.0,
    )  # fmt: skip
    header, blobs = request.to_frame("cow")
    assert "find_silhouette" not in header and header["exif_orientation"] is False  # defaults are left out
    got = parse_refine(decode_frame(encode_frame(header, blobs)), Limits())
    assert (got.job, got.settings.iterations, got.settings.seed) == ("cow", 5, 3)
    assert got.settings.max_size == 160 and got.parts == (half, len(verts) - half) and got.progress_hz == 2.0
    assert got.exif_orientation is False and got.camera.to_dict()["lens"] == camera["lens"]
    np.testing.assert_array_equal(got.verts, verts.astype(np.float32))
    np.testing.assert_array_equal(got.occluder[1], [[0, 1, 2]])


def _hinted(example, hints: np.ndarray, **fields):
    header, blobs = RefineRequest(example["verts"], example["faces"], json.loads((EXAMPLE / "camera.json").read_text()),
                                  image=(EXAMPLE / "photo.jpg").read_bytes(), hints=hints, **fields).to_frame("j")  # fmt: skip
    return parse_refine(decode_frame(encode_frame(header, blobs)), Limits())


def test_hint_strokes_travel_with_the_photo_and_are_checked(example):
    h, w = example["mask"].shape
    hints = np.zeros((h // 2, w // 2), np.uint8)
    hints[10:14, 10:40] = HINT_BACKGROUND
    got = _hinted(example, hints)
    np.testing.assert_array_equal(got.hints, hints)
    assert got.inputs().hints is not None and got.mask is None  # found in the photo, with the strokes
    for bad, problem in (
        (np.full((h, w), 7, np.uint8), "labels are 0 .none., 1 .object. and 2 .background., got 7"),
        (np.zeros((h, 2 * w), np.uint8), "hints: aspect ratio"),
    ):
        with pytest.raises(RequestError, match=problem) as info:
            _hinted(example, bad)
        assert info.value.code == "invalid_input"
    with pytest.raises(RequestError, match="a mask .or the photo's alpha. was given"):
        _hinted(example, hints, mask=example["mask"])


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"iterations": "5"}, "settings: 'iterations' must be of type int"),
        ({"iterations": True}, "settings: 'iterations' must be of type int"),
        ({"lr": 1.0}, "settings: unknown field 'lr'; allowed: preset, iterations, symmetry, seed, max_size, fit_camera"),
        ([], "'settings' must be an object"),
    ],
)
def test_a_bad_settings_field_is_named(settings, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        check_settings(settings)


def test_the_server_refuses_more_iterations_than_its_limit(example):
    header, blobs = RefineRequest(example["verts"], example["faces"], None, mask=example["mask"],
                                  settings={"fit_camera": "search", "iterations": 11}).to_frame("j")  # fmt: skip
    with pytest.raises(RequestError, match=r"iterations must be in 1\.\.10") as info:
        parse_refine(decode_frame(encode_frame(header, blobs)), Limits(max_iterations=10))
    assert info.value.code == "limit_exceeded"


def test_the_server_refuses_a_render_larger_than_its_limit(example):
    """A client may choose the render size, within the server's limit (its memory grows with the pixels)."""
    header, blobs = RefineRequest(example["verts"], example["faces"], None, mask=example["mask"],
                                  settings={"fit_camera": "search", "max_size": 2048}).to_frame("j")  # fmt: skip
    with pytest.raises(RequestError, match=r"max_size must be at most 1024") as info:
        parse_refine(decode_frame(encode_frame(header, blobs)), Limits())
    assert info.value.code == "limit_exceeded"


def test_further_views_travel_with_their_cameras_and_are_checked(example):
    """Two further views (one mask, one photo): read back in order; a view the camera does not
    see, and more pixels than the limit across the views, are named."""
    camera = json.loads((EXAMPLE / "camera.json").read_text())
    photo = (EXAMPLE / "photo.png").read_bytes()
    views = [(camera, None, example["mask"]), (camera, photo, None)]

    def parse(more, limits: Limits | None = None):
        request = RefineRequest(example["verts"], example["faces"], camera, image=photo, more_views=more)
        return parse_refine(decode_frame(encode_frame(*request.to_frame("j"))), limits or Limits())

    got = parse(views)
    assert [v.source for v in got.more_views] == ["mask", "alpha"]
    inputs = got.inputs()
    assert len(inputs.more_views) == 2 and inputs.more_views[0].mask.shape == example["mask"].shape
    found = parse_refine(decode_frame(encode_frame(*RefineRequest(example["verts"], example["faces"], camera, image=photo,
                         more_views=views, find_silhouette=True).to_frame("j"))), Limits()).inputs()  # fmt: skip
    assert found.more_views[1].mask is None and found.more_views[1].image is not None  # found when the job runs
    away = {**camera, "matrix_world": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, -1000], [0, 0, 0, 1]]}  # far below, looking down
    with pytest.raises(RequestError, match="view 3: ") as info:
        parse([views[0], (away, None, example["mask"])])
    assert info.value.code == "invalid_input"
    w, h = example["camera"].image_size_wh
    with pytest.raises(RequestError, match="pixels in all, over the limit") as info:
        parse(views, Limits(max_image_pixels=2 * w * h))
    assert info.value.code == "limit_exceeded"
    with pytest.raises(RequestError, match="must be a list of objects with a 'camera'"):
        header, blobs = RefineRequest(example["verts"], example["faces"], camera, image=photo).to_frame("j")
        parse_refine(decode_frame(encode_frame({**header, "more_views": [{"camera": 3}]}, blobs)), Limits())
