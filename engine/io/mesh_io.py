"""Mesh files via trimesh, keeping the file's vertex order exactly.

OBJ output is written by replacing only the `v` lines of the input OBJ when there is one, so UVs,
normals, groups, materials and polygon faces survive the refinement untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from ..errors import InputError

SUPPORTED = (".obj", ".ply", ".glb", ".gltf", ".off", ".stl")


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh. Returns vertices (V, 3) float64 and faces (F, 3) int64.

    Polygons are triangulated; vertex order is the file's. Raises InputError on unreadable files.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"mesh: file not found: {path}")
    if path.suffix.lower() not in SUPPORTED:
        raise InputError(f"mesh: unsupported format {path.suffix!r}; use one of {', '.join(SUPPORTED)}")
    try:
        # process=False / maintain_order=True: no merging or reordering, so results map 1:1 back.
        mesh = trimesh.load(path, process=False, maintain_order=True, force="mesh")
    except Exception as exc:  # trimesh raises many types for corrupt files
        raise InputError(f"mesh: cannot read {path.name}: {exc}") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.vertices) == 0 or len(mesh.faces) == 0:
        raise InputError(f"mesh: {path.name} contains no triangle mesh")
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def _obj_vertex_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if line.startswith("v ")]


def save_mesh(path: str | Path, vertices: np.ndarray, faces: np.ndarray, template: str | Path | None = None) -> None:
    """Write a mesh. With an OBJ `template` of the same vertex count and an OBJ output, only the
    vertex positions of the template are replaced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if template is not None and path.suffix.lower() == ".obj" and Path(template).suffix.lower() == ".obj":
        lines = Path(template).read_text().splitlines()
        where = _obj_vertex_lines("\n".join(lines))
        if len(where) == len(vertices):
            for i, (x, y, z) in zip(where, vertices):
                lines[i] = f"v {x:.9g} {y:.9g} {z:.9g}"
            path.write_text("\n".join(lines) + "\n")
            return
    trimesh.Trimesh(vertices=vertices, faces=faces, process=False).export(path)
