"""One refinement's inputs from files: the mesh, the photo (and a mask), the camera."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from refine_protocol.messages import FIT_SEARCH

from ..camera.start import search_start
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
