"""Photo-like Cycles renders for bench.photos, run inside Blender (the bpy wheel's interpreter):

    .venv-blender/bin/python bench/photo_render.py JOBS.json

Each job: {"mesh": OBJ, "camera": the engine's camera fields, "style": "product" | "cluttered",
"object_rgb", "backdrop_rgb": [[r, g, b], [r, g, b]], "out": JPEG}. The object, diffuse, in front
of a backdrop that faces the camera and touches the object's far side (so its shadow meets the
object), lit by a soft sun from the upper left; no alpha. "product": a plain light backdrop;
"cluttered": a coloured, textured one (waves and noise between the two colours).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy
from mathutils import Vector

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from blender_scene import make_camera  # noqa: E402

SAMPLES = 24


def _material(name: str, rgb: list[float]) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.6
    return mat


def _textured(mat: bpy.types.Material, colours: list[list[float]]) -> None:
    """Waves distorted by noise, mapped between the two colours: a busy, coloured background
    (object coordinates: about one wave per object size)."""
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    coords = nodes.new("ShaderNodeTexCoord")
    wave = nodes.new("ShaderNodeTexWave")
    wave.inputs["Scale"].default_value = 0.35
    wave.inputs["Distortion"].default_value = 8.0
    wave.inputs["Detail"].default_value = 4.0
    links.new(coords.outputs["Object"], wave.inputs["Vector"])
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*colours[0], 1.0)
    ramp.color_ramp.elements[1].color = (*colours[1], 1.0)
    links.new(wave.outputs["Fac"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])


def render(job: dict) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.wm.obj_import(filepath=job["mesh"], forward_axis="Y", up_axis="Z")
    obj = bpy.context.selected_objects[0]
    obj.data.materials.append(_material("Object", job["object_rgb"]))
    cam = make_camera(scene, job["camera"])
    rot = cam.matrix_world.to_3x3()
    forward, right, up = rot @ Vector((0, 0, -1)), rot @ Vector((1, 0, 0)), rot @ Vector((0, 1, 0))
    origin = cam.matrix_world.translation
    depth = max((obj.matrix_world @ v.co - origin).dot(forward) for v in obj.data.vertices)

    bpy.ops.mesh.primitive_plane_add(size=80.0, location=origin + forward * depth * 1.002)
    backdrop = bpy.context.active_object
    backdrop.rotation_euler = rot.to_euler()  # faces the camera
    mat = _material("Backdrop", job["backdrop_rgb"][0])
    if job["style"] == "cluttered":
        _textured(mat, job["backdrop_rgb"])
    backdrop.data.materials.append(mat)

    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = 3.0
    sun.data.angle = 0.35  # radians: soft shadows
    sun.rotation_euler = (forward + 0.45 * right - 0.55 * up).normalized().to_track_quat("-Z", "Y").to_euler()
    scene.collection.objects.link(sun)
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.25, 0.25, 0.25)

    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = SAMPLES
    scene.cycles.seed = 0
    scene.view_settings.view_transform = "Standard"
    scene.render.resolution_percentage = 200  # photos at twice the camera's size
    scene.render.film_transparent = False
    scene.render.image_settings.file_format = "JPEG"
    scene.render.image_settings.quality = 92
    scene.render.filepath = job["out"]
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    for job in json.loads(Path(sys.argv[1]).read_text()):
        render(job)
