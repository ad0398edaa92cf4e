"""Large meshes: optimize a simplified proxy, then carry its deformation back to every vertex.

A 200k-face reconstruction has far more vertices than a silhouette can constrain; optimizing all
of them costs time and memory for nothing. The proxy (quadric edge-collapse decimation) is
optimized instead; each original vertex is attached to the closest point of the proxy's rest
surface (a proxy face and barycentric weights) and moves with it, so the output keeps the input's
exact topology and all of its detail. That displacement field is continuous but kinks along proxy
edges (and jumps where close sheets attach to different parts of the proxy), so it is smoothed
on the full mesh over about half a proxy edge before it is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import fast_simplification
import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .topology import adjacency


@dataclass(frozen=True)
class Proxy:
    """A simplified mesh and how the full mesh hangs on it.

    Attributes:
        verts: (P, 3) proxy rest positions, same frame and units as the full mesh.
        faces: (Q, 3) proxy triangles.
        attach_face: (V,) for each full-mesh vertex, the proxy face it is attached to.
        attach_bary: (V, 3) its barycentric weights on that face (non-negative, summing to 1).
        rest: (V, 3) the full mesh's rest positions.
        neighbours_mean: (V, V) sparse operator averaging each vertex's neighbours on the full mesh.
        smooth_steps: smoothing iterations d <- (d + neighbours_mean d) / 2 of the displacement.
    """

    verts: np.ndarray
    faces: np.ndarray
    attach_face: np.ndarray
    attach_bary: np.ndarray
    rest: np.ndarray
    neighbours_mean: sp.csr_matrix
    smooth_steps: int

    def carry(self, proxy_verts: np.ndarray) -> np.ndarray:
        """(P, 3) deformed proxy -> (V, 3) full mesh, each vertex displaced like its attachment
        point, then the displacement smoothed."""
        corners = self.faces[self.attach_face]  # (V, 3)
        disp = np.einsum("vk,vkd->vd", self.attach_bary, (proxy_verts - self.verts)[corners])
        for _ in range(self.smooth_steps):
            disp = 0.5 * (disp + self.neighbours_mean @ disp)
        return self.rest + disp


def decimate(verts: np.ndarray, faces: np.ndarray, target_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) / (F, 3) -> about `target_faces` faces (quadric edge collapse), unused vertices dropped."""
    pv, pf = fast_simplification.simplify(verts.astype(np.float64), faces.astype(np.int64), target_count=int(target_faces))
    return _drop_unused(np.asarray(pv, np.float64), np.asarray(pf, np.int64))


def make_proxy(verts: np.ndarray, faces: np.ndarray, target_faces: int, candidates: int = 16) -> Proxy:
    """Decimate (V, 3) / (F, 3) to about `target_faces` faces and attach every vertex to it.

    Each vertex is attached to the closest point among the `candidates` proxy faces whose
    centroids are nearest to it.
    """
    pv, pf = decimate(verts, faces, target_faces)
    tri = pv[pf]  # (Q, 3, 3)
    k = min(candidates, len(pf))
    _, cand = cKDTree(tri.mean(1)).query(verts, k=k)
    cand = cand.reshape(len(verts), k)
    bary, dist2 = closest_point_barycentric(verts[:, None, :], tri[cand])  # (V, k, 3), (V, k)
    best = dist2.argmin(1)
    rows = np.arange(len(verts))
    # n diffusion steps reach about sqrt(n) edges and a proxy edge spans sqrt(F / Q) full edges:
    # smoothing over half a proxy edge removes the kinks without eroding the silhouette fit
    # (on the 278k-face cow: IoU 0.971 unsmoothed, 0.962 at 6 steps, 0.953 at 22).
    steps = int(np.clip(np.ceil(len(faces) / (4 * len(pf))), 1, 16))
    return Proxy(pv, pf, cand[rows, best], bary[rows, best], verts.astype(np.float64), neighbours_mean(faces, len(verts)), steps)


def neighbours_mean(faces: np.ndarray, n: int) -> sp.csr_matrix:
    """(n, n) row-stochastic matrix: row i averages the vertices sharing an edge with vertex i."""
    adj = adjacency(faces, n)
    deg = np.asarray(adj.sum(1)).ravel()
    return sp.diags(1.0 / np.maximum(deg, 1)) @ adj


def _drop_unused(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    used, inverse = np.unique(faces, return_inverse=True)
    return verts[used], inverse.reshape(faces.shape)


def closest_point_barycentric(p: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest point of triangles to points, as barycentric weights.

    Args:
        p: (..., 3) points (broadcast against tri's leading dimensions).
        tri: (..., 3, 3) triangles, corners a, b, c.
    Returns:
        bary: (..., 3) weights of a, b, c (>= 0, sum 1); dist2: (...) squared distance.
    """
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    e0, e1, w = b - a, c - a, p - a
    # Projection onto the plane: solve the 2x2 normal equations (degenerate triangles fall back to edges).
    d00, d01, d11 = (e0 * e0).sum(-1), (e0 * e1).sum(-1), (e1 * e1).sum(-1)
    d20, d21 = (w * e0).sum(-1), (w * e1).sum(-1)
    den = d00 * d11 - d01 * d01
    ok = den > 1e-30 * np.maximum(d00 * d11, 1e-300)
    den = np.where(ok, den, 1.0)
    v = (d11 * d20 - d01 * d21) / den
    u = (d00 * d21 - d01 * d20) / den
    inside = ok & (v >= 0) & (u >= 0) & (v + u <= 1)
    best = np.stack([1 - v - u, v, u], -1)
    best_d2 = np.where(inside, ((a + v[..., None] * e0 + u[..., None] * e1 - p) ** 2).sum(-1), np.inf)
    # Otherwise the closest point is on an edge. Edges are tried in every case: for a nearly
    # degenerate triangle the projection can land "inside" through rounding yet be far off.
    for i, j in ((0, 1), (1, 2), (2, 0)):
        s, t = tri[..., i, :], tri[..., j, :]
        d = t - s
        x = np.clip(((p - s) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-300), 0.0, 1.0)
        d2 = ((s + x[..., None] * d - p) ** 2).sum(-1)
        better = d2 < best_d2
        edge = np.zeros(best.shape)
        edge[..., i], edge[..., j] = 1 - x, x
        best = np.where(better[..., None], edge, best)
        best_d2 = np.where(better, d2, best_d2)
    return best, best_d2
