"""What one refinement fits: the selected mesh objects as one asset, each as the artist sees it,
and the way the engine's fitted positions go back into each object's "REFINE" shape key.

As the artist sees it: the current shape-key mix is the starting shape, and, when the modifier
stack keeps a vertex correspondence with the cage (Mirror, Subsurf, Displace, Armature...), the
evaluated mesh is what the engine fits; the fitted change of each cage vertex's evaluated image
is mapped back through the stack's local Jacobian. The REFINE key then stores
`basis + fitted - (the mix without REFINE)`, so that with the artist's keys at their current
values and REFINE at 1 the object shows what was fitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import bpy
import numpy as np

from .scene_io import KEY_NAME, InputProblem, read_key

CORRESPONDENCE = 0.5  # least cosine between a random cage nudge and its evaluated image's motion
PROBE = 1e-4  # probe step, as a share of the object's size (below a Mirror's 0.001 merge distance)


@dataclass
class Part:
    """One object of the asset. Local arrays are (N, 3) float32 in the object's space, N its
    vertex count; the engine sees `count` world vertices from `start` on."""

    name: str
    start: int
    count: int
    matrix: np.ndarray  # (4, 4) float64 world matrix at the start
    basis: np.ndarray  # the reference shape key's positions (the mesh's when it has no keys)
    seen: np.ndarray  # the shape-key mix the artist sees: the starting shape
    others: np.ndarray  # the same mix without the REFINE key's own contribution
    shown: np.ndarray  # the engine vertices standing for the cage vertices, at the start (local)
    to_cage: np.ndarray | None  # (N, 3, 3): a shown vertex's change -> its cage vertex's (least squares); None: identity
    keys: list[str]  # the artist's shape keys in the mix, "Name 1.00"
    through_modifiers: bool  # the evaluated mesh (modifiers applied) is what the engine fits

    def key_positions(self, world: np.ndarray) -> np.ndarray:
        """(N, 3) float32 local REFINE key for the engine's (count, 3) world positions of this part."""
        local = _apply(np.linalg.inv(self.matrix), world[: len(self.seen)])
        change = local - self.shown
        if self.to_cage is not None:
            change = np.einsum("nij,nj->ni", self.to_cage, change)
        return (self.basis + self.seen + change - self.others).astype(np.float32)


@dataclass
class Asset:
    parts: list[Part]
    vertices: np.ndarray  # (V, 3) float32 world: every part's, in order
    faces: np.ndarray  # (F, 3) int32 into `vertices`
    warnings: list[str]


def read_asset(context: bpy.types.Context, objects: Sequence[bpy.types.Object]) -> Asset:
    """The objects as one mesh for the engine (nothing is changed; a temporary copy is evaluated
    to probe modifiers and removed). Raises InputProblem."""
    _check(objects)
    parts, verts, faces, warnings, start = [], [], [], [], 0
    for obj in objects:
        basis, seen, others, keys = key_mix(obj)
        local, tris, to_cage, note = _modifier_map(context, obj, seen)
        if note:
            warnings.append(note)
        matrix = np.array(obj.matrix_world, dtype=np.float64)
        shown = local[: len(seen)]
        parts.append(Part(obj.name, start, len(local), matrix, basis, seen, others, shown, to_cage, keys, to_cage is not None))
        verts.append(_apply(matrix, local).astype(np.float32))
        faces.append(tris + start)
        start += len(local)
    return Asset(parts, np.concatenate(verts), np.concatenate(faces).astype(np.int32), warnings)


def read_occluder(
    context: bpy.types.Context, collection: bpy.types.Collection | None, asset: Sequence[bpy.types.Object]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The visible meshes of `collection` (not the asset's own) as one world mesh, as they render
    (keys and modifiers applied): (O, 3) float32, (G, 3) int32. None when there are none."""
    if collection is None:
        return None
    depsgraph = context.evaluated_depsgraph_get()
    verts, faces, start = [], [], 0
    for obj in collection.all_objects:
        if obj.type != "MESH" or obj in asset or not obj.visible_get():
            continue
        co, tris = _evaluated(obj, depsgraph)
        if len(tris):
            verts.append(_apply(np.array(obj.matrix_world, dtype=np.float64), co).astype(np.float32))
            faces.append(tris + start)
            start += len(co)
    return (np.concatenate(verts), np.concatenate(faces).astype(np.int32)) if verts else None


def _check(objects: Sequence[bpy.types.Object]) -> None:
    if not objects:
        raise InputProblem("select a mesh object to refine")
    meshes: dict[str, str] = {}
    for obj in objects:
        if obj.type != "MESH":
            raise InputProblem(f"'{obj.name}' is not a mesh object")
        if obj.mode != "OBJECT":
            raise InputProblem("switch to Object mode first (Edit mode keeps its own copy of the mesh)")
        if len(obj.data.vertices) < 3 or len(obj.data.polygons) < 1:
            raise InputProblem(f"'{obj.name}' has no faces to refine")
        if obj.data.name in meshes:  # one REFINE key could not hold two fits
            raise InputProblem(f"'{meshes[obj.data.name]}' and '{obj.name}' share one mesh: make them single user first")
        meshes[obj.data.name] = obj.name


def key_mix(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(basis, seen, others, active keys) of the object's relative shape keys (see Part): each
    unmuted key adds value x vertex-group weight x (key - its relative key), as Blender mixes them."""
    mesh = obj.data
    shape_keys = mesh.shape_keys
    if shape_keys is None:
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3)
        return co, co, co, []
    if not shape_keys.use_relative:
        raise InputProblem(f"'{obj.name}' uses absolute shape keys: only relative ones can be refined")
    if obj.show_only_shape_key:
        raise InputProblem(f"'{obj.name}' shows one shape key alone (the pin in Shape Keys): unpin it first")
    blocks = {k.name: read_key(k) for k in shape_keys.key_blocks}
    basis = blocks[shape_keys.reference_key.name]
    seen, own, keys = basis.copy(), np.zeros_like(basis), []
    for k in shape_keys.key_blocks:
        if k == shape_keys.reference_key or k.mute or k.value == 0.0:
            continue
        delta = k.value * (blocks[k.name] - blocks[k.relative_key.name]) * _weights(obj, k.vertex_group)[:, None]
        seen += delta
        if k.name == KEY_NAME:
            own = delta
        else:
            keys.append(f"{k.name} {k.value:.2f}")
    return basis, seen, seen - own, keys


def _weights(obj: bpy.types.Object, group: str) -> np.ndarray:
    """(N,) a vertex group's weights (1 everywhere without a group)."""
    weights = np.ones(len(obj.data.vertices), dtype=np.float32)
    vg = obj.vertex_groups.get(group) if group else None
    if vg is not None:
        weights[:] = 0.0
        for v in obj.data.vertices:
            for g in v.groups:
                if g.group == vg.index:
                    weights[v.index] = g.weight
    return weights


def _modifier_map(
    context: bpy.types.Context, obj: bpy.types.Object, seen: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """(local positions, triangles, to_cage, warning) of what the engine fits: the evaluated mesh
    when the viewport's modifier stack keeps a vertex correspondence (its first N vertices are the
    cage's images), else the cage."""
    stack = [mod.name for mod in obj.modifiers if mod.show_viewport]
    if not stack:
        return seen, _triangles(_mesh(obj)), None, ""
    with _Probe(context, obj) as probe:
        local, tris = probe.evaluate(seen)
        n, step = len(seen), PROBE * max(float(np.ptp(seen, axis=0).max()), 1e-6)
        if len(local) >= n:
            moved = [probe.evaluate(seen + step * np.eye(3, dtype=np.float32)[a])[0] for a in range(3)]
            nudge = np.random.default_rng(0).uniform(-step, step, seen.shape).astype(np.float32)
            response = probe.evaluate(seen + nudge)[0]
            if all(len(p) == len(local) for p in (*moved, response)):
                jac = np.stack([(p[:n] - local[:n]) / step for p in moved], axis=-1)  # (N, 3, 3): d image / d cage
                if _corresponds(jac, nudge, response[:n] - local[:n]):
                    # Least squares: a direction the stack does not pass on (a vertex a Mirror keeps
                    # on its plane) gets no change.
                    return local, tris, np.linalg.pinv(jac, rcond=0.1), ""
    names = ", ".join(stack)
    return (
        seen,
        _triangles(_mesh(obj)),
        None,
        (
            f"'{obj.name}': the modifiers ({names}) keep no vertex correspondence with the mesh: "
            "the mesh itself is refined, the modifiers apply on top"
        ),
    )


def _corresponds(jac: np.ndarray, nudge: np.ndarray, response: np.ndarray) -> bool:
    """Whether each cage vertex's own nudge explains its image's motion: a stack that keeps the
    first N vertices as the cage's images."""
    predicted = np.einsum("nij,nj->ni", jac, nudge)
    cosine = (predicted * response).sum() / max(np.sqrt((predicted**2).sum() * (response**2).sum()), 1e-30)
    return bool(cosine > CORRESPONDENCE)


class _Probe:
    """A temporary copy of the object (its own mesh, no shape keys) whose cage is set and whose
    evaluated mesh is read; removed on exit, whatever happens."""

    def __init__(self, context: bpy.types.Context, obj: bpy.types.Object) -> None:
        self.context, self.source = context, obj

    def __enter__(self) -> _Probe:
        self.mesh = _mesh(self.source).copy()
        self.obj = self.source.copy()
        self.obj.data = self.mesh
        self.obj.shape_key_clear()
        scene = self.context.scene
        assert scene is not None
        scene.collection.objects.link(self.obj)
        return self

    def __exit__(self, *exc: object) -> None:
        bpy.data.objects.remove(self.obj)
        bpy.data.meshes.remove(self.mesh)

    def evaluate(self, cage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, 3) float32 local positions and (T, 3) triangles of the evaluated copy with this cage."""
        self.mesh.vertices.foreach_set("co", np.ascontiguousarray(cage, dtype=np.float32).ravel())
        self.mesh.update()
        depsgraph = self.context.evaluated_depsgraph_get()
        depsgraph.update()
        return _evaluated(self.obj, depsgraph)


def _evaluated(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph) -> tuple[np.ndarray, np.ndarray]:
    """(M, 3) float32 object-local positions and (T, 3) triangles of the object as it renders
    (shape keys and modifiers applied)."""
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
        return co.reshape(-1, 3), _triangles(mesh)
    finally:
        evaluated.to_mesh_clear()


def _mesh(obj: bpy.types.Object) -> bpy.types.Mesh:
    return cast(bpy.types.Mesh, obj.data)


def _triangles(mesh: bpy.types.Mesh) -> np.ndarray:
    """(F, 3) int32 triangles (n-gons triangulated; vertex order kept)."""
    mesh.calc_loop_triangles()
    tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", tris)
    return tris.reshape(-1, 3)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
