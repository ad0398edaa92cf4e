"""The run's own check of what the photo cannot confirm: how far the mesh moved along the viewing
rays (beyond a global scale and shift), how its volume changed, how far its far side moved.

A silhouette constrains motion across the viewing rays only; motion along them is invisible in
the photo, so a large share of it means the fit explained the silhouette with depth it made up:
that earns a warning. The volume change is reported, not warned about: a coarse input's volume is
often what is wrong (an over-smoothed wing, a swollen blob), and on the benchmark every volume
warning fell on a run that improved the shape (bench/selfcheck.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .camera import BlenderCamera, ray_directions

DEPTH_DRIFT = 0.03  # along-ray RMS motion, as a share of the object's size, that earns a warning


def similarity_residual(before: np.ndarray, after: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares isotropic scale s and shift t with after ~ s * before + t. Returns s and the
    (V, 3) residual motion that no global scale and shift explains."""
    a0, b0 = before - before.mean(0), after - after.mean(0)
    s = float((a0 * b0).sum() / max((a0 * a0).sum(), 1e-30))
    return s, b0 - s * a0


def signed_volume(verts: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by the triangles (divergence theorem; exact for closed meshes)."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) area-weighted unit normals."""
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-30)


def self_check(before: np.ndarray, after: np.ndarray, faces: np.ndarray, camera: BlenderCamera, size: float) -> dict[str, Any]:
    """before/after: (V, 3) world vertices; size: the object's largest extent (world units).

    Returns along_ray and across_ray (RMS non-rigid motion / size), volume_change (relative, scale
    removed; None for an open or flat mesh), far_side (RMS non-rigid motion of the vertices facing
    away from the camera / size), scale and shift (the global scale, and the centroid's motion /
    size: how far the object moved overall) and warnings (sentences for the user)."""
    scale, residual = similarity_residual(before, after)
    rays = ray_directions(camera, before)
    along = np.einsum("ij,ij->i", residual, rays)
    across = residual - along[:, None] * rays
    along_rms = float(np.sqrt(np.mean(along**2)) / size)
    across_rms = float(np.sqrt(np.mean(np.sum(across**2, axis=1))) / size)
    vol0 = signed_volume(before, faces)
    closed_enough = abs(vol0) > 1e-6 * size**3
    volume_change = signed_volume(after, faces) / scale**3 / vol0 - 1 if closed_enough and scale > 0 else None
    normals = vertex_normals(before, faces) * (1.0 if vol0 >= 0 else -1.0)
    far = np.einsum("ij,ij->i", normals, rays) > 0  # facing away from the camera
    far_side = float(np.sqrt(np.mean(np.sum(residual[far] ** 2, axis=1))) / size) if far.any() else 0.0
    warnings = []
    if along_rms > max(DEPTH_DRIFT, across_rms):
        warnings.append(
            f"depth drift: the mesh moved {100 * along_rms:.1f} % of its size along the camera's rays, more than across "
            "them; the photo cannot confirm that depth: check the result from the side"
        )
    return {
        "along_ray": along_rms,
        "across_ray": across_rms,
        "volume_change": volume_change,
        "far_side": far_side,
        "scale": scale,
        "shift": float(np.linalg.norm(after.mean(0) - before.mean(0)) / size),
        "warnings": warnings,
    }
