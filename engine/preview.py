"""Before/after pictures: the mesh's silhouette over the reference silhouette."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .camera import BlenderCamera
from .render.view import seen_silhouette


def silhouette(verts: np.ndarray, faces: np.ndarray, camera: BlenderCamera, longest: int | None = None) -> np.ndarray:
    """(H, W) bool coverage of the mesh seen by the camera: at its resolution, or at `longest`
    pixels on the picture's longest side (never above the camera's)."""
    points, triangles = torch.tensor(verts, dtype=torch.float64), torch.as_tensor(faces, dtype=torch.int64)
    return seen_silhouette(camera, points, triangles, longest).numpy()


HIDDEN_RGB = (70, 80, 130)  # pixels an occluder hides: they say nothing, so they are neither match nor error


def overlay(pred: np.ndarray, target: np.ndarray, hidden: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8: yellow where both cover, red = mesh only, green = reference only; the
    `hidden` (H, W) pixels (an occluder's) blue-grey."""
    out = np.stack([pred, target, np.zeros_like(target)], -1).astype(np.uint8) * 230 + 20
    if hidden is not None:
        out[hidden] = HIDDEN_RGB
    return out


def before_after(
    path: str | Path,
    before: np.ndarray,
    after: np.ndarray | None,
    faces: np.ndarray,
    mask: np.ndarray,
    camera: BlenderCamera,
    hidden: np.ndarray | None = None,
) -> None:
    """Write a side-by-side PNG: input mesh vs refined mesh, each over the reference silhouette
    (`after` None: a run that stopped before the mesh changed, the input mesh alone; `hidden`:
    (H, W) bool pixels an occluder hides, drawn as such)."""
    target = mask > 0.5
    shown = {"before": before, "after": after} if after is not None else {"the mesh as it is (stopped before it changed)": before}
    tiles = [overlay(silhouette(v, faces, camera), target, hidden) for v in shown.values()]
    h, w = target.shape
    sheet = Image.new("RGB", (len(tiles) * (w + 8) - 8, h + 40), "white")  # a title above each tile, the key below
    draw = ImageDraw.Draw(sheet)
    for i, (tile, label) in enumerate(zip(tiles, shown)):
        sheet.paste(Image.fromarray(tile), (i * (w + 8), 20))
        draw.text((i * (w + 8) + 4, 4), label, fill="black")
    key = "yellow: match, red: mesh only, green: photo only" + (
        ", blue-grey: hidden by the occluder" if hidden is not None else ""
    )
    draw.text((4, h + 24), key, fill="black")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
