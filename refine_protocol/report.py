"""Reading a refinement's report (engine/report.py's `Report.to_dict()`, the result frame's
"report"), standard library only: the add-on, the CLI and the batch read the same typed summary and
say the same sentences, written once here. The report's full schema is in docs/protocol.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import messages as m


@dataclass(frozen=True)
class CameraFitSummary:
    """The camera fit (the report's "camera"): `mode` refine or search; `accepted`: the fitted
    camera was used; `framing`: a refine also moved distance and lens; IoUs of the mesh's silhouette
    with the photo's before and after; the turn from the given camera in degrees; where the fitted
    camera sees the object from (azimuth 0 from -Y, 90 from +X; elevation above the XY plane); the
    lens in mm before and after; a search's other candidate views and the fit's warnings."""

    mode: str
    accepted: bool
    framing: bool
    iou_before: float
    iou_after: float
    rotation_deg: float
    azimuth_deg: float
    elevation_deg: float
    lens_before: float
    lens_after: float
    seconds: float
    candidates: int = 0
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CameraFitSummary:
        def f(name: str) -> float:
            return float(d[name])

        return cls(
            d["mode"], bool(d["accepted"]), bool(d.get("framing")), f("iou_before"), f("iou_after"), f("rotation_deg"),
            f("azimuth_deg"), f("elevation_deg"), f("lens_before"), f("lens_after"), f("seconds"),
            len(d.get("candidates", ())), tuple(d.get("warnings", ())),
        )  # fmt: skip

    def change(self, precise: bool = False) -> str:
        """A refine: e.g. "silhouette IoU 0.32 -> 0.92, turned 7 deg from the given camera" (precise:
        0.324 -> 0.917, 6.6 deg), and the framing when it moved. A search, whose start says nothing:
        "silhouette IoU 0.85, seen from azimuth 133 deg, 22 deg above"."""
        iou, turn = (3, 1) if precise else (2, 0)
        if self.mode == m.FIT_SEARCH:
            height = f"{abs(self.elevation_deg):.{turn}f} deg {'above' if self.elevation_deg >= 0 else 'below'}"
            given = "" if self.accepted else f" (the given camera's {self.iou_before:.{iou}f})"
            return f"silhouette IoU {self.iou_after:.{iou}f}{given}, seen from azimuth {self.azimuth_deg:.{turn}f} deg, {height}"
        text = (
            f"silhouette IoU {self.iou_before:.{iou}f} -> {self.iou_after:.{iou}f}, "
            f"turned {self.rotation_deg:.{turn}f} deg from the given camera"
        )
        if self.accepted and self.framing:
            text += ", distance and lens too: the mesh follows the photo's outline closely"
        return text


@dataclass(frozen=True)
class SilhouetteSummary:
    """Where the silhouette came from (the report's "silhouette"): `source` (messages.SILHOUETTE_*);
    for one found in the photo its checks: overlap with the mesh (`seed_iou`, None without one),
    edge contrast, the share left out as shadow, seconds, and its warnings."""

    source: str
    seed_iou: float | None = None
    edge_contrast: float = 0.0
    shadow_left_out: float = 0.0
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SilhouetteSummary:
        seed = d.get("seed_iou")
        return cls(
            d["source"], None if seed is None else float(seed), float(d.get("edge_contrast", 0.0)),
            float(d.get("shadow_left_out", 0.0)), float(d.get("seconds", 0.0)), tuple(d.get("warnings", ())),
        )  # fmt: skip

    def found(self) -> str:
        """e.g. "silhouette found in the photo (edge contrast 20.5, overlap with the mesh 0.91, 4.2 s)"."""
        seed = "" if self.seed_iou is None else f", overlap with the mesh {self.seed_iou:.2f}"
        shadow = f", {self.shadow_left_out:.0%} left out as shadow on the backdrop" if self.shadow_left_out >= 0.005 else ""
        return f"silhouette found in the photo (edge contrast {self.edge_contrast:.1f}{seed}{shadow}, {self.seconds:.1f} s)"


@dataclass(frozen=True)
class ReportSummary:
    """What the CLI, the add-on and the batch summary tell a user about a finished run."""

    device: str
    vertices: int
    iterations_run: int
    best_iteration: int
    seconds: float  # the whole run
    iou_before: float | None  # the input mesh's silhouette IoU with the photo's (the camera used, 256 px)
    iou_after: float | None  # the result's
    shift: float | None  # how far the asset moved overall, a fraction of its size (self-check)
    scale: float | None  # its overall scale factor (self-check)
    volume_change: float | None  # relative, beyond the overall scale (self-check); None for an open mesh
    camera: CameraFitSummary | None = None
    silhouette: SilhouetteSummary | None = None
    warnings: tuple[str, ...] = field(default=())  # the camera fit's, the silhouette's, then the self-check's
    # Further views, in order: silhouette IoU (before, after) and how far the view's camera was turned
    # when it was corrected with the shape (None: used as given).
    views: tuple[tuple[float, float, float | None], ...] = ()
    first_turn: float | None = None  # how far the first view's camera was turned, corrected with the shape (several views)
    stopped: str = ""  # why the mesh was left as it was (the camera and silhouette found only); "" when refined

    @classmethod
    def from_dict(cls, report: dict[str, Any]) -> ReportSummary:
        ious, check = report.get("silhouette_iou") or {}, report.get("self_check") or {}
        camera, silhouette = report.get("camera"), report.get("silhouette")
        fit = None if not camera else CameraFitSummary.from_dict(camera)
        found = None if not silhouette else SilhouetteSummary.from_dict(silhouette)
        return cls(
            str(report.get("device", "")), int(report.get("vertices", 0)), int(report.get("iterations_run", 0)),
            int(report.get("best_iteration", 0)), float((report.get("seconds") or {}).get("total", 0.0)),
            _number(ious.get("before")), _number(ious.get("after")), _number(check.get("shift")), _number(check.get("scale")),
            _number(check.get("volume_change")), fit, found,
            (*(fit.warnings if fit else ()), *(found.warnings if found else ()), *check.get("warnings", ())),
            tuple((float(v["iou_before"]), float(v["iou_after"]), _number(v.get("rotation_deg"))) for v in report.get("views", ())),
            _number((report.get("corrected_camera") or {}).get("rotation_deg")), str(report.get("stopped", "")),
        )  # fmt: skip

    @property
    def unstated_warnings(self) -> tuple[str, ...]:
        """The warnings the stop's reason does not already say (the doubt a run stopped on is in both)."""
        return tuple(w for w in self.warnings if w not in self.stopped)

    def iou_change(self, digits: int = 3) -> str:
        """e.g. "0.807 -> 0.977" ("n/a" for a side not measured)."""
        return f"{_fmt(self.iou_before, digits)} -> {_fmt(self.iou_after, digits)}"

    def view_changes(self, digits: int = 3) -> list[str]:
        """Per further view, e.g. "view 2: silhouette IoU 0.756 -> 0.974, camera turned 4.1 deg"
        (and the first view's camera's turn, when it was corrected with the shape)."""
        first = [] if self.first_turn is None else [f"view 1: camera turned {self.first_turn:.1f} deg"]
        return first + [
            f"view {n}: silhouette IoU {a:.{digits}f} -> {b:.{digits}f}"
            + ("" if turn is None else f", camera turned {turn:.1f} deg")
            for n, (a, b, turn) in enumerate(self.views, start=2)
        ]

    def outcome(self, digits: int = 2) -> str:
        """e.g. ", silhouette IoU 0.81 -> 0.98, moved 1.2 % of its size, scaled x0.990, volume -3 %":
        how the whole object changed, beside how well it now matches the photo."""
        iou = f", silhouette IoU {self.iou_change(digits)}" if self.iou_before is not None else ""
        if self.shift is None or self.scale is None:
            return iou
        motion = f", moved {100 * self.shift:.1f} % of its size, scaled x{self.scale:.3f}"
        if self.volume_change is not None:  # the whole change: the shape's beyond the scale, and the scale's
            motion += f", volume {100 * ((1 + self.volume_change) * self.scale**3 - 1):+.0f} %"
        return iou + motion


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
