"""Large Steps parameterization (Nicolet et al. 2021): optimize u = (I + lambda L) v.

A gradient step on u moves v = (I + lambda L)^-1 u by a smooth, mesh-wide displacement, so the
optimizer cannot carve spikes into the surface and converges in far fewer iterations than free
offsets. L is the combinatorial graph Laplacian D - A of the input mesh; the system matrix is
symmetric positive definite, factorized once with a sparse Cholesky (cholespy) on the tensors'
device: on a GPU the solves stay on the GPU, with no copy to the host.
"""

from __future__ import annotations

import cholespy
import numpy as np
import scipy.sparse as sp
import torch

from ..topology import adjacency


def smoothing_matrix(faces: np.ndarray, num_verts: int, lam: float) -> sp.coo_matrix:
    """(V, V) I + lam (D - A) over the mesh's unique edges. faces: (F, 3) int."""
    adj = adjacency(faces, num_verts)
    lap = sp.diags(np.asarray(adj.sum(1)).ravel()) - adj
    return (sp.identity(num_verts) + lam * lap).tocoo()


class _Solve(torch.autograd.Function):
    """x = M^-1 b with a prefactorized symmetric M; the backward pass is the same solve."""

    @staticmethod
    def forward(ctx, b: torch.Tensor, solver: cholespy.CholeskySolverF) -> torch.Tensor:  # type: ignore[override]
        ctx.solver = solver
        return _solve(solver, b)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return _solve(ctx.solver, grad), None


def _solve(solver: cholespy.CholeskySolverF, b: torch.Tensor) -> torch.Tensor:
    b = b.detach().to(torch.float32).contiguous()
    x = torch.empty_like(b)
    solver.solve(b, x)
    return x


class LargeSteps(torch.nn.Module):
    def __init__(self, rest: torch.Tensor, faces: torch.Tensor, lam: float = 20.0) -> None:
        """rest: (V, 3) float32 input vertices; faces: (F, 3); lam: smoothing strength (paper: 19-49)."""
        super().__init__()
        m = smoothing_matrix(faces.cpu().numpy(), rest.shape[0], lam)
        dev = rest.device

        def index(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=torch.int32, device=dev)

        values = torch.as_tensor(m.data, dtype=torch.float64, device=dev)
        self._solver = cholespy.CholeskySolverF(rest.shape[0], index(m.row), index(m.col), values, cholespy.MatrixType.COO)
        u = torch.from_numpy(m @ rest.detach().cpu().double().numpy()).to(dev, rest.dtype)
        self.u = torch.nn.Parameter(u)

    def deform(self) -> tuple[torch.Tensor, None]:
        """(V, 3) vertices, and no per-vertex symmetry confidence."""
        return self(), None

    def forward(self) -> torch.Tensor:
        return _Solve.apply(self.u, self._solver)
