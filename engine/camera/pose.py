"""A Blender camera with a differentiable correction: an orbit about the object, a translation and
a focal scale. The parameters are zero for the starting camera and stay well conditioned near it:
rotating about the object's centre changes the viewing direction without sliding the object out of
the frame, and translations are in units of the object's size."""

from __future__ import annotations

import numpy as np
import torch
from pytorch3d.transforms import axis_angle_to_matrix

from .blender import BlenderCamera, camera_to_pixels, with_pose


class CameraCorrection(torch.nn.Module):
    """x_cam = R (x0_cam - c) + c + size * t, focal x exp(log_focal), where x0_cam is a point in the
    starting camera's frame and c the object's centre in that frame.

    Parameters: `orbit` (3,) axis-angle in the starting camera's frame (radians), `shift` (3,)
    translation in the camera frame (object sizes), `log_focal` () (perspective: the lens;
    orthographic: the magnification).
    """

    def __init__(self, camera: BlenderCamera, centre: np.ndarray, size: float) -> None:
        super().__init__()
        self.camera = camera
        self.centre_world = np.asarray(centre, dtype=np.float64)
        w2c = camera.world_to_camera()
        self.register_buffer("rotation0", torch.tensor(w2c[:3, :3], dtype=torch.float64))
        self.register_buffer("translation0", torch.tensor(w2c[:3, 3], dtype=torch.float64))
        self.register_buffer("centre", torch.tensor(w2c[:3, :3] @ centre + w2c[:3, 3], dtype=torch.float64))
        self.size = float(size)
        self.orbit = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        self.shift = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        self.log_focal = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) world points -> (..., 3) pixel u, v, depth at the camera's resolution
        (differentiable in the parameters; computed in float64, returned in the points' dtype)."""
        rotation = axis_angle_to_matrix(self.orbit)
        x0 = points.double() @ self.rotation0.T + self.translation0
        x = (x0 - self.centre) @ rotation.T + self.centre + self.size * self.shift
        return camera_to_pixels(self.camera, x, torch.exp(self.log_focal)).to(points.dtype)

    def prior(self, orbit: float, shift: float, log_focal: float) -> torch.Tensor:
        """Half the squared norm of the parameters in units of their expected sizes (a Gaussian
        prior centred on the starting camera)."""
        return 0.5 * (
            (self.orbit / orbit).square().sum() + (self.shift / shift).square().sum() + (self.log_focal / log_focal) ** 2
        )

    @torch.no_grad()
    def set_(self, orbit: np.ndarray | None = None, shift: np.ndarray | None = None, log_focal: float | None = None) -> None:
        """Overwrite some parameters (a search's starting point)."""
        for param, value in ((self.orbit, orbit), (self.shift, shift), (self.log_focal, log_focal)):
            if value is not None:
                param.copy_(torch.as_tensor(value, dtype=torch.float64))

    @torch.no_grad()
    def fitted(self) -> BlenderCamera:
        """The corrected camera as a Blender camera (same intrinsics, new pose, scaled lens)."""
        rotation = axis_angle_to_matrix(self.orbit)
        r_w2c = rotation @ self.rotation0
        t_w2c = rotation @ (self.translation0 - self.centre) + self.centre + self.size * self.shift
        centre = -r_w2c.T @ t_w2c
        return with_pose(self.camera, r_w2c.cpu().numpy(), centre.cpu().numpy(), float(torch.exp(self.log_focal)))


def rotation_between_deg(a: BlenderCamera, b: BlenderCamera) -> float:
    """Angle (degrees) of the rotation between two cameras' orientations."""
    ra, rb = a.world_to_camera()[:3, :3], b.world_to_camera()[:3, :3]
    cos = (np.trace(ra @ rb.T) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
