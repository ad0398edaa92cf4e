"""Loss terms on cases small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine import losses
from engine.camera import look_at, project
from engine.render import SilhouetteRenderer

from .conftest import ico_sphere


def test_silhouette_bce_and_l2_by_hand():
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    half = torch.full((2, 2), 0.5)
    assert losses.silhouette_bce(half, target).item() == pytest.approx(math.log(2), rel=1e-5)
    assert losses.silhouette_bce(target, target).item() < 1e-5
    assert losses.silhouette_l2(half, target).item() == pytest.approx(0.25)
    assert losses.soft_iou(target, target).item() == pytest.approx(1.0)
    assert losses.soft_iou(torch.tensor([[1.0, 1.0], [0.0, 0.0]]), target).item() == pytest.approx(1 / 3)


def test_offset_l2_by_hand():
    rest = torch.zeros(2, 3)
    verts = torch.tensor([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    assert losses.offset_l2(verts, rest).item() == pytest.approx(9 / 6)


def test_uniform_laplacian_on_a_tetrahedron_by_hand():
    verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    lap = losses.uniform_laplacian(faces, 4)
    # Every vertex neighbours the other three: (L v)_i = mean(others) - v_i.
    expected = np.mean([np.linalg.norm((verts.sum(0) - 4 * v).numpy() / 3) for v in verts])
    assert losses.laplacian(lap, verts).item() == pytest.approx(expected, rel=1e-5)
    # It depends on the displacement only when applied to offsets: a translation costs nothing.
    assert losses.laplacian(lap, torch.ones(4, 3)).item() == pytest.approx(0.0, abs=1e-6)


def test_normal_consistency_flat_and_folded():
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    flat = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    assert losses.normal_consistency(flat, faces).item() == pytest.approx(0.0, abs=1e-6)
    folded = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1]])  # hinge on edge 0-2
    n1 = np.cross([1, 0, 0], [1, 1, 0])
    n2 = np.cross([1, 1, 0], [0, 0, 1])
    cos = n1 @ n2 / np.linalg.norm(n1) / np.linalg.norm(n2)
    assert losses.normal_consistency(folded, faces).item() == pytest.approx(1 - cos, rel=1e-5)


def test_vertex_symmetry_zero_when_symmetric_and_known_when_shifted():
    grid = torch.tensor([[x, y, z] for x in (-1.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 2.0)])
    normal = torch.tensor([1.0, 0.0, 0.0])
    assert losses.vertex_symmetry(grid, normal, 0.0).item() == pytest.approx(0.0)
    # Shifting by t along the normal moves every mirror image 2t away from its partner.
    t = 0.05
    shifted = grid + torch.tensor([t, 0.0, 0.0])
    assert losses.vertex_symmetry(shifted, normal, 0.0).item() == pytest.approx((2 * t) ** 2, rel=1e-5)
    # ... and the plane through the shifted centre is symmetric again.
    assert losses.vertex_symmetry(shifted, normal, t).item() == pytest.approx(0.0, abs=1e-10)
    # With confidence c: mean(b log(1/c) + c d).
    c = torch.full((8,), 0.5)
    expected = 5e-4 * math.log(2) + 0.5 * (2 * t) ** 2
    assert losses.vertex_symmetry(shifted, normal, 0.0, c).item() == pytest.approx(expected, rel=1e-5)


def test_image_symmetry_zero_only_for_a_symmetric_shape():
    verts, faces = ico_sphere(2)
    faces_t = torch.tensor(faces)
    cams = [look_at(np.zeros(3), az, 20.0, 4.0, (48, 48)) for az in (20.0, 140.0)]
    renderer = SilhouetteRenderer((48, 48), sigma=0.5)

    def render(v: torch.Tensor) -> torch.Tensor:
        return renderer(torch.stack([project(c, v) for c in cams]), faces_t)

    normal = torch.tensor([1.0, 0.0, 0.0])
    sphere = torch.tensor(verts, dtype=torch.float32)
    assert losses.image_symmetry(render, sphere, normal, 0.0).item() < 1e-3
    lopsided = sphere * torch.where(sphere[:, :1] > 0, 1.4, 1.0)
    assert losses.image_symmetry(render, lopsided, normal, 0.0).item() > 1e-2
