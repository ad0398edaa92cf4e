"""The refine request, defined once: its options (what a user may choose per job), its files, and
the value a client sends (`RefineRequest.to_frame`). Standard library only (numpy for the arrays
when a request is sent), so the Blender add-on, the engine's server, CLI and batch manifest all
derive from it: an option added here is a CLI flag, a manifest column and a socket field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import messages as m
from .wire import Blob

SETTINGS, HEADER = "settings", "header"  # where an option travels: in the header's "settings", or the header itself


@dataclass(frozen=True)
class Option:
    """One per-job choice.

    name: the socket field, manifest column and (dashed) CLI flag. kind: its JSON type. help: what
    its CLI flag does.
    where: SETTINGS (a settings override, resolved against the preset) or HEADER (how the job
    reads its inputs). choices: the allowed values (None: any of `kind`). default: the value when
    not given (None: the preset's). flag: the CLI flag, when it is not `--<name>` (a bool option
    that defaults to True is turned off by its flag)."""

    name: str
    kind: type
    help: str
    where: str = SETTINGS
    choices: tuple[str, ...] | None = None
    default: Any = None
    flag: str = ""

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def check_type(self, value: Any) -> Any:
        """`value` if it has this option's type, else ValueError naming the problem; bool is not
        taken for int (JSON's true is not 1). Its value is the engine's to judge (settings)."""
        if type(value) is not self.kind:
            raise ValueError(f"{self.name!r} must be of type {self.kind.__name__}")
        return value


OPTIONS = (
    Option("preset", str, "quality preset", choices=tuple(m.PRESETS), default=m.PRESET_DEFAULT),
    Option("iterations", int, "override the preset's iteration count"),
    Option("symmetry", str, "symmetry plane: auto-detect, none, or a world axis", choices=tuple(m.SYMMETRY)),
    Option("seed", int, "random seed (runs are deterministic for a seed)"),
    Option(
        "max_size", int, "longest side rendered in the last stage, px (16..4096; default: the preset's): detail against speed"
    ),
    Option(
        "fit_camera",
        str,
        "off: the camera is exact; refine: correct a close camera; search: find the viewpoint "
        "(with no camera: the photo's size, Blender's default lens, a front view to start from)",
        choices=tuple(m.FIT_CAMERA),
        default=m.FIT_OFF,
    ),
    Option(
        "on_doubt",
        str,
        "when several views of the mesh explain the photo nearly equally, or no upright one does: stop "
        "before the shape moves (the views found are the report's camera candidates), or refine and warn",
        choices=tuple(m.ON_DOUBT),
        default=m.DOUBT_STOP,
    ),
    Option(
        "find_only",
        bool,
        "find the camera (with --fit-camera) and the silhouette, then stop before the shape moves: check "
        "them (--camera-out, --mask-out, --preview) and refine from them",
        default=False,
    ),
    Option(
        "fit_views",
        bool,
        "several views with --fit-camera refine or search: the further views' cameras are exact (reference "
        "images), not corrected together with the shape",
        default=True,
        flag="--exact-views",
    ),
    Option(
        "find_silhouette",
        bool,
        "ignore the photo's alpha: find the object in the photo (seeded by the mesh)",
        HEADER,
        default=False,
    ),
    Option(
        "exif_orientation",
        bool,
        "use the photo's (and mask's) pixels as stored, as Blender shows them, not turned as their EXIF "
        "orientation says (as photo viewers show them)",
        HEADER,
        default=True,
        flag="--ignore-exif-orientation",
    ),
)
OPTION = {o.name: o for o in OPTIONS}
SETTING_OPTIONS = tuple(o.name for o in OPTIONS if o.where == SETTINGS)

# The request's files (a batch manifest's path columns): the mesh and the photo are required.
MESH, IMAGE, CAMERA, MASK, OCCLUDER, HINTS = "mesh", "image", "camera", "mask", "occluder", "hints"
FILES = (MESH, IMAGE, CAMERA, MASK, OCCLUDER, HINTS)
# Hint strokes: a label per pixel of the photo (the "hints" blob); as a file, red strokes are object
# and blue ones background (engine/io/image_io.load_hints).
HINT_NONE, HINT_OBJECT, HINT_BACKGROUND = 0, 1, 2

# Blob names on the wire.
VERTICES, FACES, OCCLUDER_VERTICES, OCCLUDER_FACES = "vertices", "faces", "occluder_vertices", "occluder_faces"
MORE_VIEWS = "more_views"  # the header's list of further views, view 2 on


def view_blob(n: int, what: str) -> str:
    """The blob name of view `n`'s (2, 3, ...) IMAGE or MASK, e.g. "view2_image"."""
    return f"view{n}_{what}"


def check_settings(raw: Any) -> dict[str, Any]:
    """A request's "settings" object: known setting options of the right types. Raises ValueError
    naming the first problem."""
    if not isinstance(raw, dict):
        raise ValueError("'settings' must be an object")
    for key, value in raw.items():
        if key not in SETTING_OPTIONS:
            raise ValueError(f"settings: unknown field {key!r}; allowed: {', '.join(SETTING_OPTIONS)}")
        try:
            OPTION[key].check_type(value)
        except ValueError as exc:
            raise ValueError(f"settings: {exc}") from None
    return raw


@dataclass
class RefineRequest:
    """One refine job as a client sends it (docs/protocol.md, "refine").

    vertices (V, 3) world units and faces (F, 3); camera: Blender's fields (None only when
    settings' fit_camera is "search"); image: an encoded image file (PNG with alpha, JPEG, ...);
    mask: (H, W) float32 in [0, 1] or uint8, row 0 at the top; settings: SETTING_OPTIONS by name
    (the rest come from the preset); find_silhouette / exif_orientation: the HEADER options;
    parts: vertex counts of consecutive parts when several objects are refined as one; occluder:
    ((O, 3) world vertices, (G, 3) faces) hiding the object from the camera; hints: (h, w) uint8
    HINT_* labels at the photo's aspect, strokes that help find the silhouette in the photo;
    more_views: further views (view 2 on), each (camera fields, encoded image or None, mask or
    None), with an exact camera: the shape is refined against every view."""

    vertices: Any
    faces: Any
    camera: dict[str, Any] | None
    image: bytes | None = None
    mask: Any = None
    settings: dict[str, Any] = field(default_factory=dict)
    find_silhouette: bool = False
    exif_orientation: bool = True
    parts: list[int] = field(default_factory=list)
    occluder: tuple[Any, Any] | None = None
    hints: Any = None
    more_views: Sequence[tuple[dict[str, Any] | None, bytes | None, Any]] = field(default_factory=list)
    progress_hz: float = 10.0
    progress_vertices: bool = True

    def to_frame(self, job: str) -> tuple[dict[str, Any], list[Blob]]:
        """The refine frame's header and blobs; fields at their defaults are left out."""
        blobs = [Blob.from_array(VERTICES, self.vertices, "f32"), Blob.from_array(FACES, self.faces, "i32")]
        blobs += _image_blobs(self.image, self.mask, IMAGE, MASK)
        if self.occluder is not None:
            blobs += [
                Blob.from_array(OCCLUDER_VERTICES, self.occluder[0], "f32"),
                Blob.from_array(OCCLUDER_FACES, self.occluder[1], "i32"),
            ]
        if self.hints is not None:
            blobs.append(Blob.from_array(HINTS, self.hints, "u8"))
        for n, (_, image, mask) in enumerate(self.more_views, start=2):
            blobs += _image_blobs(image, mask, view_blob(n, IMAGE), view_blob(n, MASK))
        header: dict[str, Any] = {
            "type": m.REFINE,
            "job": job,
            "settings": dict(self.settings),
            "progress_hz": self.progress_hz,
            "progress_vertices": self.progress_vertices,
        }
        if self.camera is not None:
            header[CAMERA] = self.camera
        for option in OPTIONS:
            if option.where == HEADER and getattr(self, option.name) != option.default:
                header[option.name] = getattr(self, option.name)
        if len(self.parts) > 1:
            header["parts"] = list(self.parts)
        if self.more_views:
            header[MORE_VIEWS] = [{CAMERA: camera} for camera, _, _ in self.more_views]
        return header, blobs


def _image_blobs(image: bytes | None, mask: Any, image_name: str, mask_name: str) -> list[Blob]:
    """A view's photo (encoded file bytes) and mask ((H, W) u8 or f32) as blobs, those given."""
    blobs = [] if image is None else [Blob.from_array(image_name, image, "u8")]
    if mask is not None:
        import numpy as np

        arr = np.asarray(mask)
        blobs.append(Blob.from_array(mask_name, arr, "u8" if arr.dtype == np.uint8 else "f32"))
    return blobs
