"""What a refinement reports: settings used, sizes, the symmetry plane, timings, every iteration's losses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .settings import Settings


@dataclass
class Report:
    settings: Settings
    device: str
    vertices: int  # of the input mesh
    faces: int
    normalization: dict[str, Any]  # {"centre": [x, y, z], "scale": s}: world = centre + scale * frame
    symmetry_plane: dict[str, Any] | None  # {"normal": [x, y, z], "offset": d} in world units, or None
    asymmetry: float | None  # mirror error of an auto-detected plane (symmetry.detect_plane)
    proxy: dict[str, int] | None  # {"vertices", "faces"} of the optimized proxy, or None
    stages: list[dict[str, Any]]  # [{"image_hw": [H, W], "iterations": planned}]
    iterations_run: int
    best_iteration: int  # 1-based; the returned vertices are this iteration's
    best_loss: float
    cancelled: bool
    seconds: dict[str, float]  # total, symmetry_search, proxy, per_iteration
    history: list[dict[str, float]]  # per iteration: the weighted loss terms, "total" and "iou"
    self_check: dict[str, Any]  # what the photo cannot confirm (selfcheck.self_check), with warnings
    camera: dict[str, Any] | None = None  # the camera fit (align.fit.CameraFit.to_dict), if one ran
    # How the silhouette was obtained: {"source": mask|alpha|automatic}; a found one adds its checks
    # (seed_iou, edge_contrast, shadow_left_out, warnings), seconds, rounds (how often it was found) and camera_refits.
    silhouette: dict[str, Any] | None = None
    # {"before", "after"}: the input mesh's and the result's silhouette IoU with the photo's, through
    # the camera used (hard silhouettes at 256 px on the longest side).
    silhouette_iou: dict[str, float] | None = None
    # Further views (RefineInputs.more_views), in order: {"source", "iou_before", "iou_after"}
    # (silhouette_iou's measure, through each view's camera: the given one before, the corrected one
    # after) and, when its camera was corrected with the shape, "camera" and "rotation_deg"; [] for one view.
    views: list[dict[str, Any]] = field(default_factory=list)
    # The first view's camera when every view's was corrected together with the shape (several
    # views, problem.corrects_views): {"camera": Blender's fields, "rotation_deg": from the given one}.
    corrected_camera: dict[str, Any] | None = None
    # Why the shape was left as it was (refine.stop_reason), "" when it was refined.
    stopped: str = ""

    @property
    def best_iou(self) -> float:
        """Silhouette IoU of the returned iterate (at its stage's resolution)."""
        return self.history[self.best_iteration - 1]["iou"] if self.best_iteration else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the CLI's --report file, the server's result header with `history` moved out)."""
        return asdict(self)
