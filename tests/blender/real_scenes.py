"""Scenes as artists build them (issue 14), inside real Blender with a real engine: a two-part
asset, an active shape key, Mirror + Subsurf and Decimate modifiers, camera background images
(hidden, visible, moved), an OpenEXR photo, a batch row refining an asset. Each returns findings;
tests/test_addon.py checks them."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import bmesh
import bpy
import numpy as np
from checks import addon, iou, look_at_origin, render_alpha
from mathutils import Matrix
from mathutils.bvhtree import BVHTree


def _fresh() -> bpy.types.Scene:
    """An empty scene with a camera looking at the origin (96 x 80)."""
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 80, 100
    camera = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(camera)
    camera.matrix_world = look_at_origin((1.0, -6.0, 1.5))
    scene.camera = camera
    settings = scene.refine
    settings.image, settings.image_path, settings.camera, settings.silhouette = None, "", None, "ALPHA"
    settings.preset, settings.iterations, settings.fit_camera = "fast", 25, "OFF"  # 96 x 80: a second or two each
    return scene


def _sphere(name: str, location=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0), radius: float = 1.0) -> bpy.types.Object:
    bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16, radius=radius, location=location)
    obj = bpy.context.active_object
    obj.name, obj.scale = name, scale
    return obj


def _photo(path: Path, *truth: bpy.types.Object) -> np.ndarray:
    """Render the true shapes (the photo's alpha), then remove them."""
    alpha = render_alpha(path)
    for obj in truth:
        bpy.data.objects.remove(obj)
    return alpha


def _select(*objects: bpy.types.Object) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(o in objects)
    bpy.context.view_layer.objects.active = objects[0]


def _world_mesh(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """What renders: the evaluated mesh (keys and modifiers applied) in world space, triangles."""
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    co = np.array([v.co[:] for v in mesh.vertices], np.float64)
    mesh.calc_loop_triangles()
    tris = np.array([t.vertices[:] for t in mesh.loop_triangles], np.int64)
    evaluated.to_mesh_clear()
    m = np.array(obj.matrix_world)
    return co @ m[:3, :3].T + m[:3, 3], tris


def _inside_share(points: np.ndarray, other: bpy.types.Object) -> float:
    """The share of `points` (world) inside the closed mesh `other` (by the nearest face's side)."""
    verts, tris = _world_mesh(other)
    tree = BVHTree.FromPolygons([tuple(v) for v in verts], [tuple(t) for t in tris])
    inside = 0
    for p in points:
        loc, normal, _, _ = tree.find_nearest(p)
        inside += loc is not None and float(np.dot(np.asarray(p) - np.asarray(loc), np.asarray(normal))) < 0
    return inside / max(len(points), 1)


def _interpenetration(a: bpy.types.Object, b: bpy.types.Object) -> float:
    return _inside_share(_world_mesh(a)[0], b) + _inside_share(_world_mesh(b)[0], a)


def _operator(scene: bpy.types.Scene) -> list:
    """Refine Mesh as a script runs it (EXEC); an ERROR report raises, so keep its message."""
    try:
        return [*bpy.ops.refine.refine_mesh(), scene.refine.status]
    except RuntimeError as exc:
        return ["ERROR", str(exc).strip()]


def two_part_asset(work: Path) -> dict:
    """A body and a head selected together: both refined against the one silhouette, each in its
    own REFINE key, without growing into each other."""
    scene = _fresh()
    truth = _sphere("TBody", scale=(1.3, 1.0, 0.8)), _sphere("THead", (0.4, 0.0, 1.25), radius=0.5)
    inside_truth = _interpenetration(*truth)
    photo = _photo(work / "asset.png", *truth)
    body, head = _sphere("Body"), _sphere("Head", (0.3, 0.0, 1.4), radius=0.45)
    scene.refine.image_path = str(work / "asset.png")
    out: dict = {"iou_before": iou(render_alpha(work / "asset_before.png"), photo), "inside_truth": inside_truth}
    out["inside_before"] = _interpenetration(body, head)
    _select(body, head)
    out["operator"] = _operator(scene)
    out["keys"] = [bool(o.data.shape_keys and o.data.shape_keys.key_blocks.get("REFINE")) for o in (body, head)]
    out["iou_after"] = iou(render_alpha(work / "asset_after.png"), photo)
    out["inside_after"] = _interpenetration(body, head)
    return out


def shape_keys(work: Path) -> dict:
    """An artist's key "Smile" at 1 (and "Frown" at 0): the refinement starts from what is shown,
    and with Smile still at 1 the object shows exactly what the engine fitted."""
    scene = _fresh()
    photo = _photo(work / "keys.png", _sphere("Truth", scale=(1.3, 1.0, 0.75)))
    obj = _sphere("Face")
    obj.shape_key_add(name="Basis")
    smile = obj.shape_key_add(name="Smile", from_mix=False)
    co = np.array([p.co[:] for p in smile.data], np.float32)
    smile.data.foreach_set("co", (co * np.array([1.0, 1.0, 1.3], np.float32)).ravel())  # tall: the fit must undo it
    smile.value = 1.0
    obj.shape_key_add(name="Frown", from_mix=False).value = 0.0
    smile_before = np.array([p.co[:] for p in smile.data], np.float32)
    scene.refine.image_path, scene.refine.iterations = str(work / "keys.png"), 60  # a long way from tall to wide
    out: dict = {"iou_before": iou(render_alpha(work / "keys_before.png"), photo)}
    a, fitted = addon(), []
    session = a.session.run_blocking(
        bpy.context,
        [obj],
        a.preferences.engine_config(bpy.context),
        a.session.Inputs.from_panel(scene),
        lambda e: fitted.append(e.vertices) if e.kind == "result" else None,
    )
    out["summary"] = session.summary()
    out["iou_after"] = iou(render_alpha(work / "keys_after.png"), photo)
    shown = _world_mesh(obj)[0]
    out["shown_vs_fitted"] = float(np.abs(shown - fitted[0]).max()) if fitted else None
    keys = obj.data.shape_keys.key_blocks
    out["smile_kept"] = [
        keys["Smile"].value,
        bool(np.array_equal(np.array([p.co[:] for p in smile.data], np.float32), smile_before)),
    ]
    out["keys"] = [k.name for k in keys]
    return out


def modifiers(work: Path) -> dict:
    """Half a model with Mirror + Subsurf: the evaluated mesh is fitted and mapped back to the
    cage. A Decimate modifier keeps no correspondence: the cage is refined, with a warning in the
    operator's message and in the batch's output."""
    scene = _fresh()
    photo = _photo(work / "mods.png", _sphere("Truth", scale=(1.35, 1.0, 0.7)))
    obj = _sphere("Half")
    mesh = obj.data
    bm = bmesh.new()
    bm.from_mesh(mesh)
    bmesh.ops.delete(bm, geom=[v for v in bm.verts if v.co.x < -1e-4], context="VERTS")
    bm.to_mesh(mesh)
    bm.free()
    obj.modifiers.new("Mirror", "MIRROR")
    obj.modifiers.new("Subsurf", "SUBSURF").levels = 1
    scene.refine.image_path, scene.refine.iterations = str(work / "mods.png"), 40
    out: dict = {"iou_before": iou(render_alpha(work / "mods_before.png"), photo)}
    _select(obj)
    out["operator"] = _operator(scene)
    out["iou_after"] = iou(render_alpha(work / "mods_after.png"), photo)
    obj.shape_key_clear()
    obj.modifiers.clear()
    obj.modifiers.new("Decimate", "DECIMATE").ratio = 0.5
    out["decimate"] = _operator(scene)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        out["decimate_batch"] = addon().batch.main(["--object", "Half", "--iterations", "3"])
    out["decimate_batch_says"] = "keep no vertex correspondence" in output.getvalue()
    return out


def photo_sources(work: Path) -> dict:
    """Which photo is used: the camera's visible background image over a hidden one; one moved in
    the camera view is refused; an OpenEXR photo is read through Blender; a stale file path is
    named; choosing an Image clears the File."""
    scene = _fresh()
    photo = _photo(work / "bg.png", _sphere("Truth", scale=(1.3, 1.0, 0.75)))
    scene.render.image_settings.file_format = "OPEN_EXR"
    truth = _sphere("Truth", scale=(1.3, 1.0, 0.75))
    _photo(work / "bg.exr", truth)
    scene.render.image_settings.file_format = "PNG"
    obj = _sphere("Ball")
    blank = bpy.data.images.new("Blank", 96, 80, alpha=True)  # opaque black: no silhouette at all
    blank.pack()
    cam = scene.camera.data
    cam.show_background_images = True
    hidden, visible = cam.background_images.new(), cam.background_images.new()
    hidden.image, hidden.show_background_image = blank, False
    visible.image = bpy.data.images.load(str(work / "bg.png"))
    _select(obj)
    out: dict = {"visible": _operator(scene), "iou_visible": iou(render_alpha(work / "bg_after.png"), photo)}
    obj.shape_key_clear()
    visible.scale, visible.offset = 1.2, (0.1, 0.0)
    out["moved"] = _operator(scene)
    visible.scale, visible.offset = 1.0, (0.0, 0.0)
    scene.refine.image_path = str(work / "bg.exr")
    out["exr"] = _operator(scene)
    out["iou_exr"] = iou(render_alpha(work / "exr_after.png"), photo)
    obj.shape_key_clear()
    scene.refine.image_path = str(work / "gone.png")
    out["stale"] = _operator(scene)
    scene.refine.image = visible.image
    out["image_clears_file"] = scene.refine.image_path == ""
    scene.refine.image = None
    return out


def flipped_background(work: Path) -> dict:
    """A camera background image shown flipped (the photo stored mirrored, an image only in
    memory): the engine gets the picture the artist sees through the camera."""
    scene = _fresh()
    photo = _photo(work / "flip.png", _sphere("Truth", (0.9, 0.0, 0.3), (1.2, 1.0, 0.6), radius=0.8))
    mirrored = bpy.data.images.new("Mirrored", photo.shape[1], photo.shape[0], alpha=True)
    rgba = np.ones((*photo.shape, 4), np.float32)
    rgba[..., 3] = photo[:, ::-1]  # stored left-right mirrored
    mirrored.pixels.foreach_set(rgba[::-1].ravel())
    cam = scene.camera.data
    cam.show_background_images = True
    bg = cam.background_images.new()
    bg.image, bg.use_flip_x = mirrored, True
    obj = _sphere("Ball", (0.7, 0.0, 0.2), radius=0.8)
    _select(obj)
    scene.refine.iterations = 60
    out = {"operator": _operator(scene)}
    after = render_alpha(work / "flip_after.png")
    return {**out, "iou": iou(after, photo), "iou_mirrored": iou(after, photo[:, ::-1])}


def occluders(work: Path) -> dict:
    """A box stands in front of the object and the photo's alpha covers both. With the box in the
    panel's Occluders collection its pixels are left out; without, the mesh reaches for them."""
    scene = _fresh()
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(1.3, -2.4, 0.0), scale=(1.4, 0.4, 3.0))
    box = bpy.context.active_object
    box.name = "Stand"
    truth = _sphere("Truth", scale=(1.3, 1.0, 0.75))
    render_alpha(work / "occluded.png")  # the photo: the object and the box
    box.hide_render = True
    true_alone = render_alpha(work / "occluded_truth.png") > 0.5
    box.hide_render, truth.hide_render = False, True
    beyond = (render_alpha(work / "occluder.png") > 0.5) & ~true_alone  # the box's pixels the object does not cover
    bpy.data.objects.remove(truth)
    ball = _sphere("Ball")
    stand = bpy.data.collections.new("Occluders")
    stand.objects.link(box)
    scene.refine.image_path = str(work / "occluded.png")
    out: dict = {}
    for told in (True, False):
        scene.refine.occluders = stand if told else None
        ball.shape_key_clear()
        _select(ball)
        out["operator" if told else "operator_blind"] = _operator(scene)
        box.hide_render = True
        alone = render_alpha(work / f"occluded_{told}.png") > 0.5
        box.hide_render = False
        out["grown" if told else "grown_blind"] = float((alone & beyond).sum() / max(beyond.sum(), 1))
    scene.refine.occluders = None
    ball.shape_key_clear()
    batch = addon().batch.main
    out["batch"] = [batch(["--object", "Ball", "--occluders", "Occluders"]), batch(["--object", "Ball", "--occluders", "Nope"])]
    studio = work / "occluded_studio"  # refining outside Blender takes the occluder along
    batch(["--object", "Ball", "--occluders", "Occluders", "--export-manifest", str(studio)])
    out["exported"] = [(studio / "Ball.occluder.obj").is_file(), "Ball.occluder.obj" in (studio / "manifest.csv").read_text()]
    return out


def batch_asset(work: Path) -> dict:
    """A batch row "Body+Head" refines the two as one asset; the batch ends with a table."""
    scene = _fresh()
    truth = _sphere("TBody", scale=(1.3, 1.0, 0.8)), _sphere("THead", (0.4, 0.0, 1.25), radius=0.5)
    _photo(work / "asset.png", *truth)
    _sphere("Body"), _sphere("Head", (0.3, 0.0, 1.4), radius=0.45)
    scene.refine.image_path = ""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = addon().batch.main(["--object", "Body+Head", "--image", str(work / "asset.png"), "--iterations", "5"])
    lines = output.getvalue().splitlines()
    table = [ln for ln in lines if ln.startswith(("object ", "Body+Head "))]
    return {"code": code, "table": table, "keys": [bool(bpy.data.objects[n].data.shape_keys) for n in ("Body", "Head")]}


def _ortho_camera(name: str, location: tuple, scale: float = 4.0) -> bpy.types.Object:
    camera = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    bpy.context.scene.collection.objects.link(camera)
    camera.matrix_world = look_at_origin(location)
    camera.data.type, camera.data.ortho_scale = "ORTHO", scale
    camera.data.clip_start, camera.data.clip_end = 0.1, 100.0
    return camera


def _render_through(camera: bpy.types.Object, size: tuple[int, int], path: Path) -> np.ndarray:
    scene = bpy.context.scene
    scene.camera = camera
    scene.render.resolution_x, scene.render.resolution_y = size
    return render_alpha(path)


def _image_empty(name: str, alpha: np.ndarray, camera: bpy.types.Object, offset: tuple, mirror: bool) -> bpy.types.Object:
    """An image empty showing `alpha` (stored left-right mirrored and shown through a negative X
    scale if `mirror`) where the artist would place it for `camera`'s view: in its image plane,
    its longer side the camera's ortho scale, its origin moved to match `offset`."""
    h, w = alpha.shape
    image = bpy.data.images.new(name, w, h, alpha=True)
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., 3] = alpha[:, ::-1] if mirror else alpha
    image.pixels.foreach_set(rgba[::-1].ravel())
    empty = bpy.data.objects.new(name, None)
    bpy.context.scene.collection.objects.link(empty)
    empty.empty_display_type, empty.data = "IMAGE", image
    empty.empty_display_size, empty.empty_image_offset = camera.data.ortho_scale, offset
    m = camera.matrix_world.copy()
    half_x, half_y = (m.col[i].to_3d() * (camera.data.ortho_scale * dim / max(w, h) / 2) for i, dim in ((0, w), (1, h)))
    if mirror:
        half_x = -half_x
    centre = m.translation - 8.0 * m.col[2].to_3d()  # the picture's centre on the camera's axis, in front of it
    empty.matrix_world = m
    empty.location = centre - half_x * (2 * offset[0] + 1) - half_y * (2 * offset[1] + 1)
    empty.scale = (-1.0 if mirror else 1.0, 1.0, 1.0)
    return empty


def _distance_to(obj: bpy.types.Object, truth: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean distance of the refined (evaluated) mesh's vertices to the true surface."""
    verts, tris = truth
    tree = BVHTree.FromPolygons([tuple(v) for v in verts], [tuple(t) for t in tris])
    points = _world_mesh(obj)[0]
    return float(np.mean([(tree.find_nearest(p)[3] or 0.0) for p in points]))


def image_empties(work: Path) -> dict:
    """Reference images as image empties (front; side, portrait, its origin moved; back, stored
    mirrored and shown through a negative scale) and another camera with a background image, no
    photo: each empty maps to the view that sees the picture (a render through it matches the
    picture), and Refine Mesh fits them all."""
    scene = _fresh()
    truth_objs = _sphere("TBody", scale=(1.3, 0.8, 0.75)), _sphere("THead", (0.9, -0.3, 0.7), radius=0.45)
    truth = [_world_mesh(o) for o in truth_objs]
    verts = np.concatenate([truth[0][0], truth[1][0]])
    truth_mesh = verts, np.concatenate([truth[0][1], truth[1][1] + len(truth[0][0])])
    specs = (("Front", (0.3, -9.0, 0.4), (96, 72), (-0.5, -0.5), False), ("Side", (9.0, 0.2, 0.3), (64, 96), (-0.2, -0.7), False),
             ("Back", (0.4, 9.0, 3.0), (88, 88), (-0.5, -0.5), True))  # fmt: skip
    pictures, empties = {}, {}
    for name, location, size, offset, mirror in specs:
        camera = _ortho_camera(f"{name}Cam", location)
        pictures[name] = _render_through(camera, size, work / f"empty_{name}.png")
        empties[name] = _image_empty(name, pictures[name], camera, offset, mirror)
    out: dict = {"mapped": {}}
    for name, empty in empties.items():
        view = addon().reference_views.view_of(empty, verts)
        cam = bpy.data.objects.new(f"{name}View", bpy.data.cameras.new(f"{name}View"))
        scene.collection.objects.link(cam)
        cam.matrix_world = Matrix(view.camera["matrix_world"])
        for key in ("type", "ortho_scale", "clip_start", "clip_end"):
            setattr(cam.data, key, view.camera[key])
        seen = _render_through(cam, (view.camera["resolution_x"], view.camera["resolution_y"]), work / f"view_{name}.png")
        picture = pictures[name]  # what the artist sees: the stored pixels mirrored back by the negative scale
        out["mapped"][name] = [iou(seen, picture), list(view.flip)]
        bpy.data.objects.remove(cam)
    for o in [o for o in scene.objects if o.type == "CAMERA" and o.name != "Cam"]:
        bpy.data.objects.remove(o)
    # A fourth view: another camera (perspective, from above) showing a render of the truth behind it.
    above = bpy.data.objects.new("AboveCam", bpy.data.cameras.new("AboveCam"))
    scene.collection.objects.link(above)
    above.matrix_world = look_at_origin((-4.0, -3.0, 5.0))
    _render_through(above, (96, 80), work / "above.png")
    background = above.data.background_images.new()
    background.image, above.data.show_background_images = bpy.data.images.load(str(work / "above.png")), True
    scene.camera = bpy.data.objects["Cam"]  # the main camera, with no photo: the others are the views
    for o in truth_objs:
        bpy.data.objects.remove(o)
    out["distance"] = {}
    ball = _sphere("Ball", scale=(1.1, 1.0, 0.9))
    for label, shown in (("front", ("Front",)), ("side", ("Side",)), ("all", ("Front", "Side", "Back", "AboveCam"))):
        for obj in (*empties.values(), above):
            obj.hide_set(obj.name not in shown)
        ball.shape_key_clear()
        _select(ball)
        scene.refine.iterations = 60
        out[label] = _operator(scene)
        out["distance"][label] = _distance_to(ball, truth_mesh)
    ball.shape_key_clear()
    out["distance"]["coarse"] = _distance_to(ball, truth_mesh)
    for obj in (*empties.values(), above):
        bpy.data.objects.remove(obj)
    scene.refine.iterations = 25
    return out


def run(work: Path) -> dict:
    found = {}
    scenarios = (two_part_asset, shape_keys, modifiers, photo_sources, flipped_background, occluders, batch_asset, image_empties)
    for scenario in scenarios:
        try:
            found[scenario.__name__] = scenario(work)
        except Exception as exc:  # one broken scenario must not hide the others' findings
            found[scenario.__name__] = {"crashed": f"{type(exc).__name__}: {exc}"}
    scene = bpy.context.scene
    scene.refine.image, scene.refine.image_path, scene.refine.occluders = None, "", None
    return found
