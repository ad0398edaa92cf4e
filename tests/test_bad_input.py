"""Every bad input ends with exit code 2 and one line that names the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.errors import InputError
from engine.inputs import check_mesh

from .conftest import EXAMPLE, run_cli


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    for name in ("coarse.obj", "photo.png", "camera.json"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    return {"mesh": tmp_path / "coarse.obj", "image": tmp_path / "photo.png", "camera": tmp_path / "camera.json", "dir": tmp_path}


def _run(files: dict[str, Path], capsys, *extra: str) -> tuple[int, str]:
    args = ["refine", "--mesh", str(files["mesh"]), "--image", str(files["image"]), "--camera", str(files["camera"])]
    args += ["--out", str(files["dir"] / "out.obj"), "--iterations", "2", "--quiet", *extra]
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert not (files["dir"] / "out.obj").exists()
    return code, err


def _write_obj(path: Path, verts, faces) -> None:
    lines = [f"v {x} {y} {z}" for x, y, z in verts] + [f"f {a} {b} {c}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def _camera(files) -> dict:
    return json.loads(files["camera"].read_text())


CASES = {
    "missing mesh": (lambda f: f["mesh"].unlink(), "mesh: file not found"),
    "unreadable mesh": (lambda f: f["mesh"].write_bytes(b"\x00\x01garbage"), "mesh:"),
    "unsupported format": (lambda f: f.update(mesh=f["mesh"].rename(f["dir"] / "m.xyz")), "unsupported format"),
    "nan vertex": (lambda f: _write_obj(f["mesh"], [(0, 0, 0), (1, 0, 0), ("nan", 1, 0)], [(1, 2, 3)]), "non-finite"),
    "degenerate mesh": (lambda f: _write_obj(f["mesh"], [(2, -1, 0.5), (2, -1, 0.5), (2, -1, 0.5)], [(1, 2, 3)]), "degenerate"),
    "missing image": (lambda f: f["image"].unlink(), "image: file not found"),
    "corrupt image": (lambda f: f["image"].write_bytes(b"\x89PNG\r\n\x1a\nbroken"), "image: cannot decode"),
    "not an image": (lambda f: f["image"].write_bytes(b"hello"), "not a PNG, JPEG, WebP, AVIF or other image file"),
    "heic photo": (
        lambda f: f["image"].write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)),
        "HEIC/HEIF photo, which the engine cannot read: export it as JPEG or PNG",
    ),
    "photo of nothing": (lambda f: Image.new("RGB", (640, 480), (120, 130, 140)).save(f["image"]), "give a mask of the object"),
    "empty silhouette": (lambda f: Image.new("RGBA", (320, 240), (0, 0, 0, 0)).save(f["image"]), "silhouette is empty"),
    "wrong aspect": (
        lambda f: Image.open(f["image"]).resize((320, 200)).save(f["image"]),
        "aspect ratio 320x200 = 1.6000 differs from the camera's 320x240 = 1.3333",
    ),
    "missing camera": (lambda f: f["camera"].unlink(), "camera: file not found"),
    "camera not json": (lambda f: f["camera"].write_text("{lens: 50"), "not valid JSON"),
    "camera bad field": (
        lambda f: f["camera"].write_text(json.dumps({**_camera(f), "lens": "fifty"})),
        "'lens' must be a finite number",
    ),
    "camera looks away": (
        lambda f: f["camera"].write_text(
            json.dumps({**_camera(f), "matrix_world": (np.array(_camera(f)["matrix_world"]) @ np.diag([-1, 1, -1, 1])).tolist()})
        ),
        "behind the camera",
    ),
    "camera off to the side": (
        lambda f: f["camera"].write_text(json.dumps({**_camera(f), "shift_x": 3.0})),
        "projects outside the image",
    ),
    "mesh crosses the camera": (
        lambda f: f["camera"].write_text(json.dumps({**_camera(f), "clip_start": 7.2})),
        "near clip plane",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_named_in_one_line(files, capsys, case):
    spoil, message = CASES[case]
    spoil(files)
    code, err = _run(files, capsys)
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err, err
    assert message in err, err


def test_mask_option(files, capsys):
    rgb = files["dir"] / "rgb.png"
    Image.open(files["image"]).convert("RGB").save(rgb)
    alpha = np.asarray(Image.open(files["image"]))[..., 3]
    Image.fromarray(alpha).save(files["dir"] / "mask.png")
    files["image"] = rgb
    assert main(["refine", "--mesh", str(files["mesh"]), "--image", str(rgb), "--mask", str(files["dir"] / "mask.png"),
                 "--camera", str(files["camera"]), "--out", str(files["dir"] / "ok.obj"), "--iterations", "2", "--quiet"]) == 0  # fmt: skip
    Image.fromarray(alpha).resize((10, 10)).save(files["dir"] / "mask.png")
    code, err = _run(files, capsys, "--mask", str(files["dir"] / "mask.png"))
    assert code == 2 and "aspect ratio 10x10 = 1.0000 differs from the camera's 320x240" in err
    for value, message in ((0, "silhouette is empty"), (255, "covers the whole picture")):
        Image.new("L", (640, 480), value).save(files["dir"] / "mask.png")
        code, err = _run(files, capsys, "--mask", str(files["dir"] / "mask.png"))
        assert code == 2 and message in err


@pytest.mark.parametrize(
    "verts, faces, message",
    [
        (np.zeros((3, 2)), np.array([[0, 1, 2]]), "(V, 3)"),
        (np.eye(3), np.array([[0, 1, 3]]), "face indices must be in 0..2"),
        (np.eye(3), np.array([[0, 1, -1]]), "face indices must be in 0..2"),
        (np.eye(3), np.array([[0.0, 1.0, 2.0]]), "must be integers"),
        (np.eye(3), np.zeros((0, 3), dtype=int), "(F, 3)"),
    ],
)
def test_api_rejects_bad_arrays(verts, faces, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_mesh(verts, faces)


def test_process_exit_code_and_single_line(tmp_path):
    proc = run_cli("refine", "--mesh", str(tmp_path / "none.obj"), "--image", str(EXAMPLE / "photo.png"),
                   "--camera", str(EXAMPLE / "camera.json"), "--out", str(tmp_path / "o.obj"))  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: mesh: file not found: {tmp_path / 'none.obj'}"]


def test_negative_seed_is_refused(files, capsys):
    code, err = _run(files, capsys, "--seed", "-1")
    assert code == 2 and err == "error: settings: seed must be in 0..2^63-1"
