"""One refinement of one object, on Blender's side: gather the inputs, show streamed positions in
a "REFINE" shape key, then keep the result or put everything back exactly.

The base mesh is never written: the refinement lives in its own shape key (on top of a "Basis"
key, created if missing), so cancelling, an engine crash or an error removes what was added and
the object is bit-for-bit what it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bpy
import numpy as np

from . import scene_io
from .job import JobInput
from .properties import scene_settings
from .scene_io import BASIS_NAME, KEY_NAME, InputProblem


@dataclass
class Refinement:
    object_name: str  # names, not Python references, survive undo and modal steps
    created_basis: bool
    created_key: bool
    previous_key: np.ndarray | None  # the REFINE key's positions before, if it existed
    previous_value: float
    previous_active: int
    warnings: list[str]

    @classmethod
    def prepare(cls, context: bpy.types.Context, obj: bpy.types.Object | None) -> tuple[Refinement, JobInput]:
        """Check the scene, gather the engine's inputs and add the shape keys. Raises InputProblem."""
        scene = context.scene
        assert scene is not None
        props = scene_settings(scene)
        if obj is None or obj.type != "MESH":
            raise InputProblem("select a mesh object to refine")
        if obj.mode != "OBJECT":
            raise InputProblem("switch to Object mode first (Edit mode keeps its own copy of the mesh)")
        if len(obj.data.vertices) < 3 or len(obj.data.polygons) < 1:
            raise InputProblem(f"'{obj.name}' has no faces to refine")
        camera = props.camera or scene.camera
        cam_fields = scene_io.camera_fields(camera, scene)
        image = props.image or scene_io.camera_background_image(camera)
        encoded, mask = scene_io.reference_image(image, props.image_path)
        verts, faces = scene_io.mesh_world(obj)
        settings: dict[str, Any] = {"preset": props.preset, "symmetry": props.symmetry.lower()}
        if props.iterations > 0:
            settings["iterations"] = props.iterations
        warnings = []
        if any(m.show_viewport for m in obj.modifiers):
            evaluated = obj.evaluated_get(context.evaluated_depsgraph_get())
            if len(evaluated.data.vertices) != len(obj.data.vertices):
                warnings.append("a modifier changes the topology: the base mesh is refined, modifiers apply on top")
        job_input = JobInput(verts, faces, cam_fields, image=encoded, mask=mask, settings=settings)

        keys = obj.data.shape_keys
        created_basis = keys is None
        if created_basis:
            obj.shape_key_add(name=BASIS_NAME, from_mix=False)
        key = obj.data.shape_keys.key_blocks.get(KEY_NAME)
        previous = None if key is None else scene_io.read_key(key)
        state = cls(
            obj.name,
            created_basis,
            key is None,
            previous,
            0.0 if key is None else key.value,
            obj.active_shape_key_index or 0,
            warnings,
        )
        if key is None:
            key = obj.shape_key_add(name=KEY_NAME, from_mix=False)
        key.value = 1.0
        return state, job_input

    @property
    def object(self) -> bpy.types.Object:
        obj = bpy.data.objects.get(self.object_name)
        if obj is None:
            raise InputProblem(f"object '{self.object_name}' was deleted during the refinement")
        return obj

    def show(self, world: np.ndarray) -> None:
        """Put world positions (V, 3) into the REFINE key (object-local) and refresh the viewport."""
        obj = self.object
        key = obj.data.shape_keys.key_blocks[KEY_NAME]
        scene_io.write_key(key, scene_io.world_to_local(obj, world))
        obj.data.update()

    def keep(self, world: np.ndarray) -> None:
        self.show(world)
        obj = self.object
        obj.active_shape_key_index = obj.data.shape_keys.key_blocks.find(KEY_NAME)

    def rollback(self) -> None:
        """Remove what prepare() added; restore a REFINE key that existed before."""
        obj = bpy.data.objects.get(self.object_name)
        if obj is None or obj.data.shape_keys is None:
            return
        blocks = obj.data.shape_keys.key_blocks
        key = blocks.get(KEY_NAME)
        if key is not None:
            if self.created_key:
                obj.shape_key_remove(key)
            else:
                scene_io.write_key(key, self.previous_key)
                key.value = self.previous_value
        if self.created_basis and obj.data.shape_keys is not None:
            basis = obj.data.shape_keys.key_blocks.get(BASIS_NAME)
            if basis is not None and len(obj.data.shape_keys.key_blocks) == 1:
                obj.shape_key_remove(basis)
        obj.active_shape_key_index = (
            min(self.previous_active, max(len(obj.data.shape_keys.key_blocks) - 1, 0)) if obj.data.shape_keys else 0
        )
        obj.data.update()
