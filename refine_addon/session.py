"""One refinement of one asset (the selected mesh objects), the way every path runs it: the modal operator (a tick per timer
event), execute() and the headless batch (ticks that wait for the engine).

    session = Session.prepare(context, objects, Inputs.from_panel(scene))  # reads the scene only
    session.start(LINK, config)  # adds the shape keys, sends the job
    while session.tick(): ...  # applies streamed positions; the end keeps or rolls back
    session.cancel()  # at any time: the mesh is restored exactly

The base mesh is never written (see refinement.py): whatever ends the session, the object is
either refined (a "REFINE" shape key) or bit-for-bit what it was.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import bpy
import numpy as np

from . import photo, reference_views, scene_io
from .asset import Asset, read_asset, read_occluder
from .camera_object import CameraPlan, FittedCamera, make_scene_camera
from .engine_link import LINK, EngineConfig, EngineLink
from .job import Event, RefineJob
from .properties import scene_settings
from .refine_protocol import messages as m
from .refine_protocol.report import CameraFitSummary, ReportSummary
from .refine_protocol.request import RefineRequest
from .refinement import Refinement
from .scene_io import InputProblem

# How a session ended; STOPPED: the engine found the camera and silhouette and left the mesh as it was.
KEPT, STOPPED, CANCELLED, FAILED = "kept", "stopped", m.CANCELLED, "failed"


@dataclass(frozen=True)
class Inputs:
    """What to refine against, chosen explicitly: the panel's settings, or a batch row's."""

    image: bpy.types.Image | None = None
    image_path: str = ""  # a file; wins over `image` when set
    camera: bpy.types.Object | None = None  # None: the scene camera
    preset: str = m.PRESET_DEFAULT
    symmetry: str = m.SYMMETRY_AUTO  # a key of messages.SYMMETRY
    iterations: int = 0  # 0: the preset's own count
    fit_camera: str = m.FIT_OFF  # a key of messages.FIT_CAMERA
    silhouette: str = m.SILHOUETTE_ALPHA  # a key of messages.SILHOUETTE (a photo without alpha: found anyway)
    mask_image: bpy.types.Image | None = None  # with SILHOUETTE_MASK
    occluders: bpy.types.Collection | None = None  # its visible meshes hide the asset's pixels
    reference_images: bool = True  # the scene's image empties are further views (reference_views.py)
    on_doubt: str = m.DOUBT_STOP  # a key of messages.ON_DOUBT
    find_only: bool = False  # find the camera and the silhouette, leave the mesh as it is

    @classmethod
    def from_panel(cls, scene: bpy.types.Scene | None) -> Inputs:
        p = scene_settings(scene)
        fields = (p.preset, p.symmetry.lower(), p.iterations, p.fit_camera.lower(), p.silhouette.lower(), p.mask_image)
        return cls(p.image, p.image_path, p.camera, *fields, p.occluders, p.reference_images, p.on_doubt.lower())

    def settings(self) -> dict[str, Any]:
        """The request's settings object (docs/protocol.md)."""
        out: dict[str, Any] = {"preset": self.preset, "symmetry": self.symmetry}
        if self.iterations > 0:
            out["iterations"] = self.iterations
        if self.fit_camera != m.FIT_OFF:
            out["fit_camera"] = self.fit_camera
        if self.on_doubt != m.DOUBT_STOP:
            out["on_doubt"] = self.on_doubt
        if self.find_only:
            out["find_only"] = True
        return out


def read_job(
    context: bpy.types.Context, objects: Sequence[bpy.types.Object], inputs: Inputs
) -> tuple[RefineRequest, Asset, CameraPlan | None]:
    """Check the scene and gather the engine's inputs: the objects as one asset (the first names
    the fitted camera and the found mask), and where a fitted camera will go (None: no fit).
    Nothing is changed. Raises InputProblem."""
    scene = context.scene
    assert scene is not None
    asset = read_asset(context, objects)
    camera = inputs.camera or scene.camera
    choice = photo.choose_photo(inputs.image, inputs.image_path, camera)
    views = _reference_views(scene, asset, camera) if inputs.reference_images else []
    if choice.image is None and not choice.path and views and inputs.silhouette != m.SILHOUETTE_MASK:
        # No photo: the reference images are the views, all exact.
        inputs, camera, (cam_fields, encoded, mask), views = replace(inputs, fit_camera=m.FIT_OFF), None, views[0], views[1:]
        assert cam_fields is not None
    else:
        searching_blind = camera is None and inputs.fit_camera == m.FIT_SEARCH  # the engine starts from a front view
        cam_fields = None if searching_blind else scene_io.camera_fields(camera, scene)
        encoded, mask = photo.reference_image(choice, inputs.mask_image, inputs.silhouette)
    if choice.note:
        asset.warnings.append(choice.note)
    find = inputs.silhouette == m.SILHOUETTE_AUTO
    settings = {**inputs.settings(), "fit_views": False} if views else inputs.settings()  # reference images: exact
    job = RefineRequest(
        asset.vertices, asset.faces, cam_fields, encoded, mask, settings, find_silhouette=find,
        exif_orientation=False,  # the photo as Blender shows it (it ignores EXIF orientation)
        parts=[part.count for part in asset.parts], occluder=read_occluder(context, inputs.occluders, objects),
        more_views=views,
    )  # fmt: skip
    plan = CameraPlan(
        asset.parts[0].name, camera.name if camera else None, choice.image.name if choice.image else None, choice.path
    )
    return job, asset, None if inputs.fit_camera == m.FIT_OFF else plan


View = tuple[dict[str, Any] | None, bytes | None, Any]  # a request's view: camera fields, encoded photo, mask


def _reference_views(scene: bpy.types.Scene, asset: Asset, camera: bpy.types.Object | None) -> list[View]:
    """The scene's further views: (camera fields, the image as the camera sees it, no mask) of
    every image empty, then of every other camera showing a background image, by name."""
    out: list[View] = []
    verts = np.asarray(asset.vertices, dtype=np.float64)
    for obj in reference_views.image_empties(scene):
        image = obj.data
        assert isinstance(image, bpy.types.Image)  # image_empties holds those with an image
        view = reference_views.view_of(obj, verts)
        out.append((view.camera, photo.image_bytes(image, view.flip), None))
    for other in sorted(
        (o for o in scene.objects if o.type == "CAMERA" and o != camera and o.visible_get()), key=lambda o: o.name
    ):
        shown = photo.background_photo(other)
        if shown.image is not None:
            out.append((scene_io.camera_fields(other, scene), photo.image_bytes(shown.image, shown.flip), None))
    return out


def _camera_verdict(fit: CameraFitSummary | None, camera: str | None) -> str:
    """The camera fit's part of the summary (`camera`: the camera object made for the fit)."""
    if fit is None:
        return ""
    if fit.accepted:
        return f"; camera {'found' if fit.mode == m.FIT_SEARCH else 'corrected'} ({fit.change()}): '{camera}'"
    if camera is not None:  # a search without a camera, where nothing beat the front view
        return f"; camera: no view matched better than the front view (silhouette IoU {fit.iou_before:.2f}): '{camera}'"
    return f"; camera fit rejected, your camera was used (no better: {fit.change()})"


class Session:
    """Drives one refinement. While it runs, `progress` (0..1) and `status` describe it; once
    `outcome` is set (KEPT, CANCELLED or FAILED) it is over: `report` is the engine's report
    (KEPT), `reason` says why it failed (FAILED), `summary()` is the line to show the user."""

    def __init__(
        self, request: RefineRequest, asset: Asset, camera_plan: CameraPlan | None, on_event: Callable[[Event], None] | None
    ) -> None:
        self.asset = asset
        self.request = request
        self._fitted = None if camera_plan is None else FittedCamera(camera_plan)
        self.camera: str | None = None  # the camera object kept for a fitted camera
        self.mask: str | None = None  # the image made for a silhouette found in the photo
        self.warnings = asset.warnings  # the scene's, said with the result and shown at the start
        self.on_event = on_event
        self.progress, self.status = 0.0, "Connecting to the engine..."
        self.outcome: str | None = None
        self.reason = ""
        self.report: ReportSummary | None = None  # once the engine's result arrived
        self._keys: list[Refinement] = []
        self.found_views: list[dict[str, Any]] = []  # a search's views (camera fields), the one used first
        self._job: RefineJob | None = None

    @classmethod
    def prepare(
        cls,
        context: bpy.types.Context,
        objects: Sequence[bpy.types.Object],
        inputs: Inputs,
        on_event: Callable[[Event], None] | None = None,
    ) -> Session:
        """Read what the refinement needs (nothing changes yet). Raises InputProblem."""
        return cls(*read_job(context, objects, inputs), on_event)

    def start(self, link: EngineLink, config: EngineConfig) -> Session:
        """Add the shape keys and send the job."""
        try:
            for part in self.asset.parts:
                self._keys.append(Refinement.add_keys(part))
        except InputProblem:
            for keys in self._keys:
                keys.rollback()
            raise
        self._job = RefineJob(link, config, self.request).start()
        return self

    @property
    def running(self) -> bool:
        return self._job is not None and self.outcome is None

    def tick(self, wait: float = 0.0) -> bool:
        """Apply what the engine sent since the last tick (waiting up to `wait` seconds for the
        first event); only the newest positions are drawn. Returns whether it still runs."""
        assert self._job is not None, "start() first"
        latest = None
        try:
            while self.outcome is None:
                try:
                    event = self._job.events.get(timeout=wait) if wait > 0 else self._job.events.get_nowait()
                except queue.Empty:
                    break
                wait = 0.0
                if self.on_event is not None:
                    self.on_event(event)
                latest = self._apply(event, latest)
            if latest is not None and self.outcome is None:
                for keys in self._keys:
                    keys.show(latest)
        except InputProblem as exc:  # e.g. the object was deleted meanwhile
            self._end(FAILED, str(exc))
        return self.outcome is None

    def cancel(self) -> None:
        """Stop the engine's job and restore the mesh (nothing happens once it is over)."""
        if self.running:
            self._end(CANCELLED)

    def summary(self) -> str:
        if self.outcome == KEPT:
            assert self.report is not None
            return f"Refined {self._names()}: {self.report.iterations_run} iterations{self.report.outcome()}{self._notes()}"
        if self.outcome == STOPPED:
            assert self.report is not None
            return f"Stopped before changing {self._names()}: {self.report.stopped}{self._notes()}; {self._next_step()}"
        if self.outcome == CANCELLED:
            return "Refinement cancelled: mesh restored"
        if self.outcome == FAILED:
            return f"Refinement failed: {self.reason}"
        return self.status

    def _next_step(self) -> str:
        """What the panel is set to do next (operators.hand_over), in words."""
        views = len(self.found_views)
        pick = f"Next View shows the {views} views found, " if views > 1 else ""
        return f"check the camera and the silhouette; {pick}Refine Mesh starts from them"

    def _names(self) -> str:
        return ", ".join(f"'{part.name}'" for part in self.asset.parts)

    def _notes(self) -> str:
        """What else the artist should know: the shape keys it started from, the modifiers it
        fitted through, the camera fit's verdict, the found mask, every warning."""
        keys = [k for part in self.asset.parts for k in part.keys]
        fitted_through = [part.name for part in self.asset.parts if part.through_modifiers]
        return (
            (f"; started from the shape keys {', '.join(keys)}" if keys else "")
            + (f"; fitted with the modifiers of {', '.join(fitted_through)}" if fitted_through else "")
            + _camera_verdict(self.report.camera if self.report else None, self.camera)
            + (f"; silhouette found in the photo: '{self.mask}'" if self.mask else "")
            + "".join(f"; {line}" for line in (self.report.view_changes(2) if self.report else ()))
            + "".join(f"; warning: {w}" for w in (*self.warnings, *(self.report.unstated_warnings if self.report else ())))
        )

    def all_warnings(self) -> list[str]:
        """The scene's warnings, the found silhouette's and the engine's self-check's."""
        return [*self.warnings, *(self.report.warnings if self.report else ())]

    def _apply(self, event: Event, latest: Any) -> Any:
        h = event.header
        if event.kind == m.PROGRESS and "camera" in h:  # the camera fit, before the shape moves
            self.progress = h["camera_fit"]
            self.status = f"Fitting the camera: {h['camera_fit']:.0%}  IoU {h['losses'].get('iou') or 0:.3f}"
            if self._fitted is not None:
                self._fitted.show(h["camera"], self._scene())
        elif event.kind == m.PROGRESS:
            self.progress = h["iteration"] / max(h["total"], 1)
            losses = h.get("losses", {})
            self.status = f"{h['iteration']}/{h['total']}  loss {losses.get('total') or 0:.4f}  IoU {losses.get('iou') or 0:.3f}"
            return event.vertices if event.vertices is not None else latest
        if event.kind == m.QUEUED:  # position: waiting jobs ahead, the running one not counted
            ahead = h.get("position", 0)
            self.status = f"Waiting for the engine ({ahead} job(s) ahead)" if ahead else "Waiting for the engine"
        elif event.kind == m.STARTED:
            self.status = "Refining..."
        elif event.kind == m.RESULT:
            self.report = ReportSummary.from_dict(h.get("report") or {})
            self.found_views = _views_of(h.get("camera"), h.get("report") or {})
            self._end(STOPPED if self.report.stopped else KEPT, vertices=event.vertices, camera=h.get("camera"), mask=event.mask)
        elif event.kind == m.CANCELLED:
            self._end(CANCELLED)
        elif event.kind == m.ERROR:
            self._end(FAILED, str(h.get("message", "the engine reported an error")))
        return latest

    def _end(
        self, outcome: str, reason: str = "", vertices: Any = None, camera: dict[str, Any] | None = None, mask: Any = None
    ) -> None:
        assert self._job is not None
        if outcome in (KEPT, STOPPED):
            try:
                for keys in self._keys:
                    if outcome == KEPT:
                        keys.keep(vertices)
                    else:
                        keys.rollback()
                self._keep_camera(camera)
                self._keep_mask(mask)
            except InputProblem as exc:
                outcome, reason = FAILED, str(exc)
        if outcome not in (KEPT, STOPPED):
            self._job.cancel()
            for keys in self._keys:
                keys.rollback()
            if self._fitted is not None:
                self._fitted.remove()
        self.outcome, self.reason = outcome, reason
        self.progress = 1.0 if outcome in (KEPT, STOPPED) else self.progress
        self.status = self.summary()

    def _keep_camera(self, fields: dict[str, Any] | None) -> None:
        """Keep a camera object for an accepted fit, or for the one a search started from when
        the scene had no camera to fall back on; else remove it. The user's camera is never changed."""
        fitted, fit = self._fitted, self.report.camera if self.report else None
        if fitted is None:
            return
        if fields is None or fit is None or not (fit.accepted or fitted.plan.user_camera is None):
            fitted.remove()
            return
        scene = self._scene()
        obj = fitted.show(fields, scene)
        if scene.camera is None:  # nothing to replace: render through it right away
            make_scene_camera(scene, obj)
        self.camera = obj.name

    def _keep_mask(self, mask: Any) -> None:
        """The silhouette the engine found, as the image "<object> REFINE mask": the panel's mask
        for the next run (Silhouette: Mask Image), to check and correct by painting."""
        if mask is None:
            return
        image = photo.store_mask(f"{self.asset.parts[0].name} REFINE mask", mask)
        scene_settings(self._scene()).mask_image = image
        self.mask = image.name

    @staticmethod
    def _scene() -> bpy.types.Scene:
        scene = bpy.context.scene
        assert scene is not None
        return scene


def _views_of(camera: dict[str, Any] | None, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The camera fields of the views a search found: the one used, then its candidates."""
    candidates = (report.get("camera") or {}).get("candidates") or []
    return [camera, *(c["camera"] for c in candidates)] if camera and candidates else []


def found_views(scene: bpy.types.Scene | None) -> list[dict[str, Any]]:
    """The views the last search found (hand_over), as camera fields; [] when none."""
    text = scene_settings(scene).found_views
    try:
        views = json.loads(text) if text else []
    except ValueError:  # not ours: edited by hand
        return []
    return views if isinstance(views, list) else []


class RefineFailed(RuntimeError):
    """A refinement that ended without a result; the object is exactly as it was."""


def run_blocking(
    context: bpy.types.Context,
    objects: Sequence[bpy.types.Object],
    config: EngineConfig,
    inputs: Inputs,
    on_event: Callable[[Event], None] | None = None,
) -> Session:
    """Refine the objects (one asset) and wait (scripts, background mode: timers never fire while a script
    blocks). Returns the kept or stopped session (its `outcome`, `report`, `camera`); raises
    InputProblem or RefineFailed."""
    session = Session.prepare(context, objects, inputs, on_event).start(LINK, config)
    try:
        while session.tick(wait=1.0):
            pass
    except BaseException:  # also KeyboardInterrupt: the scene goes back to how it was
        session.cancel()
        raise
    if session.outcome not in (KEPT, STOPPED):
        raise RefineFailed(session.reason or session.summary())
    return session
