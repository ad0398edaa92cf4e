"""The run's self-check: motion along the viewing rays, volume, far side; and the along-ray loss."""

from __future__ import annotations

import numpy as np
import torch

from engine.camera import BlenderCamera, look_at, ray_directions
from engine.losses import along_ray_l2
from engine.selfcheck import self_check

from .conftest import ico_sphere


def cameras() -> list[BlenderCamera]:
    persp = look_at(np.zeros(3), 30, 20, 5.0, size=(64, 64))
    return [persp, BlenderCamera(**{**persp.to_dict(), "type": "ORTHO", "ortho_scale": 3.0})]


def test_rays_are_unit_and_point_from_the_camera_or_along_its_axis():
    verts, _ = ico_sphere(2)
    persp, ortho = cameras()
    rays = ray_directions(persp, verts)
    np.testing.assert_allclose(np.linalg.norm(rays, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.cross(rays, verts - persp.location), 0.0, atol=1e-9)
    np.testing.assert_allclose(ray_directions(ortho, verts), np.broadcast_to(ortho.view_direction, verts.shape))


def test_along_ray_loss_sees_only_motion_along_the_rays():
    verts, _ = ico_sphere(2)
    rays = ray_directions(cameras()[0], verts)
    rest = torch.tensor(verts)
    r = torch.tensor(rays)
    across = torch.tensor(np.cross(rays, [0.0, 0.0, 1.0]))
    assert abs(along_ray_l2(rest + 0.1 * r, rest, r).item() - 0.01) < 1e-12
    assert along_ray_l2(rest + 0.1 * across, rest, r).item() < 1e-20


def test_a_similarity_passes_depth_drift_is_warned_about_and_a_volume_change_reported():
    verts, faces = ico_sphere(3)
    for camera in cameras():
        clean = self_check(verts, 1.3 * verts + [0.2, -0.1, 0.3], faces, camera, 2.0)
        assert clean["along_ray"] < 1e-9 and abs(clean["volume_change"]) < 1e-9 and not clean["warnings"]
        rays = ray_directions(camera, verts)
        bumps = np.sin(3 * verts[:, :1]) * 0.25  # a non-rigid slide along the rays only
        drift = self_check(verts, verts + bumps * rays, faces, camera, 2.0)
        assert drift["along_ray"] > 0.03 > drift["across_ray"] and "depth drift" in drift["warnings"][0]
    swollen = self_check(verts, verts * (1 + 1.0 * (verts[:, :1] > 0)), faces, cameras()[0], 2.0)  # one half inflated
    # Reported, not warned about: a coarse input's volume is often what the photo corrects.
    assert swollen["volume_change"] > 0.25 and not swollen["warnings"]
