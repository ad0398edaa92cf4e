"""Refinement settings and named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import refine_protocol.messages as m
from refine_protocol.request import SETTING_OPTIONS

from .errors import InputError, LimitError

PARAMETERIZATIONS = ("largesteps", "offsets", "network")
AUTO = "auto"  # device: CUDA when available, else the CPU
DEVICES = (AUTO, "cpu", "cuda")
SYMMETRY = tuple(m.SYMMETRY)  # "auto", "none", or the world axis normal to the mirror plane


@dataclass(frozen=True)
class Weights:
    """Loss weights. Every term is a mean in the normalized frame (max extent 1), so the weights do
    not depend on the user's units, the mesh size or the image size."""

    silhouette: float = 10.0
    silhouette_kind: str = "bce"  # "bce" (REFINE) or "l2" (PyTorch3D tutorial)
    offset: float = 100.0
    along_ray: float = 0.0  # displacement along the viewing rays (see losses.along_ray_l2)
    laplacian: float = 10.0
    laplacian_of: str = "mesh"  # "mesh" (REFINE) or "offsets" (smooth the displacement only)
    normal: float = 10.0
    edge: float = 0.0
    vertex_symmetry: float = 20.0
    image_symmetry: float = 0.0
    interpenetration: float = 1e4  # parts going into each other (several parts only; see losses.interpenetration)
    view_cameras: float = 0.05  # the prior of the views' cameras corrected with the shape (fit_views; problem.VIEW_PRIOR_SIGMA)


@dataclass(frozen=True)
class Settings:
    """Everything that controls one refinement.

    Attributes:
        parameterization: "largesteps" ((I + lambda L) v, Nicolet et al.), "offsets" (free v0 + dv)
            or "network" (the REFINE graph network).
        align: also optimize a global scale and image-plane shift (see params.similarity).
        stretch: with align, also a global stretch in the image plane (see params.similarity).
        encoder: with "network": "random" (randomly initialized ResNet-18 trunk) or "none".
        iterations: total optimizer steps over all stages.
        stages: render resolutions as fractions of `max_size`, run coarse to fine; the iterations
            are split evenly.
        max_size: longest image side rendered in the last stage, in pixels (capped at the image).
        sigma_px: silhouette edge softness in pixels (PyTorch3D's sigma = (sigma_px * 2 / S)^2).
        faces_per_pixel: K nearest faces blended per pixel by the "pytorch3d" backend (the fast
            backend blends every face within the blur radius).
        optimizer: "adam" or "sgd" (momentum 0.9, the PyTorch3D tutorial's).
        symmetry: "auto" (find the plane, or none if the shape is not symmetric), "none", or a
            world axis "x" | "y" | "z" for the plane's normal.
        symmetry_threshold: auto-detection accepts a plane whose mirror error is below this many
            times the surface-sampling noise floor (see symmetry.detect_plane).
        image_symmetry_views: number of fixed viewpoints of the image-symmetry loss.
        patience: a stage ends early after this many iterations without a 0.1 % loss improvement.
        backend: silhouette renderer, "fast" or "pytorch3d".
        fit_camera: "off" (the camera is exact), "refine" (correct a close camera) or "search"
            (find the viewpoint) before the shape is refined (align/fit.py).
        on_doubt: "stop" (a camera search whose view is in doubt, align/fit.py CameraFit.warnings,
            leaves the shape as it is) or "warn" (refines from it and warns).
        find_only: find the camera and the silhouette, then stop before the shape moves.
        fit_views: with several views and fit_camera not "off", every view's camera is corrected
            together with the shape (placed by hand; RefineInputs.corrects_views); False: the
            further views' cameras are exact and the first is fitted as fit_camera says.
        proxy_faces: a mesh with more faces is optimized through a decimated proxy of about this
            many faces and the deformation carried back to every vertex (0: never).
    """

    parameterization: str = "largesteps"
    encoder: str = "random"
    align: bool = True
    stretch: bool = True
    lam: float = 20.0
    lr: float = 1e-2
    optimizer: str = "adam"
    iterations: int = 300
    stages: tuple[float, ...] = (0.5, 1.0)
    max_size: int = 256
    sigma_px: float = 0.3
    faces_per_pixel: int = 32
    weights: Weights = field(default_factory=Weights)
    symmetry: str = m.SYMMETRY_AUTO
    symmetry_threshold: float = 2.0
    image_symmetry_views: int = 4
    image_symmetry_size: int = 64
    patience: int = 50
    backend: str = "fast"
    proxy_faces: int = 25_000
    fit_camera: str = m.FIT_OFF
    on_doubt: str = m.DOUBT_STOP
    find_only: bool = False
    fit_views: bool = True
    device: str = AUTO
    seed: int = 0

    @property
    def uses_image(self) -> bool:
        """Whether the photo's colours matter (the network's image encoder), not only its silhouette."""
        return self.parameterization == "network" and self.encoder != "none"

    def validate(self) -> None:
        if self.parameterization not in PARAMETERIZATIONS:
            raise InputError(f"settings: parameterization must be one of {', '.join(PARAMETERIZATIONS)}")
        if self.symmetry not in SYMMETRY:
            raise InputError(f"settings: symmetry must be one of {', '.join(SYMMETRY)} (got {self.symmetry!r})")
        if self.fit_camera not in m.FIT_CAMERA:
            raise InputError(f"settings: fit_camera must be one of {', '.join(m.FIT_CAMERA)} (got {self.fit_camera!r})")
        if self.on_doubt not in m.ON_DOUBT:
            raise InputError(f"settings: on_doubt must be one of {', '.join(m.ON_DOUBT)} (got {self.on_doubt!r})")
        if self.device not in DEVICES:
            raise InputError(f"settings: device must be one of {', '.join(DEVICES)}")
        for name, allowed in (
            ("optimizer", ("adam", "sgd")),
            ("backend", ("fast", "pytorch3d")),
            ("encoder", ("random", "none")),
        ):
            if getattr(self, name) not in allowed:
                raise InputError(f"settings: {name} must be one of {', '.join(allowed)}")
        if not 1 <= self.iterations <= 100_000:
            raise InputError("settings: iterations must be in 1..100000")
        if not 16 <= self.max_size <= 4096:
            raise InputError("settings: max_size must be in 16..4096")
        if not self.stages or any(not 0 < s <= 1 for s in self.stages):
            raise InputError("settings: stages must be fractions in (0, 1]")
        if not 1 <= self.faces_per_pixel <= 150:
            raise InputError("settings: faces_per_pixel must be in 1..150 (PyTorch3D's cap)")
        if self.proxy_faces != 0 and not 100 <= self.proxy_faces <= 10_000_000:
            raise InputError("settings: proxy_faces must be 0 (never) or in 100..10000000")
        if not 0 <= self.seed < 2**63:
            raise InputError("settings: seed must be in 0..2^63-1")
        if not (self.lr > 0 and self.sigma_px > 0 and self.lam >= 0):
            raise InputError("settings: lr and sigma_px must be > 0, lam >= 0")

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with top-level fields and `weights` fields (by their names) replaced."""
        top = {f.name for f in fields(Settings)}
        wnames = {f.name for f in fields(Weights)}
        t = {k: v for k, v in overrides.items() if k in top and v is not None}
        w = {k: v for k, v in overrides.items() if k in wnames and v is not None}
        unknown = set(overrides) - top - wnames
        if unknown:
            raise InputError(f"settings: unknown option(s) {', '.join(sorted(unknown))}")
        out = replace(self, **t)
        return replace(out, weights=replace(out.weights, **w)) if w else out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_WEIGHTS = Weights(silhouette=10.0, offset=100.0, along_ray=1000.0, laplacian=0.0, normal=0.0, vertex_symmetry=20.0)
PRESETS: dict[str, Settings] = {
    # Chosen with bench/quality.py (see docs/benchmarks.md).
    # offset 100 and along_ray 1000: chosen on the tuning half of the broader benchmark for the
    # smallest worst-case regression against the input (docs/method.md, "Regularizers").
    m.PRESET_DEFAULT: Settings(weights=DEFAULT_WEIGHTS),
    m.PRESET_FAST: Settings(iterations=80, max_size=160, weights=DEFAULT_WEIGHTS),
    # REFINE as published (lite network, authors' weights, Adam 7e-5, 400 iterations, 224 px,
    # K=100, image symmetry), except: no ImageNet weights, the real camera, the detected plane.
    m.PRESET_PAPER: Settings(
        align=False,
        parameterization="network",
        encoder="random",
        lr=7e-5,
        iterations=400,
        stages=(1.0,),
        max_size=224,
        sigma_px=1.12,
        faces_per_pixel=100,
        weights=Weights(image_symmetry=80.0),
        patience=400,
    ),
    # The PyTorch3D tutorial recipe: free offsets, L2 silhouette, edge + normal + Laplacian, SGD.
    m.PRESET_NAIVE: Settings(
        align=False,
        parameterization="offsets",
        optimizer="sgd",
        lr=1.0,
        stages=(1.0,),
        symmetry=m.SYMMETRY_NONE,
        weights=Weights(
            silhouette=1.0, silhouette_kind="l2", offset=0.0, laplacian=1.0, normal=0.01, edge=1.0, vertex_symmetry=0.0
        ),
        patience=10_000,
    ),
}


def preset(name: str) -> Settings:
    if name not in PRESETS:
        raise InputError(f"settings: unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def resolve(
    options: dict[str, Any], device: str | None = None, max_iterations: int | None = None, max_size: int | None = None
) -> Settings:
    """The one way a job's settings are made (CLI, socket, batch row): the preset named in
    `options` (refine_protocol.request.SETTING_OPTIONS; others are ignored, None means not
    given), the other options and `device` as overrides, checked against `max_iterations` and
    `max_size` (a server's limits: LimitError) and validated (InputError)."""
    given = {k: v for k, v in options.items() if k in SETTING_OPTIONS and v is not None}
    settings = preset(given.pop("preset", m.PRESET_DEFAULT)).with_overrides(**given, device=device)
    if max_iterations is not None and not 1 <= settings.iterations <= max_iterations:
        raise LimitError(f"settings: iterations must be in 1..{max_iterations}")
    if max_size is not None and settings.max_size > max_size:
        raise LimitError(f"settings: max_size must be at most {max_size}")
    settings.validate()
    return settings
