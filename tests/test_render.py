"""The fast silhouette path against PyTorch3D's own rasterizer and SoftSilhouetteShader model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from pytorch3d.structures import Meshes

from engine.camera import look_at, project
from engine.render import SilhouetteRenderer, hard_silhouette
from engine.render.silhouette import pixels_to_ndc

from .conftest import ico_sphere


def _pixels(level: int, hw: tuple[int, int], azimuth: float = 30.0) -> tuple[torch.Tensor, torch.Tensor]:
    verts, faces = ico_sphere(level)
    verts = verts * np.array([1.0, 0.6, 0.8])
    cam = look_at(np.zeros(3), azimuth, 25.0, 4.0, (hw[1], hw[0]))
    return project(cam, torch.tensor(verts, dtype=torch.float64))[None], torch.tensor(faces)


@pytest.mark.parametrize("hw, sigma", [((64, 64), 0.5), ((48, 80), 1.0), ((90, 60), 0.2)])
def test_fast_matches_pytorch3d_values_and_gradients(hw, sigma):
    pix, faces = _pixels(2, hw)
    # PyTorch3D drops a face at a pixel where the depth extrapolated from the face's barycentrics
    # is negative, which happens next to slivers seen edge-on; we don't (a silhouette has no depth
    # order). With a constant depth the two definitions coincide exactly.
    pix[..., 2] = 4.0
    target = torch.rand(hw, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = {}
    for backend in ("fast", "pytorch3d"):
        p = pix.clone().float().requires_grad_(True)
        # K=150 (PyTorch3D's cap) keeps every face within the blur radius on this small mesh.
        alpha = SilhouetteRenderer(hw, sigma=sigma, faces_per_pixel=150, backend=backend)(p, faces)
        ((alpha[0] - target.float()) ** 2).sum().backward()
        out[backend] = (alpha.detach(), p.grad)
    (a_fast, g_fast), (a_ref, g_ref) = out["fast"], out["pytorch3d"]
    assert a_ref.max() > 0.99 and a_ref.min() < 0.01
    np.testing.assert_allclose(a_fast, a_ref, atol=2e-5)
    np.testing.assert_allclose(g_fast, g_ref, atol=2e-4 * g_ref.abs().max().item())


def test_hard_silhouette_equals_pytorch3d_rasterizer():
    hw = (70, 90)
    pix, faces = _pixels(3, hw, azimuth=110.0)
    ndc = pixels_to_ndc(pix[0].float(), hw)
    ref = (
        rasterize_meshes(Meshes([ndc], [faces]), image_size=hw, blur_radius=0.0, faces_per_pixel=1, bin_size=0)[0][0, ..., 0] >= 0
    )
    ours = hard_silhouette(pix.float(), faces, hw)[0]
    assert ours.sum() > 500
    assert torch.equal(ours, ref)


def test_views_are_rendered_independently_in_a_batch():
    hw = (40, 50)
    a, faces = _pixels(2, hw, 10.0)
    b, _ = _pixels(2, hw, 200.0)
    r = SilhouetteRenderer(hw, sigma=0.5)
    both = r(torch.cat([a, b]), faces)
    torch.testing.assert_close(both[0], r(a, faces)[0])
    torch.testing.assert_close(both[1], r(b, faces)[0])


def test_faces_behind_the_camera_are_not_drawn():
    hw = (32, 32)
    pix, faces = _pixels(1, hw)
    behind = pix.clone()
    behind[..., 2] = -behind[..., 2]
    assert SilhouetteRenderer(hw)(behind, faces).sum() == 0
    assert not hard_silhouette(behind, faces, hw).any()


def test_binning_can_never_overflow():
    """CUDA: every bin has room for every face; CPU: no bins (checked without a GPU)."""
    from engine.render.silhouette import binning

    assert binning(torch.device("cuda", 0), 200_000) == {"bin_size": None, "max_faces_per_bin": 200_000}
    assert binning(torch.device("cpu"), 200_000) == {"bin_size": 0, "max_faces_per_bin": None}
