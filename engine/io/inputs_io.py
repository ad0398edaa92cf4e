"""One refinement's inputs from files: the mesh, the photo (and a mask), the camera."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from refine_protocol.messages import FIT_SEARCH

from ..camera.start import search_start
from ..errors import InputError
from ..inputs import RefineInputs
from ..settings import Settings
from .camera_io import load_camera
from .image_io import Photo, load_hints, load_image
from .mesh_io import load_mesh


def load_inputs(
    mesh: Path,
    image: Path,
    camera: Path | None,
    mask: Path | None,
    settings: Settings,
    find_silhouette: bool = False,
    occluder: Path | None = None,
    exif_orientation: bool = True,
    hints: Path | None = None,
    more_views: Sequence[tuple[Path, Path, Path | None]] = (),
) -> tuple[RefineInputs, Photo]:
    """The checked inputs (raises InputError naming the first problem) and the photo as read (its
    size is the size of a mask written back). Without a camera file, a search starts from
    fit.search_start; the caller makes sure the settings search. `occluder`: a mesh file of what
    hides the object. `exif_orientation`: image_io.load_image. `hints`: an image of hint strokes
    (image_io.load_hints); the silhouette is then found in the photo, its alpha ignored.
    `more_views`: (photo, exact camera, mask or None) files of each further view."""
    verts, faces = load_mesh(mesh)
    photo = load_image(
        image, mask, find=find_silhouette or (hints is not None and mask is None), exif_orientation=exif_orientation
    )
    strokes = None if hints is None else load_hints(hints, exif_orientation=exif_orientation)
    given = load_camera(camera) if camera else None
    if settings.fit_camera == FIT_SEARCH:
        given = search_start(given, verts, (photo.rgb.shape[1], photo.rgb.shape[0]))
    assert given is not None
    hiding = load_mesh(occluder) if occluder else None
    views = []
    for view_image, view_camera, view_mask in more_views:
        view_photo = load_image(view_image, view_mask, find=find_silhouette, exif_orientation=exif_orientation)
        views.append((load_camera(view_camera), view_photo.mask, view_photo.rgb if view_photo.mask is None else None))
    inputs = RefineInputs.checked(
        verts,
        faces,
        photo.mask,
        given,
        settings,
        photo.rgb,
        photo.source,
        occluder=hiding,
        hints=strokes,
        more_views=tuple(views),
    )
    return inputs, photo


def read_views(path: Path) -> list[tuple[Path, Path, Path | None]]:
    """A views file: a JSON list of {"image": path, "camera": path, "mask": path (optional)}, the
    paths relative to the file, as (photo, camera, mask or None) files of further views. Raises
    InputError naming the first problem."""
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"views: file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"views: {Path(path).name} is not valid JSON: {exc}") from None
    if not isinstance(raw, list):
        raise InputError("views: the file must hold a JSON list of views")
    base, out = Path(path).parent, []
    for n, entry in enumerate(raw, start=1):
        fields = {"image", "camera", "mask"}
        if not isinstance(entry, dict) or not {"image", "camera"} <= entry.keys() <= fields:
            raise InputError(f"views: entry {n} must be an object with 'image' and 'camera' (and optionally 'mask')")
        if not all(isinstance(entry[k], str) for k in entry):
            raise InputError(f"views: entry {n}: paths must be strings")
        mask = base / entry["mask"] if "mask" in entry else None
        out.append((base / entry["image"], base / entry["camera"], mask))
    return out
