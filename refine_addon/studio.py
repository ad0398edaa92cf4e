"""Refining outside Blender: the batch's rows exported as a manifest for `refine-engine batch`
(meshes in world space as OBJ, cameras as the engine's camera JSON, the photos by path), and its
results brought back as "REFINE" shape keys. The manifest's row names are the objects' names made
file-safe, so results find their objects again."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import bpy
import numpy as np

from . import photo, scene_io
from .asset import read_asset, read_occluder
from .refine_protocol import messages as m
from .refine_protocol.request import FILES, OPTION
from .refinement import Refinement
from .scene_io import InputProblem
from .session import Inputs

MANIFEST = "manifest.csv"
COLUMNS = ("name", *FILES, *OPTION)  # a manifest for `refine-engine batch` (engine/batch/manifest.py)


def row_name(object_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", object_name)


def export_row(context: bpy.types.Context, obj: bpy.types.Object, inputs: Inputs, folder: Path) -> dict[str, str]:
    """Write the object's mesh (world space) and camera into `folder`; returns its manifest row.
    Raises InputProblem (a photo only in memory, no camera without Find, ...)."""
    scene = context.scene
    assert scene is not None
    name = row_name(obj.name)
    asset = read_asset(context, [obj])
    _write_obj(folder / f"{name}.obj", asset.vertices, asset.faces)
    camera = inputs.camera or scene.camera
    row = {"name": name, "mesh": f"{name}.obj", "image": _photo_path(inputs, camera)}
    occluder = read_occluder(context, inputs.occluders, [obj])
    if occluder is not None:
        _write_obj(folder / f"{name}.occluder.obj", *occluder)
        row["occluder"] = f"{name}.occluder.obj"
    if camera is not None or inputs.fit_camera != m.FIT_SEARCH:
        (folder / f"{name}.camera.json").write_text(json.dumps(scene_io.camera_fields(camera, scene)))
        row["camera"] = f"{name}.camera.json"
    row.update({k: str(v) for k, v in inputs.settings().items()})  # the socket's settings object
    row["find_silhouette"] = "true" if inputs.silhouette == m.SILHOUETTE_AUTO else ""
    row["exif_orientation"] = "false"  # the photo as Blender shows it (it ignores EXIF orientation)
    return row


def _write_obj(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """(V, 3) world positions and (F, 3) 0-based triangles as a plain OBJ."""
    lines = [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in verts] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def _photo_path(inputs: Inputs, camera: bpy.types.Object | None) -> str:
    if inputs.image_path:
        path = Path(bpy.path.abspath(inputs.image_path))
    else:
        image = photo.choose_photo(inputs.image, "", camera).image
        if image is None or image.source != "FILE" or not image.filepath:
            raise InputProblem("the photo must be a file to refine outside Blender (save it, or give --image)")
        path = Path(bpy.path.abspath(image.filepath))
    if not path.is_file():
        raise InputProblem(f"reference image file not found: {path}")
    return str(path.resolve())


def write_manifest(folder: Path, rows: list[dict[str, str]]) -> Path:
    path = folder / MANIFEST
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows({c: r.get(c, "") for c in COLUMNS} for r in rows)
    return path


def import_result(context: bpy.types.Context, obj: bpy.types.Object, folder: Path) -> None:
    """The engine batch's refined mesh for `obj` (<folder>/<row name>/refined.obj, world space) as
    its "REFINE" shape key, mapped back as a refinement in Blender would (shape keys, modifiers).
    Raises InputProblem when there is none or it does not fit the mesh."""
    path = folder / row_name(obj.name) / "refined.obj"
    if not (folder / row_name(obj.name) / "done.json").is_file() or not path.is_file():
        raise InputProblem(f"no finished result for '{obj.name}' in {folder}")
    world = np.array([line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")], dtype=np.float64)
    part = read_asset(context, [obj]).parts[0]
    if world.shape != (part.count, 3):
        raise InputProblem(f"{path} has {len(world)} vertices, '{obj.name}' has {part.count} (did it change since the export?)")
    Refinement.add_keys(part).keep(world)
