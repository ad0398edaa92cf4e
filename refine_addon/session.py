"""One refinement of one object, the way every path runs it: the modal operator (a tick per timer
event), execute() and the headless batch (ticks that wait for the engine).

    session = Session.prepare(context, obj, Inputs.from_panel(scene))  # reads the scene only
    session.start(LINK, config)  # adds the shape keys, sends the job
    while session.tick(): ...  # applies streamed positions; the end keeps or rolls back
    session.cancel()  # at any time: the mesh is restored exactly

The base mesh is never written (see refinement.py): whatever ends the session, the object is
either refined (a "REFINE" shape key) or bit-for-bit what it was.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bpy

from . import scene_io
from .camera_object import CameraPlan, FittedCamera, make_scene_camera
from .engine_link import LINK, EngineConfig, EngineLink
from .job import Event, JobInput, RefineJob
from .properties import scene_settings
from .refine_protocol import messages as m
from .refinement import Refinement
from .scene_io import InputProblem

KEPT, CANCELLED, FAILED = "kept", m.CANCELLED, "failed"  # how a session ended


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

    @classmethod
    def from_panel(cls, scene: bpy.types.Scene | None) -> Inputs:
        p = scene_settings(scene)
        fields = (p.preset, p.symmetry.lower(), p.iterations, p.fit_camera.lower(), p.silhouette.lower(), p.mask_image)
        return cls(p.image, p.image_path, p.camera, *fields)

    def settings(self) -> dict[str, Any]:
        """The request's settings object (docs/protocol.md)."""
        out: dict[str, Any] = {"preset": self.preset, "symmetry": self.symmetry}
        if self.iterations > 0:
            out["iterations"] = self.iterations
        if self.fit_camera != m.FIT_OFF:
            out["fit_camera"] = self.fit_camera
        return out


def read_job(
    context: bpy.types.Context, obj: bpy.types.Object | None, inputs: Inputs
) -> tuple[JobInput, CameraPlan | None, list[str]]:
    """Check the scene and gather the engine's inputs, and where a fitted camera will go (None:
    no fit). Nothing is changed. Raises InputProblem."""
    scene = context.scene
    assert scene is not None
    if obj is None or obj.type != "MESH":
        raise InputProblem("select a mesh object to refine")
    if obj.mode != "OBJECT":
        raise InputProblem("switch to Object mode first (Edit mode keeps its own copy of the mesh)")
    if len(obj.data.vertices) < 3 or len(obj.data.polygons) < 1:
        raise InputProblem(f"'{obj.name}' has no faces to refine")
    camera = inputs.camera or scene.camera
    searching_blind = camera is None and inputs.fit_camera == m.FIT_SEARCH  # the engine starts from a front view
    cam_fields = None if searching_blind else scene_io.camera_fields(camera, scene)
    image = inputs.image or scene_io.camera_background_image(camera)
    source = inputs.mask_image if inputs.silhouette == m.SILHOUETTE_MASK else image
    encoded, mask = scene_io.reference_image(source, inputs.image_path, inputs.silhouette)
    verts, faces = scene_io.mesh_world(obj)
    warnings = []
    if any(mod.show_viewport for mod in obj.modifiers):
        evaluated = obj.evaluated_get(context.evaluated_depsgraph_get())
        if len(evaluated.data.vertices) != len(obj.data.vertices):
            warnings.append("a modifier changes the topology: the base mesh is refined, modifiers apply on top")
    find = inputs.silhouette == m.SILHOUETTE_AUTO
    job = JobInput(verts, faces, cam_fields, image=encoded, mask=mask, settings=inputs.settings(), find_silhouette=find)
    fitted = (
        None
        if inputs.fit_camera == m.FIT_OFF
        else CameraPlan(obj.name, camera.name if camera else None, image.name if image else None, inputs.image_path)
    )
    return job, fitted, warnings


def _camera_verdict(report: dict[str, Any], camera: str | None) -> str:
    """The camera fit's part of the summary (`camera`: the camera object made for the fit)."""
    fit = report.get("camera")
    if not fit:
        return ""
    change = f"silhouette IoU {fit['iou_before']:.2f} -> {fit['iou_after']:.2f}, turned {fit['rotation_deg']:.0f} deg"
    if fit["accepted"]:
        return f"; camera {'found' if fit['mode'] == m.FIT_SEARCH else 'corrected'} ({change}): '{camera}'"
    if camera is not None:  # a search without a camera, where nothing beat the front view
        return f"; camera: no view matched better than the front view (silhouette IoU {fit['iou_before']:.2f}): '{camera}'"
    return f"; camera fit rejected, your camera was used (no better: {change})"


class Session:
    """Drives one refinement. While it runs, `progress` (0..1) and `status` describe it; once
    `outcome` is set (KEPT, CANCELLED or FAILED) it is over: `report` is the engine's report
    (KEPT), `reason` says why it failed (FAILED), `summary()` is the line to show the user."""

    def __init__(
        self,
        object_name: str,
        job_input: JobInput,
        camera_plan: CameraPlan | None,
        warnings: list[str],
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.object_name = object_name
        self.job_input = job_input
        self._fitted = None if camera_plan is None else FittedCamera(camera_plan)
        self.camera: str | None = None  # the camera object kept for a fitted camera
        self.mask: str | None = None  # the image made for a silhouette found in the photo
        self.warnings = warnings
        self.on_event = on_event
        self.progress, self.status = 0.0, "Connecting to the engine..."
        self.outcome: str | None = None
        self.reason = ""
        self.report: dict[str, Any] = {}
        self._keys: Refinement | None = None
        self._job: RefineJob | None = None

    @classmethod
    def prepare(
        cls,
        context: bpy.types.Context,
        obj: bpy.types.Object | None,
        inputs: Inputs,
        on_event: Callable[[Event], None] | None = None,
    ) -> Session:
        """Read what the refinement needs (nothing changes yet). Raises InputProblem."""
        job_input, camera_plan, warnings = read_job(context, obj, inputs)
        assert obj is not None
        return cls(obj.name, job_input, camera_plan, warnings, on_event)

    def start(self, link: EngineLink, config: EngineConfig) -> Session:
        """Add the shape keys and send the job."""
        self._keys = Refinement.add_keys(self.object_name)
        self._job = RefineJob(link, config, self.job_input).start()
        return self

    @property
    def running(self) -> bool:
        return self._job is not None and self.outcome is None

    def tick(self, wait: float = 0.0) -> bool:
        """Apply what the engine sent since the last tick (waiting up to `wait` seconds for the
        first event); only the newest positions are drawn. Returns whether it still runs."""
        assert self._job is not None and self._keys is not None, "start() first"
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
                self._keys.show(latest)
        except InputProblem as exc:  # e.g. the object was deleted meanwhile
            self._end(FAILED, str(exc))
        return self.outcome is None

    def cancel(self) -> None:
        """Stop the engine's job and restore the mesh (nothing happens once it is over)."""
        if self.running:
            self._end(CANCELLED)

    def summary(self) -> str:
        if self.outcome == KEPT:  # with the camera fit's verdict, the silhouette's and the engine's warnings
            found = self.report.get("silhouette") or {}
            mask = f"; silhouette found in the photo: '{self.mask}'" if self.mask else ""
            warnings = [*found.get("warnings", []), *self.report.get("self_check", {}).get("warnings", [])]
            notes = f"{_camera_verdict(self.report, self.camera)}{mask}" + "".join(f"; warning: {w}" for w in warnings)
            ious = self.report.get("silhouette_iou") or {}
            iou = f", silhouette IoU {ious['before']:.2f} -> {ious['after']:.2f}" if ious else ""
            return f"Refined: {self.report.get('iterations_run', '?')} iterations{iou}{notes}"
        if self.outcome == CANCELLED:
            return "Refinement cancelled: mesh restored"
        if self.outcome == FAILED:
            return f"Refinement failed: {self.reason}"
        return self.status

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
            self.report = h.get("report", {})
            self._end(KEPT, vertices=event.vertices, camera=h.get("camera"), mask=event.mask)
        elif event.kind == m.CANCELLED:
            self._end(CANCELLED)
        elif event.kind == m.ERROR:
            self._end(FAILED, str(h.get("message", "the engine reported an error")))
        return latest

    def _end(
        self, outcome: str, reason: str = "", vertices: Any = None, camera: dict[str, Any] | None = None, mask: Any = None
    ) -> None:
        assert self._job is not None and self._keys is not None
        if outcome == KEPT:
            try:
                self._keys.keep(vertices)
                self._keep_camera(camera)
                self._keep_mask(mask)
            except InputProblem as exc:
                outcome, reason = FAILED, str(exc)
        if outcome != KEPT:
            self._job.cancel()
            self._keys.rollback()
            if self._fitted is not None:
                self._fitted.remove()
        self.outcome, self.reason = outcome, reason
        self.progress = 1.0 if outcome == KEPT else self.progress
        self.status = self.summary()

    def _keep_camera(self, fields: dict[str, Any] | None) -> None:
        """Keep a camera object for an accepted fit, or for the one a search started from when
        the scene had no camera to fall back on; else remove it. The user's camera is never changed."""
        fitted, fit = self._fitted, self.report.get("camera")
        if fitted is None:
            return
        if fields is None or not fit or not (fit["accepted"] or fitted.plan.user_camera is None):
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
        image = scene_io.store_mask(f"{self.object_name} REFINE mask", mask)
        scene_settings(self._scene()).mask_image = image
        self.mask = image.name

    @staticmethod
    def _scene() -> bpy.types.Scene:
        scene = bpy.context.scene
        assert scene is not None
        return scene


class RefineFailed(RuntimeError):
    """A refinement that ended without a result; the object is exactly as it was."""


def run_blocking(
    context: bpy.types.Context,
    obj: bpy.types.Object | None,
    config: EngineConfig,
    inputs: Inputs,
    on_event: Callable[[Event], None] | None = None,
) -> Session:
    """Refine one object and wait (scripts, background mode: timers never fire while a script
    blocks). Returns the kept session (its `report`, its `camera`); raises InputProblem or
    RefineFailed."""
    session = Session.prepare(context, obj, inputs, on_event).start(LINK, config)
    try:
        while session.tick(wait=1.0):
            pass
    except BaseException:  # also KeyboardInterrupt: the scene goes back to how it was
        session.cancel()
        raise
    if session.outcome != KEPT:
        raise RefineFailed(session.reason or session.summary())
    return session
