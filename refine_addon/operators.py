"""Operators: Refine Mesh (modal in the UI, blocking in the background), Cancel, Test connection,
Stop engine."""

from __future__ import annotations

from typing import Literal

import bpy

from .batch import RefineFailed, run_blocking
from .engine_link import LINK, EngineUnavailable
from .job import RefineJob
from .preferences import engine_config
from .properties import scene_settings
from .refine_protocol.client import EngineError
from .refinement import Refinement
from .scene_io import InputProblem

OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
_running: dict[str, RefineJob] = {}  # scene name -> job (a Cancel button press cancels it)


class REFINE_OT_refine_mesh(bpy.types.Operator):
    """Refine the active mesh so its silhouette matches the reference photo"""

    bl_idname = "refine.refine_mesh"
    bl_label = "Refine Mesh"
    bl_options = {"REGISTER", "UNDO"}

    _job: RefineJob | None = None
    _state: Refinement | None = None
    _timer: bpy.types.Timer | None = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        if obj is None or obj.type != "MESH":
            cls.poll_message_set("Select a mesh object to refine")
            return False
        if obj.mode != "OBJECT":
            cls.poll_message_set("Switch to Object mode (Edit mode keeps its own copy of the mesh)")
            return False
        if context.scene.name in _running:
            cls.poll_message_set("A refinement is already running in this scene")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        """Blocking: for scripts and `blender --background`."""
        try:
            report = run_blocking(context, context.active_object, engine_config(context))
        except (InputProblem, RefineFailed) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Refined in {report['iterations_run']} iterations")
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OperatorResult:
        if bpy.app.background:
            return self.execute(context)
        try:
            self._state, job_input = Refinement.prepare(context, context.active_object)
        except InputProblem as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for warning in self._state.warnings:
            self.report({"WARNING"}, warning)
        self._job = RefineJob(LINK, engine_config(context), job_input).start()
        _running[context.scene.name] = self._job
        props = scene_settings(context.scene)
        props.running, props.progress, props.status = True, 0.0, "Connecting to the engine..."
        context.window_manager.progress_begin(0, 1)
        self._timer = context.window_manager.event_timer_add(0.05, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> OperatorResult:
        assert self._job is not None and self._state is not None
        if event.type == "ESC" or self._job not in _running.values():
            return self._end(context, "Refinement cancelled: mesh restored", keep=None)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        latest = None
        while not self._job.events.empty():
            ev = self._job.events.get_nowait()
            props = scene_settings(context.scene)
            if ev.kind == "progress":
                h = ev.header
                props.progress = h["iteration"] / max(h["total"], 1)
                props.status = f"{h['iteration']}/{h['total']}  loss {h['losses'].get('total') or 0:.4f}  IoU {h['losses'].get('iou') or 0:.3f}"
                context.window_manager.progress_update(props.progress)
                latest = ev.vertices if ev.vertices is not None else latest
            elif ev.kind == "queued":  # position: waiting jobs ahead, the running one not counted
                ahead = ev.header.get("position", 0)
                props.status = f"Waiting for the engine ({ahead} job(s) ahead)" if ahead else "Waiting for the engine"
            elif ev.kind == "result":
                return self._end(context, f"Refined: {ev.header['report']['iterations_run']} iterations", keep=ev.vertices)
            elif ev.kind in ("cancelled", "error"):
                return self._end(
                    context, f"Refinement failed: {ev.header.get('message', 'cancelled')}", keep=None, error=ev.kind == "error"
                )
        if latest is not None:  # only the newest positions are worth drawing
            try:
                self._state.show(latest)
            except InputProblem as exc:  # e.g. the object was deleted meanwhile
                return self._end(context, f"Refinement stopped: {exc}", keep=None, error=True)
        for area in context.screen.areas if context.screen else ():
            if area.type in ("VIEW_3D", "PROPERTIES"):
                area.tag_redraw()
        return {"RUNNING_MODAL"}

    def _end(self, context: bpy.types.Context, message: str, keep, error: bool = False) -> OperatorResult:
        assert self._job is not None and self._state is not None
        _running.pop(context.scene.name, None)
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
        context.window_manager.progress_end()
        props = scene_settings(context.scene)
        props.running, props.status = False, message
        if keep is not None:
            try:
                self._state.keep(keep)
                self.report({"INFO"}, message)
                return {"FINISHED"}
            except InputProblem as exc:
                message, error = f"Refinement stopped: {exc}", True
        self._job.cancel()
        self._state.rollback()
        self.report({"ERROR"} if error else {"WARNING"}, message)
        return {"CANCELLED"}


class REFINE_OT_cancel(bpy.types.Operator):
    """Stop the running refinement and restore the mesh"""

    bl_idname = "refine.cancel"
    bl_label = "Cancel"

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        job = _running.pop(context.scene.name, None)
        if job is not None:
            job.cancel()
        return {"FINISHED"}


class REFINE_OT_test_connection(bpy.types.Operator):
    """Connect to the engine (starting it if needed) and show its device and version"""

    bl_idname = "refine.test_connection"
    bl_label = "Test Connection"

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        try:
            with LINK.connect(engine_config(context)) as client:
                info = client.status()
        except (EngineUnavailable, EngineError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Engine {info['engine_version']} on {info['device_name']} ({info['device']})")
        return {"FINISHED"}


class REFINE_OT_stop_engine(bpy.types.Operator):
    """Stop the engine this Blender session started (frees its GPU memory)"""

    bl_idname = "refine.stop_engine"
    bl_label = "Stop Engine"

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        self.report({"INFO"}, "Engine stopped" if LINK.stop() else "No engine was started by this Blender session")
        return {"FINISHED"}


classes = (REFINE_OT_refine_mesh, REFINE_OT_cancel, REFINE_OT_test_connection, REFINE_OT_stop_engine)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for job in _running.values():
        job.cancel()
    _running.clear()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
