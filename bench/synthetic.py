"""Synthetic inputs for the speed and server benchmarks: spheres of any size and a target view."""

from __future__ import annotations

import numpy as np

from engine.camera import look_at
from engine.preview import silhouette


def sphere(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """A UV sphere with rows x cols vertices (plus poles), radius 1."""
    theta = np.linspace(0, np.pi, rows + 2)[1:-1]
    phi = np.linspace(0, 2 * np.pi, cols, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    verts = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    verts = np.vstack([verts, [[0, 0, 1], [0, 0, -1]]])
    idx = np.arange(rows * cols).reshape(rows, cols)
    a, b = idx[:-1], np.roll(idx, -1, axis=1)[:-1]
    c, d = idx[1:], np.roll(idx, -1, axis=1)[1:]
    quads = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    top, bottom = rows * cols, rows * cols + 1
    caps = [[top, idx[0, j], idx[0, (j + 1) % cols]] for j in range(cols)]
    caps += [[bottom, idx[-1, (j + 1) % cols], idx[-1, j]] for j in range(cols)]
    return verts, np.vstack([quads, caps]).astype(np.int64)


def job_inputs(verts: np.ndarray, faces: np.ndarray, size: int) -> tuple[dict, np.ndarray]:
    camera = look_at(np.zeros(3), 30, 20, 5.0, size=(size, size))
    mask = silhouette(verts * [1.2, 1.0, 0.85], faces, camera).astype(np.uint8) * 255
    return camera.to_dict(), mask


def sphere_with_faces(faces: int) -> tuple[np.ndarray, np.ndarray]:
    """A UV sphere with about `faces` triangles (2 * rows * cols)."""
    rows = max(3, round(np.sqrt(faces / 3.2)))
    return sphere(rows, max(4, round(faces / (2 * rows))))
