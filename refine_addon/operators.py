"""Operators: Refine Mesh (modal in the UI, blocking in the background), Cancel, Test connection,
Stop engine."""

from __future__ import annotations

from typing import Literal

import bpy

from .camera_object import make_scene_camera
from .engine_link import LINK, EngineUnavailable
from .preferences import engine_config
from .properties import scene_settings
from .refine_protocol.client import EngineError
from .scene_io import InputProblem
from .session import FAILED, KEPT, Inputs, RefineFailed, Session, run_blocking

OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
_running: dict[str, Session] = {}  # scene name -> session (a Cancel button press cancels it)


def selected_meshes(context: bpy.types.Context) -> list[bpy.types.Object]:
    """The asset to refine: the active mesh and every other selected mesh (one silhouette)."""
    active = context.active_object
    others = [o for o in context.selected_objects if o.type == "MESH" and o != active]
    return ([active] if active is not None else []) + others


class REFINE_OT_refine_mesh(bpy.types.Operator):
    """Refine the selected meshes (one asset) so their silhouette matches the reference photo"""

    bl_idname = "refine.refine_mesh"
    bl_label = "Refine Mesh"
    bl_options = {"REGISTER", "UNDO"}

    _session: Session | None = None
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
        props = scene_settings(context.scene)
        try:
            session = run_blocking(context, selected_meshes(context), engine_config(context), Inputs.from_panel(context.scene))
        except (InputProblem, RefineFailed) as exc:
            props.status = f"Refinement failed: {exc}"
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        props.status = session.summary()
        _offer_camera(context, session)
        self.report({"INFO"}, props.status)
        return {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OperatorResult:
        if bpy.app.background:
            return self.execute(context)
        try:
            session = Session.prepare(context, selected_meshes(context), Inputs.from_panel(context.scene))
            session.start(LINK, engine_config(context))
        except InputProblem as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for warning in session.warnings:
            self.report({"WARNING"}, warning)
        self._session = _running[context.scene.name] = session
        props = scene_settings(context.scene)
        props.running, props.progress, props.status = True, 0.0, session.status
        context.window_manager.progress_begin(0, 1)
        self._timer = context.window_manager.event_timer_add(0.05, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> OperatorResult:
        """A thin shell: Esc or the Cancel button cancel, every timer event is one session tick."""
        session = self._session
        assert session is not None
        if event.type == "ESC" or session not in _running.values():
            session.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        else:
            session.tick()
        props = scene_settings(context.scene)
        props.progress, props.status = session.progress, session.status
        context.window_manager.progress_update(session.progress)
        for area in context.screen.areas if context.screen else ():
            if area.type in ("VIEW_3D", "PROPERTIES"):
                area.tag_redraw()
        return {"RUNNING_MODAL"} if session.running else self._end(context, session)

    def _end(self, context: bpy.types.Context, session: Session) -> OperatorResult:
        _running.pop(context.scene.name, None)
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
        context.window_manager.progress_end()
        scene_settings(context.scene).running = False
        if session.outcome == KEPT:
            _offer_camera(context, session)
            self.report({"INFO"}, session.summary())
            return {"FINISHED"}
        self.report({"ERROR"} if session.outcome == FAILED else {"WARNING"}, session.summary())
        return {"CANCELLED"}


def _offer_camera(context: bpy.types.Context, session: Session) -> None:
    """The panel offers a fitted camera (Use Fitted Camera) until another refinement replaces it."""
    props = scene_settings(context.scene)
    props.fitted_camera = bpy.data.objects.get(session.camera) if session.camera else None


class REFINE_OT_use_fitted_camera(bpy.types.Operator):
    """Make the camera REFINE fitted the scene camera, at the photo's resolution, and look through it"""

    bl_idname = "refine.use_fitted_camera"
    bl_label = "Use Fitted Camera"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if scene_settings(context.scene).fitted_camera is None:
            cls.poll_message_set("No fitted camera: refine with the camera set to Refine or Find")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        scene = context.scene
        assert scene is not None
        camera = scene_settings(scene).fitted_camera
        make_scene_camera(scene, camera)
        space = context.space_data
        if isinstance(space, bpy.types.SpaceView3D) and space.region_3d is not None:
            space.region_3d.view_perspective = "CAMERA"
        self.report({"INFO"}, f"Scene camera: '{camera.name}'")
        return {"FINISHED"}


class REFINE_OT_cancel(bpy.types.Operator):
    """Stop the running refinement and restore the mesh"""

    bl_idname = "refine.cancel"
    bl_label = "Cancel"

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        _running.pop(context.scene.name, None)  # the modal operator notices and cancels
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


classes = (
    REFINE_OT_refine_mesh,
    REFINE_OT_cancel,
    REFINE_OT_use_fitted_camera,
    REFINE_OT_test_connection,
    REFINE_OT_stop_engine,
)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for session in _running.values():
        session.cancel()
    _running.clear()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
