"""What one refinement optimizes: the mesh it moves (the input or a proxy), the parameterization
of its vertices, the objective, the optimizer, and one iteration of them at a stage's resolution.
Further parameters (a camera, say) join here, in `Problem`, without touching the loop."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

from . import losses
from .camera import BlenderCamera, look_at, project, ray_directions, render_size, rescale_pixels
from .camera.pose import CameraCorrection
from .frame import NormalizedFrame
from .inputs import RefineInputs
from .objective import Objective
from .optimize import Stage, Step
from .params import DirectOffsets, LargeSteps, RefineNetwork, Similarity
from .preview import silhouette
from .proxy import Proxy, make_proxy
from .render import SilhouetteRenderer
from .settings import Settings
from .symmetry import Plane
from .topology import weld, welded_faces

DTYPE = torch.float32
Pixels = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]  # (V, 3) frame vertices, (H, W) -> (V, 3) u, v, depth
# A view's camera corrected with the shape (RefineInputs.corrects_views): a Gaussian prior about the
# camera given, in CameraCorrection's units (orbit radians, shift in object sizes, log focal), at the
# scale of a camera placed by hand: 10 degrees, 5 % of the object's size, 10 % of the lens.
VIEW_PRIOR_SIGMA = (math.radians(10.0), 0.05, 0.1)


@dataclass
class OptimizedMesh:
    """The mesh the optimizer moves, as tensors in the normalized frame: the input with the copies
    of each vertex that exporters split along seams welded into one (topology.weld), or a
    decimated proxy of a large one, whose motion is carried back to every input vertex."""

    rest: torch.Tensor  # (V', 3)
    faces: torch.Tensor  # (F', 3) int64
    frame: NormalizedFrame
    proxy: Proxy | None
    welded: np.ndarray  # (V,) int64: each input vertex's welded vertex (a proxy carries to the welded mesh)
    labels: np.ndarray  # (U,) int64: each welded vertex's part

    @classmethod
    def build(
        cls,
        verts: np.ndarray,
        faces: np.ndarray,
        frame: NormalizedFrame,
        proxy_faces: int,
        device: torch.device,
        parts: tuple[int, ...] = (),
    ) -> OptimizedMesh:
        """verts: (V, 3) normalized; `parts`: vertex counts of consecutive parts (never welded
        together); a proxy of about `proxy_faces` faces when there are more (0: never)."""
        labels = np.repeat(np.arange(len(parts)), parts) if parts else np.zeros(len(verts), np.int64)
        welded, first = weld(verts, labels)
        w_verts, w_faces = verts[first], welded_faces(faces, welded)
        proxy = make_proxy(w_verts, w_faces, proxy_faces) if 0 < proxy_faces < len(w_faces) else None
        opt_verts, opt_faces = (proxy.verts, proxy.faces) if proxy else (w_verts, w_faces)
        rest = torch.tensor(opt_verts, dtype=DTYPE, device=device)
        return cls(rest, torch.tensor(opt_faces, dtype=torch.int64, device=device), frame, proxy, welded, labels[first])

    def part_labels(self) -> torch.Tensor | None:
        """(V',) int64 part of each optimized vertex (a proxy's vertex: its nearest welded
        vertex's), or None for a single part."""
        if self.labels.max(initial=0) == 0:
            return None
        labels = self.labels
        if self.proxy is not None:
            labels = labels[cKDTree(self.proxy.rest).query(self.proxy.verts)[1]]
        return torch.tensor(labels, dtype=torch.int64, device=self.rest.device)

    def to_world(self, v: torch.Tensor) -> np.ndarray:
        """Optimized vertices (V', 3) -> every input vertex (V, 3), float64 world units."""
        v_n = v.detach().cpu().double().numpy()
        return self.frame.to_world((self.proxy.carry(v_n) if self.proxy else v_n)[self.welded])


def plan_stages(image_wh: tuple[int, int], settings: Settings) -> list[Stage]:
    """Coarse to fine: per stage the image's aspect at `frac * max_size` on its longest side
    (never above the image, at least 16 px), the iterations split evenly."""
    w, h = image_wh
    longest = min(settings.max_size, max(w, h))
    n, k = settings.iterations, len(settings.stages)
    return [Stage(render_size(image_wh, max(frac * longest, 16)), n // k + (i < n % k)) for i, frac in enumerate(settings.stages)]


def pixel_projector(camera: BlenderCamera, frame: NormalizedFrame) -> Pixels:
    """Normalized vertices -> pixel u, v and depth at a stage's resolution."""

    def pixels(v: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        return rescale_pixels(project(camera, frame.to_world_t(v)), camera.image_size_wh, hw)

    return pixels


@dataclass
class Problem:
    """The parameterized vertices (a local deformation, maybe under a global similarity), the
    objective and the optimizer."""

    local: LargeSteps | DirectOffsets | RefineNetwork
    similarity: Similarity | None
    objective: Objective
    optimizer: torch.optim.Optimizer
    pixels: Pixels
    faces: torch.Tensor
    mask: torch.Tensor  # (1, 1, H, W) the reference silhouette at the camera's resolution
    settings: Settings
    visible: torch.Tensor | None = None  # (1, 1, H, W) 0 where an occluder hides the object, or None
    # Further views: (pixels, (1, 1, H, W) silhouette at the camera's resolution, (W, H) of the camera).
    more: tuple[tuple[Pixels, torch.Tensor, tuple[int, int]], ...] = ()
    cameras: tuple[CameraCorrection, ...] = ()  # every view's camera being corrected, the first's first; () when none is

    def corrected_cameras(self) -> list[BlenderCamera]:
        """Every view's camera as corrected so far, the first view's first ([]: none is corrected)."""
        return [c.fitted() for c in self.cameras]

    def start(self, stage: Stage) -> Step:
        """The step function of a stage: its renderers and target silhouettes (a further view at
        the stage's longest side, within its own picture; views of one size rendered in one call)."""
        s = self.settings
        sizes = [stage.size, *(render_size(wh, min(max(stage.size), max(wh))) for _, _, wh in self.more)]
        renderers = {
            hw: SilhouetteRenderer(hw, sigma=s.sigma_px**2, faces_per_pixel=s.faces_per_pixel, backend=s.backend)
            for hw in dict.fromkeys(sizes)
        }
        masks = [self.mask, *(mask for _, mask, _ in self.more)]
        targets = [F.interpolate(mask, size=hw, mode="area")[0] for mask, hw in zip(masks, sizes)]
        visible = None if self.visible is None else F.interpolate(self.visible, size=stage.size, mode="area")[0]
        return lambda: self.step(renderers, targets, sizes, visible)

    def step(
        self,
        renderers: dict[tuple[int, int], SilhouetteRenderer],
        targets: list[torch.Tensor],
        sizes: list[tuple[int, int]],
        visible: torch.Tensor | None = None,
    ) -> tuple[dict[str, float], torch.Tensor]:
        """One optimizer step against every view (the first one's `visible` pixels), `renderers`
        by size. Returns the weighted terms, "total" and "iou" (the views' mean, as floats) and
        the (V', 3) iterate they were measured on."""
        self.optimizer.zero_grad(set_to_none=True)
        v_local, confidence = self.local.deform()  # the local parameterization runs once
        v = v_local if self.similarity is None else self.similarity.transform(v_local)
        projectors = [self.pixels, *(pixels for pixels, _, _ in self.more)]
        alphas = _render_views(renderers, [p(v, hw) for p, hw in zip(projectors, sizes)], sizes, self.faces)
        terms = self.objective(v, v_local, alphas, targets, confidence, visible)
        if self.cameras:
            prior = sum(c.prior(*VIEW_PRIOR_SIGMA) for c in self.cameras)
            terms["view_cameras"] = self.settings.weights.view_cameras * prior.to(v.dtype)  # type: ignore[union-attr]
        total = sum(terms.values())
        total.backward()  # type: ignore[union-attr]
        self.optimizer.step()
        with torch.no_grad():
            seen = [1.0 if visible is None else (visible > 0.5).to(v.dtype), *(1.0,) * len(self.more)]
            ious = [
                losses.soft_iou((a > 0.5).to(v.dtype) * m, (t > 0.5).to(v.dtype) * m) for a, t, m in zip(alphas, targets, seen)
            ]
            iou = sum(ious) / len(ious)
            # One device-to-host read per iteration for all the numbers (each float() would sync).
            values = torch.stack([*terms.values(), total, iou]).tolist()  # type: ignore[misc]
        return dict(zip([*terms, "total", "iou"], values)), v.detach()


def _render_views(
    renderers: dict[tuple[int, int], SilhouetteRenderer],
    pixels: list[torch.Tensor],
    sizes: list[tuple[int, int]],
    faces: torch.Tensor,
) -> list[torch.Tensor]:
    """Each view's (1, H, W) soft silhouette from its (V, 3) `pixels` at its size: the views of
    one size as one batch (the renderer's cost per view falls with the batch)."""
    alphas: list[torch.Tensor | None] = [None] * len(pixels)
    for hw, renderer in renderers.items():
        group = [i for i, size in enumerate(sizes) if size == hw]
        for i, alpha in zip(group, renderer(torch.stack([pixels[i] for i in group]), faces)):
            alphas[i] = alpha[None]
    return [a for a in alphas if a is not None]


def build_problem(
    inputs: RefineInputs,
    mesh: OptimizedMesh,
    plane: Plane | None,
    final_hw: tuple[int, int],
    visible: torch.Tensor | None = None,
    framing_found: bool = False,
) -> Problem:
    """The problem for the settings' parameterization, losses and optimizer; `visible`: see
    visible_pixels; `framing_found`: the camera's distance, lens and position were found from the
    photo (a camera search), so the mesh keeps its size and place (Similarity's `place`)."""
    s, device = inputs.settings, mesh.rest.device
    cameras = _view_corrections(inputs, mesh) if inputs.corrects_views else ()
    pixels = corrected_projector(cameras[0], mesh.frame) if cameras else pixel_projector(inputs.camera, mesh.frame)
    local = _local_model(s, mesh, inputs.image, final_hw, pixels)
    similarity = None
    if s.align:
        # Camera right/up in the normalized frame (the normalization has no rotation).
        axes = np.asarray(inputs.camera.matrix_world, dtype=np.float64)[:3, :2].T
        axes_t = torch.tensor(axes / np.linalg.norm(axes, axis=1, keepdims=True), dtype=DTYPE, device=device)
        similarity = Similarity(local, mesh.rest.mean(0), axes_t, s.stretch, place=not framing_found).to(device)
    views = tuple(_symmetry_views(s)) if plane else ()
    sym_renderer = SilhouetteRenderer((s.image_symmetry_size,) * 2, sigma=s.sigma_px**2, backend=s.backend)
    rays = None
    # The first view's depth is what the others see: the along-ray term holds it only for one view.
    if s.weights.along_ray and not inputs.more_views:  # the only term that needs them (a host copy of the rest vertices)
        rest_world = mesh.frame.to_world(mesh.rest.detach().cpu().double().numpy())
        rays = torch.tensor(ray_directions(inputs.camera, rest_world), dtype=DTYPE, device=device)
    labels = mesh.part_labels() if s.weights.interpenetration else None
    objective = Objective(s.weights, mesh.rest, mesh.faces, plane, views, sym_renderer, rays, labels)
    params = [p for p in (similarity or local).parameters() if p.requires_grad]
    params += [p for c in cameras for p in c.parameters()]
    opt = torch.optim.SGD(params, lr=s.lr, momentum=0.9) if s.optimizer == "sgd" else torch.optim.Adam(params, lr=s.lr)
    mask = torch.tensor(inputs.mask, dtype=DTYPE, device=device)[None, None]
    projectors = [corrected_projector(c, mesh.frame) for c in cameras[1:]] or [
        pixel_projector(view.camera, mesh.frame) for view in inputs.more_views
    ]
    more = tuple(
        (projector, torch.tensor(view.mask, dtype=DTYPE, device=device)[None, None], view.camera.image_size_wh)
        for projector, view in zip(projectors, inputs.more_views)
    )
    seen = None if visible is None else visible.to(device)
    return Problem(local, similarity, objective, opt, pixels, mesh.faces, mask, s, seen, more, cameras)


def _view_corrections(inputs: RefineInputs, mesh: OptimizedMesh) -> tuple[CameraCorrection, ...]:
    """A correction per view's camera, the first view's first, about the object's centre (world
    units, float64 on the mesh's device)."""
    lo, hi = inputs.verts.min(0), inputs.verts.max(0)
    centre, size = (lo + hi) / 2, float((hi - lo).max())
    cameras = (inputs.camera, *(view.camera for view in inputs.more_views))
    return tuple(CameraCorrection(camera, centre, size).to(mesh.rest.device) for camera in cameras)


def corrected_projector(correction: CameraCorrection, frame: NormalizedFrame) -> Pixels:
    """Normalized vertices -> pixel u, v and depth at a stage's resolution through a camera being corrected."""
    wh = correction.camera.image_size_wh

    def pixels(v: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        return rescale_pixels(correction.project(frame.to_world_t(v)), wh, hw)

    return pixels


def visible_pixels(inputs: RefineInputs) -> torch.Tensor | None:
    """(1, 1, H, W) 0 where the occluder hides the object, 1 elsewhere, at the camera's resolution
    (the camera the shape is refined with: a fitted one); None without an occluder."""
    if inputs.occluder is None:
        return None
    return torch.tensor(~silhouette(*inputs.occluder, inputs.camera), dtype=DTYPE)[None, None]


def _local_model(s: Settings, mesh: OptimizedMesh, image: np.ndarray | None, final_hw: tuple[int, int], pixels: Pixels):
    device = mesh.rest.device
    if s.parameterization == "largesteps":
        return LargeSteps(mesh.rest, mesh.faces, s.lam).to(device)
    if s.parameterization == "offsets":
        return DirectOffsets(mesh.rest).to(device)
    h, w = final_hw
    if image is None:
        img = torch.zeros(3, h, w, dtype=DTYPE, device=device)
    else:
        img = torch.tensor(np.asarray(image, dtype=np.float32), device=device).permute(2, 0, 1)[None]
        img = F.interpolate(img, size=(h, w), mode="area")[0]

    def grid(v: torch.Tensor) -> torch.Tensor:
        p = pixels(v, final_hw)
        return torch.stack((2 * p[:, 0] / w - 1, 2 * p[:, 1] / h - 1), dim=-1)

    return RefineNetwork(mesh.rest, mesh.faces, img, grid, encoder=s.encoder != "none").to(device)


def _symmetry_views(settings: Settings) -> list[BlenderCamera]:
    """Fixed viewpoints around the normalized object for the image-symmetry loss."""
    n, s = settings.image_symmetry_views, settings.image_symmetry_size
    return [look_at(np.zeros(3), 360.0 * i / n + 15.0, 30.0 * (-1) ** i, 2.8, (s, s)) for i in range(n)]
