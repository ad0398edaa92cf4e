"""Vertex parameterizations: the Large Steps solve and its gradient."""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as sla
import torch

from engine.params import LargeSteps
from engine.params.largesteps import smoothing_matrix

from .conftest import ico_sphere


def test_large_steps_starts_at_the_rest_mesh_and_solves_like_scipy():
    v, f = ico_sphere(3)
    rest = torch.tensor(v, dtype=torch.float32)
    model = LargeSteps(rest, torch.tensor(f), lam=20.0)
    np.testing.assert_allclose(model().detach().numpy(), v, atol=1e-5)
    m = smoothing_matrix(f, len(v), 20.0).tocsc()
    u = np.random.default_rng(0).normal(size=(len(v), 3))
    with torch.no_grad():
        model.u.copy_(torch.tensor(u))
    np.testing.assert_allclose(model().detach().numpy(), sla.spsolve(m, u), atol=1e-4)


def test_large_steps_gradient_is_the_same_solve():
    """d/du <w, M^-1 u> = M^-1 w (M symmetric)."""
    v, f = ico_sphere(2)
    model = LargeSteps(torch.tensor(v, dtype=torch.float32), torch.tensor(f), lam=5.0)
    w = torch.tensor(np.random.default_rng(1).normal(size=v.shape), dtype=torch.float32)
    (model() * w).sum().backward()
    expected = sla.spsolve(smoothing_matrix(f, len(v), 5.0).tocsc(), w.double().numpy())
    np.testing.assert_allclose(model.u.grad.numpy(), expected, atol=1e-4)
