"""The camera REFINE found, as a Blender camera object: made next to the user's camera (which is
never changed), with the photo as its background image, and made the scene camera on request.

The engine's camera (docs/protocol.md) carries the render settings the photo needs (its size);
they are kept on the new object (custom property "refine_render") and applied to the scene only
when the user makes it the scene camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy
from mathutils import Matrix

from .refine_protocol.messages import CAMERA_FIELDS, MATRIX_WORLD, RENDER_FIELDS

RENDER_PROPERTY = "refine_render"


@dataclass(frozen=True)
class CameraPlan:
    """Where a fitted camera goes. Names, not references: they survive undo and modal steps."""

    object_name: str  # the refined object: the camera is named after it
    user_camera: str | None  # the camera the photo was matched against (None: there was none)
    photo_image: str | None  # the photo's Image datablock, if it has one
    photo_path: str  # else the photo's file

    @property
    def name(self) -> str:
        return f"{self.object_name} REFINE camera"


class FittedCamera:
    """The camera object of one fit: made at the fit's first step (or at the end), moved with every
    step so the viewport follows the fit live, and kept or removed when the refinement ends."""

    def __init__(self, plan: CameraPlan) -> None:
        self.plan = plan
        self.name: str | None = None  # the object's name once made

    def show(self, fields: dict[str, Any], scene: bpy.types.Scene) -> bpy.types.Object:
        """Make or move the camera object to the engine's camera `fields`."""
        obj = bpy.data.objects.get(self.name) if self.name else None
        if obj is None:
            obj = _new_camera(self.plan, scene)
            self.name = obj.name
        place_camera(obj, fields)
        return obj

    def remove(self) -> None:
        """Remove the camera object and its camera datablock, if they were made."""
        obj = bpy.data.objects.get(self.name) if self.name else None
        if obj is not None:
            data = obj.data
            bpy.data.objects.remove(obj)
            if data is not None and data.users == 0:
                bpy.data.cameras.remove(data)
        self.name = None


def place_camera(obj: bpy.types.Object, fields: dict[str, Any]) -> None:
    """Set a camera object to the engine's camera `fields` (its render settings kept on the object)."""
    for name in CAMERA_FIELDS:
        setattr(obj.data, name, fields[name])
    obj.matrix_world = Matrix(fields[MATRIX_WORLD])
    obj[RENDER_PROPERTY] = {name: fields[name] for name in RENDER_FIELDS}


# The 3D viewport draws its lens on a sensor twice Blender's default camera's (36 mm): a camera
# sees what the viewport shows at half the viewport's focal length.
VIEWPORT_LENS_FACTOR = 0.5


def camera_from_view(
    plan: CameraPlan,
    scene: bpy.types.Scene,
    view: Matrix,
    lens: float,
    perspective: bool,
    distance: float,
    photo_wh: tuple[int, int],
) -> bpy.types.Object:
    """A new camera object looking as the 3D viewport does (`view`: its 4x4 view matrix, `lens`
    its focal length in mm, `distance` its orbit distance, for an orthographic view's scale), at
    the photo's size, with the photo behind it; made the scene camera."""
    obj = _new_camera(plan, scene)
    cam = obj.data
    assert isinstance(cam, bpy.types.Camera)
    obj.matrix_world = view.inverted()
    cam.type = "PERSP" if perspective else "ORTHO"
    cam.sensor_width = 36.0  # the viewport fits its larger side to it, as a camera with sensor fit Auto
    cam.lens = lens * VIEWPORT_LENS_FACTOR
    cam.ortho_scale = distance * cam.sensor_width / lens
    obj[RENDER_PROPERTY] = dict(zip(RENDER_FIELDS, (*photo_wh, 100, 1.0, 1.0)))
    make_scene_camera(scene, obj)
    return obj


def _new_camera(plan: CameraPlan, scene: bpy.types.Scene) -> bpy.types.Object:
    """A camera object next to the user's with the photo behind it: a copy of the user's camera
    datablock when there is one (the lens settings a fit does not touch stay)."""
    user = bpy.data.objects.get(plan.user_camera) if plan.user_camera else None
    data = user.data.copy() if user is not None and user.type == "CAMERA" else bpy.data.cameras.new(plan.name)
    data.name = plan.name
    data.background_images.clear()
    photo = _photo(plan)
    if photo is not None:
        data.background_images.new().image = photo
        data.show_background_images = True
    obj = bpy.data.objects.new(plan.name, data)
    _collection(user, plan, scene).objects.link(obj)
    return obj


def make_scene_camera(scene: bpy.types.Scene, obj: bpy.types.Object) -> None:
    """Render through `obj`, at the photo's size when REFINE made it."""
    scene.camera = obj
    render: Any = obj.get(RENDER_PROPERTY)  # type: ignore[func-returns-value]  # an ID property; the stubs say None
    if render is not None:
        for name in RENDER_FIELDS:
            setattr(scene.render, name, render[name])


def _photo(plan: CameraPlan) -> bpy.types.Image | None:
    if plan.photo_path:  # the panel's file wins over its Image, as for the refinement
        path = Path(bpy.path.abspath(plan.photo_path))
        return bpy.data.images.load(str(path), check_existing=True) if path.is_file() else None
    return bpy.data.images.get(plan.photo_image) if plan.photo_image else None


def _collection(user: bpy.types.Object | None, plan: CameraPlan, scene: bpy.types.Scene) -> bpy.types.Collection:
    """The user's camera's collection, else the refined object's, else the scene's."""
    for obj in (user, bpy.data.objects.get(plan.object_name)):
        if obj is not None and obj.users_collection:
            return obj.users_collection[0]
    return scene.collection
