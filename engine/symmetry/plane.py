"""Find the reflective symmetry plane of a point set (pure numpy + scipy's KD-tree).

Objects in user scenes are rarely in a canonical frame, so the plane is searched over many normal
directions, each refined ICP-style (reflect, match nearest neighbours, refit), and accepted only if
the reflected points land close to the original ones. Distances are in the caller's units; the
engine calls this in its normalized frame (max bounding-box extent 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class Plane:
    """The plane {x : normal . x = offset}; normal has unit length."""

    normal: tuple[float, float, float]
    offset: float

    def reflect(self, points: np.ndarray) -> np.ndarray:
        """Mirror (..., 3) points through the plane."""
        n = np.asarray(self.normal)
        return points - 2.0 * ((points @ n) - self.offset)[..., None] * n


def _fibonacci_hemisphere(count: int) -> np.ndarray:
    i = np.arange(count) + 0.5
    z = i / count  # upper hemisphere: a plane's normal and its negation are the same plane
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    r = np.sqrt(1.0 - z * z)
    return np.stack((r * np.cos(phi), r * np.sin(phi), z), axis=1)


def _asymmetry(points: np.ndarray, tree: cKDTree, plane: Plane) -> float:
    """Mean distance from each reflected point to the nearest point of the tree."""
    dist, _ = tree.query(plane.reflect(points))
    return float(dist.mean())


def fit_plane_offset(points: np.ndarray, normal: np.ndarray, iterations: int = 5) -> Plane:
    """The best offset for a fixed normal: the plane through the midpoints of mirrored matches."""
    normal = normal / np.linalg.norm(normal)
    tree = cKDTree(points)
    plane = Plane(tuple(normal), float(points.mean(0) @ normal))
    for _ in range(iterations):
        _, idx = tree.query(plane.reflect(points))
        plane = Plane(plane.normal, float(((points + points[idx]) @ normal).mean() * 0.5))
    return plane


def _refine(points: np.ndarray, tree: cKDTree, plane: Plane, iterations: int) -> Plane:
    for _ in range(iterations):
        _, idx = tree.query(plane.reflect(points))
        diff = points - points[idx]
        keep = np.linalg.norm(diff, axis=1) > 1e-9
        if keep.sum() < 3:
            break
        d = diff[keep]
        # Mirrored pairs differ along the normal: it is the dominant direction of their differences.
        _, vecs = np.linalg.eigh(d.T @ d)
        normal = vecs[:, -1]
        if normal @ np.asarray(plane.normal) < 0:
            normal = -normal
        offset = float(((points + points[idx]) @ normal).mean() * 0.5)
        plane = Plane(tuple(normal), offset)
    return plane


def detect_plane(
    points: np.ndarray,
    threshold: float = 2.0,
    candidates: int = 64,
    keep: int = 6,
) -> tuple[Plane | None, float]:
    """Find the plane the points are most mirror-symmetric about.

    Args:
        points: (P, 3) independent random samples of the surface (area-uniform).
        threshold: accept the plane if its mirror error is below `threshold` times the sampling
            noise floor. The mirror error is the mean distance from reflected samples of one half
            of `points` to the other half; the floor is the same distance without the reflection,
            so the score is unitless and does not depend on the sample density.
        candidates: normal directions tried (a hemisphere of directions plus the principal axes
            and the coordinate axes, which is where artists' objects usually sit).
        keep: how many of the best candidates are refined.
    Returns:
        (plane or None when nothing is symmetric enough, the score: mirror error / floor).
    """
    half = len(points) // 2
    probe, ref = points[:half], points[half:]
    tree = cKDTree(ref)
    floor = float(tree.query(probe)[0].mean())
    centre = points.mean(0)
    _, vecs = np.linalg.eigh(np.cov((points - centre).T))
    normals = np.concatenate([np.eye(3), vecs.T, _fibonacci_hemisphere(candidates)])
    planes = [Plane(tuple(n), float(centre @ n)) for n in normals]
    scores = [_asymmetry(probe, tree, p) for p in planes]
    best, best_score = None, np.inf
    full_tree = cKDTree(points)
    for i in np.argsort(scores)[:keep]:
        plane = _refine(points, full_tree, planes[i], iterations=8)
        score = _asymmetry(probe, tree, plane)
        if score < best_score:
            best, best_score = plane, score
    ratio = best_score / max(floor, 1e-12)
    return (best if ratio < threshold else None), float(ratio)
