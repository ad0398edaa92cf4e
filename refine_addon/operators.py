"""Operators: Refine Mesh and Find Silhouette (modal in the UI, blocking in the background), Cancel,
Next View (the views a search found), Camera from View, Test connection, Stop engine."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Literal

import bpy
from mathutils import Matrix

from . import photo
from .camera_object import CameraPlan, camera_from_view, make_scene_camera, place_camera
from .engine_link import LINK, EngineUnavailable
from .preferences import engine_config
from .properties import scene_settings
from .refine_protocol import messages as m
from .refine_protocol.client import EngineError
from .scene_io import InputProblem
from .session import FAILED, KEPT, STOPPED, Inputs, RefineFailed, Session, found_views, run_blocking

OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
FIND_ONLY = (
    "Find the camera (as Fit Camera says) and the silhouette, and leave the mesh as it is: check them, paint "
    "corrections into the mask image, then Refine Mesh starts from them"
)
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

    find_only: bpy.props.BoolProperty(name="Find Silhouette Only", description=FIND_ONLY, options={"SKIP_SAVE"})  # type: ignore[valid-type]

    @classmethod
    def description(cls, context: bpy.types.Context, properties: bpy.types.OperatorProperties) -> str:
        return FIND_ONLY if properties.find_only else (cls.__doc__ or "")  # type: ignore[attr-defined]

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
            session = run_blocking(context, selected_meshes(context), engine_config(context), self._inputs(context))
        except (InputProblem, RefineFailed) as exc:
            props.status = f"Refinement failed: {exc}"
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        props.status = session.summary()
        _offer_camera(context, session)
        self.report({"WARNING"} if session.outcome == STOPPED else {"INFO"}, props.status)
        return {"FINISHED"}

    def _inputs(self, context: bpy.types.Context) -> Inputs:
        return replace(Inputs.from_panel(context.scene), find_only=self.find_only)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> OperatorResult:
        if bpy.app.background:
            return self.execute(context)
        try:
            session = Session.prepare(context, selected_meshes(context), self._inputs(context))
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
        if session.outcome in (KEPT, STOPPED):
            _offer_camera(context, session)
            self.report({"INFO"} if session.outcome == KEPT else {"WARNING"}, session.summary())
            return {"FINISHED"}
        self.report({"ERROR"} if session.outcome == FAILED else {"WARNING"}, session.summary())
        return {"CANCELLED"}


def _offer_camera(context: bpy.types.Context, session: Session) -> None:
    """The panel offers a fitted camera (Use Fitted Camera) until another refinement replaces it;
    after a stop, it is set to go on from what was found (hand_over)."""
    props = scene_settings(context.scene)
    props.fitted_camera = bpy.data.objects.get(session.camera) if session.camera else None
    if session.outcome == STOPPED:
        hand_over(context, session)


def hand_over(context: bpy.types.Context, session: Session) -> None:
    """Set the panel to go on from what a stopped session found: the fitted camera (its views to
    cycle with Next View), corrected by the next Refine Mesh, and the silhouette found when only
    it was asked for (after a doubtful view it is found again from the view picked)."""
    props = scene_settings(context.scene)
    camera = props.fitted_camera
    props.found_views, props.found_view = json.dumps(session.found_views) if camera else "", 0
    if camera is not None:
        props.camera, props.fit_camera = camera, m.FIT_REFINE.upper()
    if session.mask is not None and session.request.settings.get("find_only"):
        props.silhouette = m.SILHOUETTE_MASK.upper()


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


class REFINE_OT_next_view(bpy.types.Operator):
    """Move the fitted camera to the next view the camera search found (several explain the photo nearly equally)"""

    bl_idname = "refine.next_view"
    bl_label = "Next View"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if scene_settings(context.scene).fitted_camera is None or len(found_views(context.scene)) < 2:
            cls.poll_message_set("Only one view was found: Find Silhouette with Fit Camera set to Find first")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        props, views = scene_settings(context.scene), found_views(context.scene)
        props.found_view = (props.found_view + 1) % len(views)
        place_camera(props.fitted_camera, views[props.found_view])
        self.report({"INFO"}, f"View {props.found_view + 1} of {len(views)}: Refine Mesh starts from it")
        return {"FINISHED"}


class REFINE_OT_camera_from_view(bpy.types.Operator):
    """A new camera looking as this viewport does, at the photo's size with the photo behind it: the rough camera
    Refine Mesh then corrects (Fit Camera: Refine). Orbit the view until the mesh sits about as in the photo first"""

    bl_idname = "refine.camera_from_view"
    bl_label = "Camera from View"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not isinstance(context.space_data, bpy.types.SpaceView3D) or context.region_data is None:
            cls.poll_message_set("Use it from a 3D Viewport")
            return False
        if context.active_object is None:
            cls.poll_message_set("Select the mesh to refine")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> OperatorResult:
        scene, space, view = context.scene, context.space_data, context.region_data
        assert scene is not None and isinstance(space, bpy.types.SpaceView3D) and view is not None
        try:
            obj = view_camera(context, view.view_matrix, space.lens, view.is_perspective, view.view_distance)
        except (InputProblem, RuntimeError) as exc:  # RuntimeError: Blender could not read the photo
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Scene camera: '{obj.name}' (Fit Camera: Refine)")
        return {"FINISHED"}


def view_camera(context: bpy.types.Context, view: Matrix, lens: float, perspective: bool, distance: float) -> bpy.types.Object:
    """Camera from View's work (camera_object.camera_from_view) for the panel's photo and the active
    object, set as the panel's camera to be corrected. Raises InputProblem for a photo moved in its
    camera's view, RuntimeError for a file Blender cannot read."""
    scene, props = context.scene, scene_settings(context.scene)
    assert scene is not None and context.active_object is not None
    user = props.camera or scene.camera
    choice = photo.choose_photo(props.image, props.image_path, user)
    image = choice.image or (bpy.data.images.load(bpy.path.abspath(choice.path), check_existing=True) if choice.path else None)
    wh = (
        (int(image.size[0]), int(image.size[1]))
        if image is not None and image.size[0]
        else (scene.render.resolution_x, scene.render.resolution_y)
    )
    plan = CameraPlan(
        context.active_object.name, user.name if user else None, choice.image.name if choice.image else None, choice.path
    )
    obj = camera_from_view(plan, scene, view, lens, perspective, distance, wh)
    props.camera, props.fit_camera, props.found_views = obj, m.FIT_REFINE.upper(), ""
    return obj


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
    REFINE_OT_next_view,
    REFINE_OT_camera_from_view,
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
