"""The refinement objective: the weighted loss terms of one iteration."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import losses
from .camera import BlenderCamera, project
from .render import SilhouetteRenderer
from .settings import Weights
from .symmetry import Plane


@dataclass
class Objective:
    """Weighted loss terms over normalized vertices (max extent 1).

    Attributes:
        weights: the loss weights.
        rest: (V, 3) input vertices.
        faces: (F, 3) int64.
        plane: symmetry plane, or None.
        symmetry_views: fixed cameras of the image-symmetry loss (normalized frame).
        symmetry_renderer: the renderer for those views.
        rays: (V, 3) unit viewing rays through the rest vertices (for the along-ray term), or None.
        parts: (V,) int64 part of each vertex when the mesh is several objects, or None.
    """

    weights: Weights
    rest: torch.Tensor
    faces: torch.Tensor
    plane: Plane | None = None
    symmetry_views: tuple[BlenderCamera, ...] = ()
    symmetry_renderer: SilhouetteRenderer | None = None
    rays: torch.Tensor | None = None
    parts: torch.Tensor | None = None

    def __post_init__(self) -> None:
        w = self.weights
        self._allowed = None  # (V,) how deep each vertex may be inside another part: as deep as it started
        self._part_masks = [] if self.parts is None else [self.parts == p for p in self.parts.unique()]
        if w.interpenetration and len(self._part_masks) > 1:
            self._allowed = losses.part_depths(self.rest, self.faces, self._part_masks).clamp(max=0.0)
        self._lap = losses.uniform_laplacian(self.faces, len(self.rest), self.rest.dtype) if w.laplacian else None
        self._normal = (
            None if self.plane is None else torch.tensor(self.plane.normal, dtype=self.rest.dtype, device=self.rest.device)
        )

    def _render_views(self, v: torch.Tensor) -> torch.Tensor:
        return self.symmetry_renderer(torch.stack([project(c, v) for c in self.symmetry_views]), self.faces)

    def __call__(
        self,
        verts: torch.Tensor,
        local: torch.Tensor,
        alphas: list[torch.Tensor],
        targets: list[torch.Tensor],
        confidence: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The weighted terms (their sum is the loss).

        Args:
            verts: (V, 3) deformed vertices.
            local: (V, 3) the same without the global similarity (what `offset` penalizes).
            alphas: per view, the (1, H, W) rendered silhouette; targets: the (1, H, W) reference
                coverages. Each view's loss is a mean over its pixels, so a small view counts as
                much as a large one; they add up, as more evidence.
            confidence: (V,) per-vertex symmetry confidence (REFINE network) or None.
            visible: (1, H, W) 0 where an occluder hides the object in the first view (those pixels say nothing), or None.
        """
        w = self.weights
        sil = losses.silhouette_l2 if w.silhouette_kind == "l2" else losses.silhouette_bce
        seen = [visible, *(None,) * (len(alphas) - 1)]
        terms = {"silhouette": w.silhouette * sum(sil(a, t, v) for a, t, v in zip(alphas, targets, seen))}
        if w.offset:
            terms["offset"] = w.offset * losses.offset_l2(local, self.rest)
        if w.along_ray and self.rays is not None:
            terms["along_ray"] = w.along_ray * losses.along_ray_l2(local, self.rest, self.rays)
        if self._lap is not None:
            x = verts - self.rest if w.laplacian_of == "offsets" else verts
            terms["laplacian"] = w.laplacian * losses.laplacian(self._lap, x)
        if self._allowed is not None:
            depth = losses.part_depths(verts, self.faces, self._part_masks)
            terms["interpenetration"] = w.interpenetration * losses.interpenetration(depth, self._allowed)
        if w.normal:
            terms["normal"] = w.normal * losses.normal_consistency(verts, self.faces)
        if w.edge:
            terms["edge"] = w.edge * losses.edge_length(verts, self.faces)
        if self.plane is not None and w.vertex_symmetry:
            terms["vertex_symmetry"] = w.vertex_symmetry * losses.vertex_symmetry(
                verts, self._normal, self.plane.offset, confidence
            )
        if self.plane is not None and w.image_symmetry and self.symmetry_views:
            terms["image_symmetry"] = w.image_symmetry * losses.image_symmetry(
                self._render_views, verts, self._normal, self.plane.offset
            )
        return terms
