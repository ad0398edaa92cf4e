"""The fast silhouette path against PyTorch3D's own rasterizer and SoftSilhouetteShader model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from pytorch3d.structures import Meshes

from engine.camera import look_at, project
from engine.render import SilhouetteRenderer, hard_silhouette
from engine.render.silhouette import _signed_dist2, face_pixel_pairs, pixels_to_ndc

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


def test_the_nearest_face_blend_puts_the_half_level_on_the_outline():
    """The union of every face's coverage lies outside a closed mesh's outline (front, back and
    grazing faces each add their share there); outside every face, the nearest face's alone
    crosses 0.5 on it. Inside, faces smaller than the blur keep the union's full coverage. Both are
    differentiable."""
    hw = (96, 96)
    pix, faces = _pixels(4, hw)
    hard = hard_silhouette(pix.float(), faces, hw)[0]
    areas = {}
    for blend in ("union", "nearest"):
        p = pix.clone().float().requires_grad_(True)
        alpha = SilhouetteRenderer(hw, sigma=1.0, blend=blend)(p, faces)
        alpha.sum().backward()
        assert p.grad.abs().sum() > 0
        areas[blend] = (alpha[0] > 0.5).sum().item()
        inside = alpha[0].detach()[hard & ~torch.nn.functional.max_pool2d((~hard).float()[None, None], 5, 1, 2)[0, 0].bool()]
        assert inside.min() > 0.9
    outline = (hard & torch.nn.functional.max_pool2d((~hard).float()[None, None], 3, 1, 1)[0, 0].bool()).sum().item()
    assert abs(areas["nearest"] - hard.sum().item()) < 0.1 * outline
    assert areas["union"] - hard.sum().item() > 0.5 * outline
    with pytest.raises(ValueError, match="nearest"):
        SilhouetteRenderer(hw, blend="nearest", backend="pytorch3d")(pix.float(), faces)


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


_corner = st.tuples(st.floats(-10.0, 50.0), st.floats(-10.0, 42.0))


@settings(max_examples=60, deadline=None)
@given(triangles=st.lists(st.tuples(_corner, _corner, _corner), min_size=1, max_size=6), margin=st.sampled_from([0.0, 0.91, 2.5]))
def test_pairs_include_every_pixel_near_a_face(triangles, margin):
    """Every pixel centre within `margin` of a face (inside it for 0) is enumerated with that face,
    once, for any triangles: slivers, degenerate ones, partly outside the (36, 44) image. (Near a
    degenerate face every point on its line counts as inside: the face's grown box bounds it.)"""
    hw = (36, 44)
    pix = torch.tensor([c for t in triangles for c in t], dtype=torch.float32)
    pix = torch.cat((pix, torch.ones(len(pix), 1)), 1)[None]  # in front of the camera
    faces = torch.arange(len(pix[0])).view(-1, 3)
    tri, pixel, _ = face_pixel_pairs(pix, faces, hw, margin)
    rows, cols = torch.meshgrid(torch.arange(hw[0]), torch.arange(hw[1]), indexing="ij")
    centres = torch.stack((cols, rows), -1).reshape(-1, 2).float() + 0.5
    xy = pix[0, :, :2]
    for f, face in enumerate(faces):
        a, b, c = (xy[i].expand(len(centres), 2) for i in face)
        d = _signed_dist2(centres, a, b, c)
        corners = xy[face]
        in_box = ((centres >= corners.amin(0) - margin) & (centres <= corners.amax(0) + margin)).all(1)
        near = in_box & ((d <= 0) | (d < margin**2))
        listed = pixel[tri[:, 0] == face[0]]
        assert len(listed.unique()) == len(listed)
        assert set(torch.nonzero(near)[:, 0].tolist()) <= set(listed.tolist()), f"face {f}"


def test_a_long_diagonal_sliver_enumerates_about_its_own_pixels():
    """Not its bounding box: a low-poly cylinder's walls are such faces."""
    pix = torch.tensor([[[2.0, 2.0, 1.0], [250.0, 250.0, 1.0], [252.0, 251.0, 1.0]]])
    tri, _, _ = face_pixel_pairs(pix, torch.tensor([[0, 1, 2]]), (256, 256), 0.91)
    assert len(tri) < 2000  # the bounding box has 62 000 pixels
