"""The camera's gradient polish: Adam on a camera correction against the soft silhouette of the
rigid mesh, coarse to fine, run by the engine's one loop (optimize.py: stages, the best iterate of
the last stage, cancel)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..camera.blender import BlenderCamera, rescale_pixels
from ..camera.pose import CameraCorrection
from ..losses import soft_iou
from ..optimize import Stage, Step, optimize
from ..render import SilhouetteRenderer
from ..render.view import view_size

LR = 0.01  # radians of orbit, object sizes of translation, log focal: per step
# "refine": a Gaussian prior centred on the given camera, of these widths: a hand-placed camera is
# about ten degrees off; distance, lens and position stay put (fit.py's docstring).
PRIOR_SIGMA = (math.radians(10.0), 0.005, 0.005)  # orbit (radians), translation (object sizes), log focal

Mesh = tuple[torch.Tensor, torch.Tensor]  # (V, 3) float32 world points, (F, 3) int64 faces
PolishStage = tuple[int, int, float]  # (longest side px, iterations, sigma px)
# (share of the fit done 0..1, the best camera of the current polish stage, its soft IoU) -> True to stop
OnFitStep = Callable[[float, BlenderCamera, float], "bool | None"]


class FitCancelled(Exception):
    """The fit's step callback asked to stop."""


@dataclass
class StepCounter:
    """Calls the fit's step callback with the share of all polish steps done."""

    on_step: OnFitStep | None
    total: int
    done: int = 0

    def __call__(self, camera: BlenderCamera, iou: float) -> bool:
        self.done += 1
        return self.on_step is not None and bool(self.on_step(self.done / self.total, camera, iou))


def polish(
    correction: CameraCorrection,
    levels: dict[int, Mesh],
    target: torch.Tensor,
    prior: float,
    stages: Sequence[PolishStage],
    step: StepCounter,
    blend: str = "union",
) -> BlenderCamera:
    """Gradient descent on the correction against the (1, 1, H, W) `target` silhouette in the
    soft silhouette (SilhouetteRenderer's `blend`), coarse to fine, each stage with the mesh of its
    size (`levels`); returns the camera with the lowest loss of the last stage. Raises FitCancelled
    when `step` says stop."""
    optimizer = torch.optim.Adam(correction.parameters(), lr=LR)
    specs = iter(stages)  # optimize() starts the stages in order
    shown: list = [math.inf, None]  # the stage's lowest loss and its camera: what the step callback shows

    def start(stage: Stage) -> Step:
        for group in optimizer.param_groups:  # each stage settles: a step size decaying to a tenth
            group["lr"] = LR
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, stage.iterations, eta_min=LR / 10)
        longest, _, sigma = next(specs)
        points, faces = levels[longest]
        renderer = SilhouetteRenderer(stage.size, sigma=sigma**2, blend=blend)
        ref = F.interpolate(target, size=stage.size, mode="area")[0]
        shown[0] = math.inf

        def one_step() -> tuple[dict[str, float], BlenderCamera]:
            optimizer.zero_grad(set_to_none=True)
            alpha = renderer(rescale_pixels(correction.project(points), correction.camera.image_size_wh, stage.size)[None], faces)
            overlap = soft_iou(alpha, ref)
            loss = 1 - overlap + prior * correction.prior(*PRIOR_SIGMA)
            values, iterate = {"total": loss.item(), "iou": overlap.item()}, correction.fitted()
            if values["total"] < shown[0]:
                shown[:] = values["total"], iterate
            loss.backward()
            optimizer.step()
            decay.step()
            return values, iterate

        return one_step

    def on_iteration(_i: int, _index: int, _stage: Stage, values: dict[str, float], _iterate: BlenderCamera) -> bool:
        return step(shown[1], values["iou"])

    plan = [Stage(view_size(correction.camera, longest), iterations) for longest, iterations, _ in stages]
    patience = sum(stage.iterations for stage in plan) + 1  # every step runs: the schedule decays to its end
    outcome = optimize(plan, start, correction.fitted(), patience, on_iteration)
    if outcome.cancelled:
        raise FitCancelled
    return outcome.best
