"""The REFINE panel's settings, stored per scene (Scene.refine)."""

from __future__ import annotations

import bpy

from .refine_protocol import messages as m

# Menus from the shared vocabulary; Blender's enum identifiers are upper case by convention.
PRESETS = [(name, label, text) for name, (label, text) in m.PRESETS.items()]
SYMMETRY = [(name.upper(), label, text) for name, (label, text) in m.SYMMETRY.items()]
FIT_CAMERA = [(name.upper(), label, text) for name, (label, text) in m.FIT_CAMERA.items()]
ON_DOUBT = [(name.upper(), label, text) for name, (label, text) in m.ON_DOUBT.items()]
SILHOUETTE = [(name.upper(), label, text) for name, (label, text) in m.SILHOUETTE.items()]


def _is_camera(self, obj: bpy.types.Object) -> bool:
    return obj.type == "CAMERA"


# The photo is the Image or the File, whichever the artist chose last: choosing one clears the other.
def _chose_image(self, context: bpy.types.Context) -> None:
    if self.image is not None and self.image_path:
        self.image_path = ""


def _chose_file(self, context: bpy.types.Context) -> None:
    if self.image_path and self.image is not None:
        self.image = None


class RefineSettings(bpy.types.PropertyGroup):
    image: bpy.props.PointerProperty(  # type: ignore[valid-type]
        type=bpy.types.Image,
        name="Image",
        description="Reference photo, any format Blender reads (default: the camera's visible background image)",
        update=_chose_image,
    )
    image_path: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="File",
        subtype="FILE_PATH",
        description="Reference photo file, any format Blender reads (choosing it clears the Image)",
        update=_chose_file,
    )
    silhouette: bpy.props.EnumProperty(  # type: ignore[valid-type]
        items=SILHOUETTE,
        name="Silhouette",
        default=m.SILHOUETTE_ALPHA.upper(),
        description="Where the object's outline comes from (a photo without alpha is always segmented automatically)",
    )
    mask_image: bpy.props.PointerProperty(  # type: ignore[valid-type]
        type=bpy.types.Image,
        name="Mask",
        description="Silhouette mask, white = object (the last automatic one is kept here: paint corrections into it)",
    )
    occluders: bpy.props.PointerProperty(  # type: ignore[valid-type]
        type=bpy.types.Collection,
        name="Occluders",
        description="Objects in front of the refined ones in the photo (a hand, a stand): the pixels they cover are not explained by the mesh",
    )
    camera: bpy.props.PointerProperty(  # type: ignore[valid-type]
        type=bpy.types.Object,
        poll=_is_camera,
        name="Camera",
        description="The camera the photo was taken from (default: the scene camera)",
    )
    fit_camera: bpy.props.EnumProperty(  # type: ignore[valid-type]
        items=FIT_CAMERA, name="Fit Camera", default=m.FIT_OFF.upper(), description="How far to trust the camera"
    )
    on_doubt: bpy.props.EnumProperty(  # type: ignore[valid-type]
        items=ON_DOUBT,
        name="In Doubt",
        default=m.DOUBT_STOP.upper(),
        description="When several views of the mesh explain the photo nearly equally, or no upright one does",
    )
    found_views: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Found Views",
        description="The views the last camera search found (JSON camera fields, the one used first): Next View cycles "
        "the fitted camera through them",
    )
    found_view: bpy.props.IntProperty(name="Found View", min=0)  # type: ignore[valid-type]
    fitted_camera: bpy.props.PointerProperty(  # type: ignore[valid-type]
        type=bpy.types.Object, poll=_is_camera, name="Fitted Camera", description="The camera the last refinement fitted"
    )
    reference_images: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Reference Images",
        default=True,
        description="Also fit the scene's visible image empties (Add > Image > Reference or Background), each an exact "
        "orthographic view, and the other cameras showing a background image, each an exact view; without a photo, they are the views",
    )
    symmetry: bpy.props.EnumProperty(items=SYMMETRY, name="Symmetry", default=m.SYMMETRY_AUTO.upper())  # type: ignore[valid-type]
    preset: bpy.props.EnumProperty(items=PRESETS, name="Quality", default=m.PRESET_DEFAULT)  # type: ignore[valid-type]
    iterations: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Iterations", min=0, max=10000, default=0, description="0: the preset's own count"
    )
    # Live state shown by the panel while a refinement runs.
    running: bpy.props.BoolProperty(options={"SKIP_SAVE"})  # type: ignore[valid-type]
    progress: bpy.props.FloatProperty(min=0.0, max=1.0, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    status: bpy.props.StringProperty(options={"SKIP_SAVE"})  # type: ignore[valid-type]


def scene_settings(scene: bpy.types.Scene | None) -> RefineSettings:
    """The scene's REFINE settings (a dynamic property type checkers cannot see)."""
    return scene.refine  # type: ignore[union-attr]


def register() -> None:
    bpy.utils.register_class(RefineSettings)
    bpy.types.Scene.refine = bpy.props.PointerProperty(type=RefineSettings)  # type: ignore[attr-defined,func-returns-value]


def unregister() -> None:
    del bpy.types.Scene.refine  # type: ignore[attr-defined]
    bpy.utils.unregister_class(RefineSettings)
