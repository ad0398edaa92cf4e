"""A real photo nobody here made: scikit-image's espresso cup on a saucer (`skimage.data.coffee()`,
600 x 400, seen from above at about 55 degrees, a wooden table), with a rough Z-up mesh of a cup
and saucer, no camera: the README's path. Run as it is, and with eight hint strokes (four red on
the dark saucer and the cup's body, four blue on the table) as a user paints them.

    .venv/bin/python -m bench.coffee      # writes docs/coffee_search.png, docs/coffee_hints.png

Without hints the view found is in doubt and the run stops before the mesh changes; with them it
is found (and still in doubt: the round saucer looks alike from other sides) and, as a user who
has looked at it goes on (`on_doubt` warn), refined.

No ground truth: judge the pictures (the photo with the strokes, the silhouette found, the mesh
over it before and after) and the printed lines (where the camera was found, the volume change).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image, ImageDraw
from skimage import data

from engine.io.inputs_io import load_inputs
from engine.preview import before_after
from engine.refine import refine_inputs
from engine.settings import resolve
from refine_protocol.messages import DOUBT_STOP, DOUBT_WARN
from refine_protocol.report import ReportSummary

from .quality import ROOT

OBJECT_STROKES = (((110, 280), (250, 350)), ((95, 200), (130, 280)), ((200, 250), (300, 265)), ((200, 160), (240, 230)))
TABLE_STROKES = (((480, 30), (590, 120)), ((20, 330), (80, 395)), ((520, 330), (590, 250)), ((10, 10), (60, 100)))


def cup_and_saucer() -> trimesh.Trimesh:
    """A rough reconstruction: a saucer disc, a cylinder cup, a ring handle; Z up, unit saucer radius."""
    saucer = trimesh.creation.cylinder(radius=1.0, height=0.06, sections=48)
    saucer.apply_translation([0, 0, 0.03])
    cup = trimesh.creation.cylinder(radius=0.42, height=0.5, sections=48)
    cup.apply_translation([0, 0, 0.31])
    handle = trimesh.creation.torus(major_radius=0.14, minor_radius=0.035, major_sections=24, minor_sections=8)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    handle.apply_translation([0.52, 0, 0.36])
    return trimesh.util.concatenate([saucer, cup, handle])


def strokes(size: tuple[int, int]) -> Image.Image:
    """The hint strokes (red object, blue background) on a black image of the photo's size."""
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for colour, lines in (((255, 0, 0), OBJECT_STROKES), ((0, 0, 255), TABLE_STROKES)):
        for line in lines:
            draw.line(line, fill=colour, width=8)
    return image


def run(folder: Path, hints: Path | None, picture: Path, shown: Image.Image, on_doubt: str = DOUBT_STOP) -> str:
    """Refine from the photo and no camera (a search), optionally with `hints`; write `picture`
    (the photo as shown, the silhouette found; the mesh over it before | after) and return the
    lines the CLI would print."""
    settings = resolve({"fit_camera": "search", "on_doubt": on_doubt})
    inputs, photo = load_inputs(folder / "mesh.obj", folder / "coffee.jpg", None, None, settings, hints=hints)
    result = refine_inputs(inputs)
    after = None if result.report.stopped else result.vertices
    before_after(folder / "preview.png", inputs.verts, after, inputs.faces, result.mask, result.camera)
    said = ReportSummary.from_dict(json.loads(json.dumps(result.report.to_dict())))
    mask = Image.fromarray((result.mask * 255).astype(np.uint8)).convert("RGB").resize(shown.size)
    preview = Image.open(folder / "preview.png").convert("RGB")
    width = shown.width * (1 if after is None else 2)  # one tile of the photo's width per mesh shown
    preview = preview.resize((width, preview.height * width // preview.width))
    sheet = Image.new("RGB", (2 * shown.width, shown.height + preview.height), "white")
    sheet.paste(shown, (0, 0))
    sheet.paste(mask, (shown.width, 0))
    sheet.paste(preview, ((2 * shown.width - width) // 2, shown.height))
    sheet.resize((900, sheet.height * 900 // sheet.width)).save(picture, optimize=True)
    assert said.camera is not None
    verdict = f"stopped before the mesh changed: {said.stopped}" if said.stopped else f"{said.iou_change()}{said.outcome()}"
    return f"camera {said.camera.change()}; {verdict}; warnings: {list(said.warnings)}"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = Image.fromarray(data.coffee())
        photo.save(folder / "coffee.jpg", quality=90)
        cup_and_saucer().export(folder / "mesh.obj")
        painted = strokes(photo.size)
        painted.save(folder / "hints.png")
        print("as it is:", run(folder, None, ROOT / "docs" / "coffee_search.png", photo))
        shown = Image.blend(photo, painted, 0.5)
        print("with hints:", run(folder, folder / "hints.png", folder / "stopped.png", shown))
        # The user looks at the view found (Blender shows it through the found camera) and goes on.
        print("with hints, going on:", run(folder, folder / "hints.png", ROOT / "docs" / "coffee_hints.png", shown, DOUBT_WARN))


if __name__ == "__main__":
    main()
