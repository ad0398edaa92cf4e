"""The symmetry plane a refinement uses, per its settings."""

from __future__ import annotations

import numpy as np

import refine_protocol.messages as m

from ..settings import Settings
from .plane import Plane, detect_plane, fit_plane_offset


def sample_surface(verts: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Area-uniform random points on a triangle mesh. Returns (count, 3)."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    idx = rng.choice(len(faces), count, p=area / area.sum())
    r1, r2 = np.sqrt(rng.random(count))[:, None], rng.random(count)[:, None]
    return (1 - r1) * a[idx] + r1 * (1 - r2) * b[idx] + r1 * r2 * c[idx]


def choose_plane(verts: np.ndarray, faces: np.ndarray, settings: Settings) -> tuple[Plane | None, float | None]:
    """(plane or None, asymmetry of an auto-detected plane) for (V, 3) normalized vertices."""
    if settings.symmetry == m.SYMMETRY_NONE:
        return None, None
    points = sample_surface(verts, faces, 4000, np.random.default_rng(settings.seed))
    if settings.symmetry == m.SYMMETRY_AUTO:
        return detect_plane(points, threshold=settings.symmetry_threshold)
    normal = np.eye(3)["xyz".index(settings.symmetry)]
    return fit_plane_offset(points, normal), None
