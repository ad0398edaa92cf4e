"""The "REFINE" tab in the 3D View sidebar. draw() only reads properties: it never raises."""

from __future__ import annotations

import bpy

from .properties import scene_settings
from .reference_views import image_empties
from .refine_protocol import messages as m
from .session import found_views

SILHOUETTE_MASK, FIT_SEARCH = m.SILHOUETTE_MASK.upper(), m.FIT_SEARCH.upper()


class VIEW3D_PT_refine(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "REFINE"
    bl_label = "Refine Mesh"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        props = scene_settings(context.scene)
        col = layout.column()
        col.prop(props, "image")
        col.prop(props, "image_path")
        col.prop(props, "silhouette")
        if props.silhouette == SILHOUETTE_MASK or props.mask_image is not None:
            col.prop(props, "mask_image")
        col.prop(props, "occluders")
        row = col.row(align=True)
        row.prop(props, "camera")
        row.operator("refine.camera_from_view", text="", icon="CAMERA_DATA")
        col.prop(props, "fit_camera")
        if props.fit_camera == FIT_SEARCH:
            col.prop(props, "on_doubt")
        empties = len(image_empties(context.scene)) if context.scene else 0
        col.prop(props, "reference_images", text=f"Reference Images ({empties} image empties)")
        col.prop(props, "symmetry")
        col.prop(props, "preset")
        col.prop(props, "iterations")
        if props.running:
            layout.progress(factor=props.progress, type="BAR", text=props.status or "Refining...")
            layout.operator("refine.cancel", icon="CANCEL")
        else:
            row = layout.row(align=True)
            row.operator("refine.refine_mesh", icon="MOD_SHRINKWRAP")
            row.operator("refine.refine_mesh", text="Find Silhouette", icon="IMAGE_ZDEPTH").find_only = True
            views = len(found_views(context.scene)) if props.fitted_camera is not None else 0
            if views > 1:
                layout.operator("refine.next_view", text=f"Next View ({props.found_view + 1} of {views})", icon="FORWARD")
            if props.fitted_camera is not None and props.fitted_camera != context.scene.camera:
                layout.operator("refine.use_fitted_camera", icon="VIEW_CAMERA")
            for line in props.status.split("; ") if props.status else ():  # the summary, one note per line
                layout.label(text=line)


def register() -> None:
    bpy.utils.register_class(VIEW3D_PT_refine)


def unregister() -> None:
    bpy.utils.unregister_class(VIEW3D_PT_refine)
