"""The shape keys of one refinement: show streamed positions in a "REFINE" shape key, then keep
the result or put everything back exactly (session.py decides which).

The base mesh is never written: the refinement lives in its own shape key (on top of a "Basis"
key, created if missing), so cancelling, an engine crash or an error removes what was added and
the object is bit-for-bit what it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from . import scene_io
from .asset import Part
from .scene_io import BASIS_NAME, KEY_NAME, InputProblem


@dataclass
class Refinement:
    part: Part  # its object by name: names, not Python references, survive undo and modal steps
    created_basis: bool
    created_key: bool
    previous_key: np.ndarray | None  # the REFINE key's positions before, if it existed
    previous_value: float
    previous_mute: bool
    previous_active: int

    @classmethod
    def add_keys(cls, part: Part) -> Refinement:
        """Add "Basis" (if missing) and "REFINE" (value 1.0, unmuted) to the part's object,
        remembering what was there so that rollback() can put it back. Raises InputProblem if the
        object is gone."""
        obj = bpy.data.objects.get(part.name)
        if obj is None:
            raise InputProblem(f"object '{part.name}' no longer exists")
        created_basis = obj.data.shape_keys is None
        if created_basis:
            obj.shape_key_add(name=BASIS_NAME, from_mix=False)
        key = obj.data.shape_keys.key_blocks.get(KEY_NAME)
        state = cls(
            part,
            created_basis,
            key is None,
            None if key is None else scene_io.read_key(key),
            0.0 if key is None else key.value,
            False if key is None else key.mute,
            obj.active_shape_key_index or 0,
        )
        if key is None:
            key = obj.shape_key_add(name=KEY_NAME, from_mix=False)
        key.value, key.mute = 1.0, False
        return state

    @property
    def object_name(self) -> str:
        return self.part.name

    @property
    def object(self) -> bpy.types.Object:
        obj = bpy.data.objects.get(self.object_name)
        if obj is None:
            raise InputProblem(f"object '{self.object_name}' was deleted during the refinement")
        return obj

    def show(self, world: np.ndarray) -> None:
        """Put the engine's world positions of the whole asset ((V, 3)) that belong to this part
        into its REFINE key and refresh the viewport."""
        obj = self.object
        key = obj.data.shape_keys.key_blocks[KEY_NAME]
        scene_io.write_key(key, self.part.key_positions(world[self.part.start : self.part.start + self.part.count]))
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
                key.value, key.mute = self.previous_value, self.previous_mute
        if self.created_basis and obj.data.shape_keys is not None:
            basis = obj.data.shape_keys.key_blocks.get(BASIS_NAME)
            if basis is not None and len(obj.data.shape_keys.key_blocks) == 1:
                obj.shape_key_remove(basis)
        obj.active_shape_key_index = (
            min(self.previous_active, max(len(obj.data.shape_keys.key_blocks) - 1, 0)) if obj.data.shape_keys else 0
        )
        obj.data.update()
