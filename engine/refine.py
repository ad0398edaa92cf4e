"""REFINE: test-time refinement of a mesh so its silhouette matches a photo.

Everything runs in a normalized frame (bounding-box centre at the origin, max extent 1), so loss
weights and learning rates do not depend on the user's units; results are mapped back exactly.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import losses
from .camera import BlenderCamera, look_at, project
from .errors import InputError
from .inputs import check_mask, check_mesh, check_view
from .objective import Objective
from .params import DirectOffsets, LargeSteps, RefineNetwork, Similarity
from .proxy import make_proxy
from .render import SilhouetteRenderer
from .settings import Settings, preset
from .symmetry import Plane, detect_plane, fit_plane_offset


@dataclass
class Progress:
    """Handed to the progress callback after every iteration."""

    iteration: int  # 1-based, over all stages
    total: int
    stage: int
    image_hw: tuple[int, int]
    losses: dict[str, float]
    _verts: torch.Tensor = field(repr=False)
    _to_world: Callable[[torch.Tensor], np.ndarray] = field(repr=False)

    def vertices(self) -> np.ndarray:
        """Current vertices (V, 3) float64 in world units (computed on demand)."""
        return self._to_world(self._verts)


@dataclass
class Result:
    vertices: np.ndarray  # (V, 3) float64, world units, the input's vertex order
    report: dict[str, Any]
    cancelled: bool = False


ProgressCallback = Callable[[Progress], "bool | None"]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("settings: device 'cuda' requested but no CUDA GPU is available")
    return torch.device(name)


@contextlib.contextmanager
def deterministic_algorithms():
    """Deterministic kernels while a refinement runs (the backward of indexing accumulates with
    threads otherwise), restoring the caller's setting afterwards."""
    enabled, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn)


def sample_surface(verts: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Area-uniform random points on a triangle mesh. Returns (count, 3)."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    idx = rng.choice(len(faces), count, p=area / area.sum())
    r1, r2 = np.sqrt(rng.random(count))[:, None], rng.random(count)[:, None]
    return (1 - r1) * a[idx] + r1 * (1 - r2) * b[idx] + r1 * r2 * c[idx]


def choose_plane(verts_n: np.ndarray, faces: np.ndarray, settings: Settings) -> tuple[Plane | None, float | None]:
    """The symmetry plane in the normalized frame, per `settings.symmetry`."""
    if settings.symmetry == "none":
        return None, None
    points = sample_surface(verts_n, faces, 4000, np.random.default_rng(settings.seed))
    if settings.symmetry == "auto":
        return detect_plane(points, threshold=settings.symmetry_threshold)
    normal = np.eye(3)["xyz".index(settings.symmetry)]
    return fit_plane_offset(points, normal), None


def stage_sizes(image_wh: tuple[int, int], settings: Settings) -> list[tuple[int, int]]:
    """(H, W) per stage: the image's aspect, longest side frac * max_size (never above the image)."""
    w, h = image_wh
    longest = min(settings.max_size, max(w, h))
    out = []
    for frac in settings.stages:
        scale = max(frac * longest, 16) / max(w, h)
        out.append((max(8, round(h * scale)), max(8, round(w * scale))))
    return out


def _symmetry_views(settings: Settings) -> list[BlenderCamera]:
    """Fixed viewpoints around the normalized object for the image-symmetry loss."""
    n, s = settings.image_symmetry_views, settings.image_symmetry_size
    return [look_at(np.zeros(3), 360.0 * i / n + 15.0, 30.0 * (-1) ** i, 2.8, (s, s)) for i in range(n)]


def refine(
    verts: np.ndarray,
    faces: np.ndarray,
    mask: np.ndarray,
    camera: BlenderCamera,
    settings: Settings | None = None,
    image: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
) -> Result:
    """Refine a mesh against a silhouette seen from a Blender camera.

    Args:
        verts: (V, 3) world coordinates, same frame as the camera.
        faces: (F, 3) vertex indices.
        mask: (H, W) silhouette in [0, 1] (1 = object), H x W = the camera's resolution.
        camera: the camera the photo was taken from.
        settings: the refinement settings (default preset if None).
        image: optional (H, W, 3) photo in [0, 1], used by the "network" parameterization's encoder.
        progress: called after every iteration; returning True stops the run early (the best
            iterate so far is returned, with `cancelled=True`).
    Returns:
        Result with the refined (V, 3) vertices, same order as the input, and a report.
    """
    settings = settings or preset("default")
    settings.validate()
    verts, faces = check_mesh(verts, faces)
    # The optimization is float32; rounding the input once makes every entry point (float64 from
    # files, float32 from the socket) start from the same numbers and give the same result.
    verts = verts.astype(np.float32).astype(np.float64)
    mask = check_mask(mask, camera)
    check_view(verts, camera)
    t_start = time.perf_counter()
    torch.manual_seed(settings.seed)
    device = pick_device(settings.device)
    dtype = torch.float32

    lo, hi = verts.min(0), verts.max(0)
    centre, scale = (lo + hi) / 2, float((hi - lo).max())
    verts_n = (verts - centre) / scale
    plane, asymmetry = choose_plane(verts_n, faces, settings)
    t_plane = time.perf_counter() - t_start
    # A large mesh is optimized through a simplified proxy; the output keeps every input vertex.
    proxy = make_proxy(verts_n, faces, settings.proxy_faces) if 0 < settings.proxy_faces < len(faces) else None
    opt_verts, opt_faces = (proxy.verts, proxy.faces) if proxy else (verts_n, faces)
    t_proxy = time.perf_counter() - t_start - t_plane

    rest = torch.tensor(opt_verts, dtype=dtype, device=device)
    faces_t = torch.tensor(opt_faces, dtype=torch.int64, device=device)
    centre_t = torch.tensor(centre, dtype=dtype, device=device)
    mask_t = torch.tensor(mask, dtype=dtype, device=device)[None, None]
    img_w, img_h = camera.image_size_wh
    sizes = stage_sizes((img_w, img_h), settings)

    def to_world_t(v: torch.Tensor) -> torch.Tensor:
        return centre_t + scale * v

    def to_world(v: torch.Tensor) -> np.ndarray:
        """Optimized (normalized, maybe proxy) vertices -> every input vertex in world units."""
        v_n = v.detach().cpu().double().numpy()
        return centre + scale * (proxy.carry(v_n) if proxy else v_n)

    def pixels(v: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """(V, 3) normalized vertices -> (V, 3) pixel u, v, depth at stage resolution hw."""
        p = project(camera, to_world_t(v))
        return p * torch.tensor([hw[1] / img_w, hw[0] / img_h, 1.0], dtype=dtype, device=device)

    local = _make_model(settings, rest, faces_t, image, sizes[-1], pixels, device, dtype)
    similarity: Similarity | None = None
    if settings.align:
        # Camera right/up in the normalized frame (the normalization has no rotation).
        axes = np.asarray(camera.matrix_world, dtype=np.float64)[:3, :2].T
        axes = torch.tensor(axes / np.linalg.norm(axes, axis=1, keepdims=True), dtype=dtype, device=device)
        similarity = Similarity(local, rest.mean(0), axes).to(device)
    model: torch.nn.Module = similarity or local
    objective = Objective(
        settings.weights,
        rest,
        faces_t,
        plane,
        tuple(_symmetry_views(settings)) if plane else (),
        SilhouetteRenderer((settings.image_symmetry_size,) * 2, sigma=settings.sigma_px**2, backend=settings.backend),
    )
    if settings.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=settings.lr)

    history: list[dict[str, float]] = []
    per_stage = [settings.iterations // len(sizes) + (i < settings.iterations % len(sizes)) for i in range(len(sizes))]
    best_v, best_loss, best_iter = rest.clone(), math.inf, 0
    iteration, cancelled = 0, False
    with deterministic_algorithms():
        for stage, (hw, n_iter) in enumerate(zip(sizes, per_stage)):
            renderer = SilhouetteRenderer(
                hw, sigma=settings.sigma_px**2, faces_per_pixel=settings.faces_per_pixel, backend=settings.backend
            )
            target = F.interpolate(mask_t, size=hw, mode="area")[0]
            stage_best, since_best = math.inf, 0
            for _ in range(n_iter):
                iteration += 1
                opt.zero_grad(set_to_none=True)
                # The local parameterization runs once; the similarity (if any) goes on top.
                v_local = local()
                v = v_local if similarity is None else similarity.transform(v_local)
                alpha = renderer(pixels(v, hw)[None], faces_t)
                conf = local.confidence if isinstance(local, RefineNetwork) else None
                terms = objective(v, v_local, alpha, target, conf)
                total = sum(terms.values())
                total.backward()
                opt.step()

                with torch.no_grad():
                    iou = losses.soft_iou((alpha > 0.5).to(dtype), (target > 0.5).to(dtype))
                    # One device-to-host read per iteration for all the numbers (each float() would sync).
                    values = torch.stack([*terms.values(), total, iou]).tolist()
                record = dict(zip([*terms, "total", "iou"], values))
                history.append(record)
                # v is the iterate this loss was measured on (before the step).
                if record["total"] < stage_best * (1 - 1e-3):
                    since_best = 0
                else:
                    since_best += 1
                # Losses at different resolutions are not comparable: the best iterate is taken
                # within the latest stage reached.
                if record["total"] < stage_best:
                    stage_best = record["total"]
                    best_v, best_loss, best_iter = v.detach().clone(), record["total"], iteration
                if progress is not None:
                    stop = progress(Progress(iteration, settings.iterations, stage, hw, record, v.detach(), to_world))
                    if stop:
                        cancelled = True
                        break
                if since_best >= settings.patience:
                    break
            if cancelled:
                break

    elapsed = time.perf_counter() - t_start
    report = {
        "settings": settings.to_dict(),
        "device": str(device),
        "vertices": len(verts),
        "faces": len(faces),
        "normalization": {"centre": centre.tolist(), "scale": scale},
        "symmetry_plane": None
        if plane is None
        else {"normal": list(plane.normal), "offset": plane.offset * scale + float(np.dot(plane.normal, centre))},
        "asymmetry": asymmetry,
        "proxy": None if proxy is None else {"vertices": len(proxy.verts), "faces": len(proxy.faces)},
        "stages": [{"image_hw": list(hw), "iterations": n} for hw, n in zip(sizes, per_stage)],
        "iterations_run": iteration,
        "best_iteration": best_iter,
        "best_loss": best_loss,
        "cancelled": cancelled,
        "seconds": {
            "total": elapsed,
            "symmetry_search": t_plane,
            "proxy": t_proxy,
            "per_iteration": (elapsed - t_plane - t_proxy) / max(iteration, 1),
        },
        "history": history,
    }
    return Result(to_world(best_v), report, cancelled)


def _make_model(settings, rest, faces, image, final_hw, pixels, device, dtype) -> torch.nn.Module:
    if settings.parameterization == "largesteps":
        return LargeSteps(rest, faces, settings.lam).to(device)
    if settings.parameterization == "offsets":
        return DirectOffsets(rest).to(device)
    h, w = final_hw
    if image is None:
        img = torch.zeros(3, h, w, dtype=dtype, device=device)
    else:
        img = torch.tensor(np.asarray(image, dtype=np.float32), device=device).permute(2, 0, 1)[None]
        img = F.interpolate(img, size=(h, w), mode="area")[0]

    def grid(v: torch.Tensor) -> torch.Tensor:
        p = pixels(v, final_hw)
        return torch.stack((2 * p[:, 0] / w - 1, 2 * p[:, 1] / h - 1), dim=-1)

    return RefineNetwork(rest, faces, img, grid, encoder=settings.encoder != "none").to(device)
