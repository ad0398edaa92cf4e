"""Mesh connectivity as sparse matrices (pure numpy/SciPy, no geometry)."""

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
