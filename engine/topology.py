"""Mesh connectivity (pure numpy/SciPy): which vertices share an edge, and which are one point."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def adjacency(faces: np.ndarray, num_verts: int) -> sp.csr_matrix:
    """(V, V) symmetric 0/1 matrix: 1 where two vertices share an edge. faces: (F, 3) int."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(num_verts, num_verts))
    adj = (adj + adj.T).tocsr()
    adj.data[:] = 1.0  # an edge shared by two faces counts once
    return adj


def weld(verts: np.ndarray, groups: np.ndarray | None = None, tolerance: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Which vertices are one surface point: those at the same position, rounded to `tolerance`
    times the mesh's size (its bounding box's longest side).

    Exporters split a vertex wherever its UVs, normals or colours differ (a glTF from a
    reconstruction tool is cut along every texture seam), so a surface can arrive as many patches
    whose borders merely coincide. Points that straddle a rounding boundary stay apart; exact
    copies, which is what a split writes, never do.

    Args:
        verts: (V, 3) positions.
        groups: (V,) int labels; vertices of different groups are never merged (separate objects).
    Returns:
        index: (V,) int64, each vertex's welded vertex in 0..U-1.
        first: (U,) int64, the first input vertex of each welded vertex, ascending: welded vertices
            keep the input's order (without copies, both are 0..V-1).
    """
    extent = float(np.ptp(verts, axis=0).max())
    if extent > 0:
        cells = np.round(verts / (tolerance * extent))
        key = (cells - cells.min(0)).astype(np.int64)  # counted from the box's corner: no overflow far from the origin
    else:
        key = np.zeros(verts.shape, np.int64)  # every vertex at one point
    if groups is not None:
        key = np.column_stack([key, groups])
    _, first, index = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[index.reshape(-1)].astype(np.int64), first[order].astype(np.int64)


def welded_faces(faces: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(F, 3) faces renumbered through weld's `index`; a face whose corners fell together, which has
    no area left, is dropped."""
    f = index[faces]
    return f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 2] != f[:, 0])]
