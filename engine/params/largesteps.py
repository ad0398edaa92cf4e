"""Large Steps parameterization (Nicolet et al. 2021): optimize u = (I + lambda L) v.

A gradient step on u moves v = (I + lambda L)^-1 u by a smooth, mesh-wide displacement, so the
optimizer cannot carve spikes into the surface and converges in far fewer iterations than free
offsets. L is the combinatorial graph Laplacian D - A of the input mesh; the system matrix is
symmetric positive definite and factorized once with SciPy's sparse LU (on the CPU).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import splu


def smoothing_matrix(faces: np.ndarray, num_verts: int, lam: float) -> sp.csc_matrix:
    """(V, V) I + lam (D - A) over the mesh's unique edges. faces: (F, 3) int."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(num_verts, num_verts))
    adj = (adj + adj.T).tocsr()
    adj.data[:] = 1.0
    lap = sp.diags(np.asarray(adj.sum(1)).ravel()) - adj
    return (sp.identity(num_verts) + lam * lap).tocsc()


class _Solve(torch.autograd.Function):
    """x = M^-1 b with a prefactorized symmetric M; the backward pass is the same solve."""

    @staticmethod
    def forward(ctx, b: torch.Tensor, lu) -> torch.Tensor:  # type: ignore[override]
        ctx.lu = lu
        x = lu.solve(b.detach().cpu().double().numpy())
        return torch.from_numpy(x).to(b.device, b.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        g = ctx.lu.solve(grad.detach().cpu().double().numpy())
        return torch.from_numpy(g).to(grad.device, grad.dtype), None


class LargeSteps(torch.nn.Module):
    def __init__(self, rest: torch.Tensor, faces: torch.Tensor, lam: float = 20.0) -> None:
        """rest: (V, 3) input vertices; faces: (F, 3); lam: smoothing strength (paper: 19-49)."""
        super().__init__()
        m = smoothing_matrix(faces.cpu().numpy(), rest.shape[0], lam)
        self._lu = splu(m)
        u = torch.from_numpy(m @ rest.detach().cpu().double().numpy()).to(rest.device, rest.dtype)
        self.u = torch.nn.Parameter(u)

    def forward(self) -> torch.Tensor:
        return _Solve.apply(self.u, self._lu)
