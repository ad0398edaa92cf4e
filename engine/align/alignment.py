"""The photo's silhouette and the camera, each helping the other, before the shape moves.

A silhouette the user gave (a mask, the photo's alpha) is final: only the camera is fitted to it
(fit.py). A silhouette found in the photo (silhouette.extract) is seeded by the mesh seen
through the camera, so it is only as good as that camera:
- a camera used as is, or close ("refine"): its projection seeds the silhouette;
- an unknown camera ("search"): the picture's border seeds it (the object is the photo's subject);
and once a fitted camera is accepted, the silhouette is found again from its projection. If that
changes the silhouette (IoU below SETTLED), the camera is refined once more against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

import refine_protocol.messages as m

from ..camera import BlenderCamera
from ..camera.pose import rotation_between_deg
from ..errors import InputError
from ..inputs import RefineInputs, View
from ..preview import silhouette
from ..render.view import mask_iou, silhouette_iou
from ..silhouette import Extraction, confirm_overlap, extract_silhouette
from ..silhouette.extract import WORK_SIZE
from .fit import CameraFit, fit_camera, fit_levels
from .polish import OnFitStep

SETTLED = 0.98  # silhouettes found from two cameras that overlap this much need no second fit


@dataclass
class Alignment:
    """What the shape is refined against."""

    mask: np.ndarray  # (H, W) float32 in [0, 1], the camera's resolution
    fit: CameraFit | None  # the camera fit, None when the camera is used as is
    silhouette: dict[str, Any]  # the report's silhouette section: source, and for a found one its checks

    @property
    def camera(self) -> BlenderCamera | None:
        return None if self.fit is None else self.fit.camera

    @property
    def framing_found(self) -> bool:
        """Whether the camera's distance, lens and position were found from the photo (an
        accepted search, or a refined camera freed for a nearly right mesh; CameraFit.framing):
        the mesh's size and place in the picture then say nothing the camera does not."""
        return self.fit is not None and self.fit.accepted and self.fit.framing


def align(inputs: RefineInputs, device: torch.device, on_step: OnFitStep | None = None) -> Alignment:
    """The silhouette and the camera for `inputs` (inputs.mask None: found in inputs.image).
    Raises InputError when the photo shows no object, FitCancelled when `on_step` says stop."""
    mode = inputs.settings.fit_camera
    if mode == m.FIT_REFINE and inputs.corrects_views:
        # Every view's camera is corrected together with the shape (problem.py): a rigid fit of
        # the first against the coarse mesh's outline would only pull it off first.
        mode = m.FIT_OFF
    v, f = inputs.verts, inputs.faces
    levels = None if mode == m.FIT_OFF else fit_levels(v, f, device)  # rendered by both fits, made once

    def fit(mask: np.ndarray, camera: BlenderCamera, how: str, framing_found: bool = False) -> CameraFit:
        return fit_camera(v, f, mask, camera, how, device, on_step, free_framing=not framing_found, levels=levels)

    if inputs.mask is not None:
        fitted = None if mode == m.FIT_OFF else fit(inputs.mask, inputs.camera, mode)
        return Alignment(inputs.mask, fitted, {"source": inputs.silhouette_source})
    find = _finder(inputs)
    # A camera still to be refined may be what is off: the first silhouette's overlap with its
    # view of the mesh is judged once the camera is settled (a thin airplane's outline overlaps
    # a blob's seen a few degrees off by 0.25, by 0.30 once the camera is fitted).
    found = find(None if mode == m.FIT_SEARCH else inputs.camera, provisional=mode == m.FIT_REFINE)
    if mode == m.FIT_OFF:
        return Alignment(found.mask, None, _section([found]))
    first = fit(found.mask, inputs.camera, mode)
    if not first.accepted:
        confirm_overlap(found)
        return Alignment(found.mask, first, _section([found]))
    again = find(first.camera, found.mask)
    if mask_iou(again.mask > 0.5, found.mask > 0.5) >= SETTLED:
        return Alignment(again.mask, first, _section([found, again]))
    second = fit(again.mask, first.camera, m.FIT_REFINE, first.framing)  # a framing found is kept
    return Alignment(again.mask, _chained(first, second, inputs, again.mask), _section([found, again], refits=1))


def find_view_silhouettes(inputs: RefineInputs) -> tuple[View, ...]:
    """The further views (inputs.more_views), each with its silhouette: as given, or found in its
    photo seeded by the mesh seen through its exact camera (and judged against it). Raises
    InputError naming the view whose photo shows something else."""
    views = []
    for n, view in enumerate(inputs.more_views, start=2):
        if view.mask is None:
            assert view.image is not None
            prior = silhouette(inputs.verts, inputs.faces, view.camera, WORK_SIZE)
            try:
                found = extract_silhouette(view.image, prior)
            except InputError as exc:
                raise InputError(f"view {n}: {exc}") from None
            view = replace(view, mask=found.mask)
        views.append(view)
    return tuple(views)


def _finder(inputs: RefineInputs) -> Callable[..., Extraction]:
    """(camera or None: no seed from the mesh, the earlier silhouette or None) -> the silhouette
    found in the photo (silhouette.extract: hard labels only where both seeds agree)."""
    assert inputs.image is not None

    def find(camera: BlenderCamera | None, earlier: np.ndarray | None = None, provisional: bool = False) -> Extraction:
        prior = None if camera is None else silhouette(inputs.verts, inputs.faces, camera, WORK_SIZE)
        return extract_silhouette(inputs.image, prior, earlier, provisional, inputs.hints)

    return find


def _chained(first: CameraFit, second: CameraFit, inputs: RefineInputs, mask: np.ndarray) -> CameraFit:
    """Two fits reported as one: from the given camera to the last accepted one, both IoUs
    against the final silhouette."""
    points = torch.tensor(inputs.verts, dtype=torch.float32)
    faces = torch.as_tensor(inputs.faces, dtype=torch.int64)
    before = silhouette_iou(inputs.camera, points, faces, torch.tensor(mask)[None, None])
    last = second.camera  # the first fit's camera when the second is rejected
    return replace(
        first,
        camera=last,
        fitted=last,
        framing=first.framing or (second.accepted and second.framing),
        iou_before=before,
        iou_after=max(second.iou_before, second.iou_after),
        rotation_deg=first.rotation_deg if last is first.camera else rotation_between_deg(inputs.camera, last),
        lens_after=last.lens,
        seconds=first.seconds + second.seconds,
    )


def _section(extractions: list[Extraction], refits: int = 0) -> dict[str, Any]:
    """The last silhouette found, the time all took, how often it was found and the camera refitted."""
    last = extractions[-1].to_dict()
    last["seconds"] = sum(e.seconds for e in extractions)
    return {"source": m.SILHOUETTE_AUTO, **last, "rounds": len(extractions), "camera_refits": refits}
