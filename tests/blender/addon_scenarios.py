"""Runs inside real Blender (the bpy wheel's Python): installs the built extension zip the way a
user does and exercises it against a real engine process. Prints one JSON object of findings.

    python addon_scenarios.py ZIP ENGINE_PYTHON ENGINE_ROOT WORKDIR
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import real_scenes  # noqa: E402
from blender_scene import render_rgba  # noqa: E402
from checks import PKG, addon, base_coords, iou, load_alpha, look_at_origin, refine_key, render_alpha, same, snapshot  # noqa: E402

ZIP, ENGINE_PYTHON, ENGINE_ROOT, WORK = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
found: dict = {}


def tag_sideways(png: Path) -> None:
    """Give a PNG the EXIF orientation tag phones write for a portrait (turn 90 degrees clockwise to
    view): photo viewers turn it, Blender does not. Its eXIf chunk (Blender writes one, with the
    resolution) is replaced by one with only that tag; the pixels stay as they are."""
    data = png.read_bytes()
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] != b"eXIf":
            chunks.append(data[at : at + 12 + length])
        at += 12 + length
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + b"\x00" * 4
    exif = struct.pack(">I", len(tiff)) + b"eXIf" + tiff + struct.pack(">I", zlib.crc32(b"eXIf" + tiff))
    png.write_bytes(data[:8] + chunks[0] + exif + b"".join(chunks[1:]))  # after IHDR, before the pixels


def make_scene() -> tuple:
    for o in list(bpy.data.objects):  # (reading factory settings would disable the add-on)
        bpy.data.objects.remove(o)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 4
    scene.cycles.device = "CPU"
    scene.render.film_transparent = True
    scene.render.resolution_x, scene.render.resolution_y = 96, 80
    bpy.ops.object.camera_add(location=(0.6, -5.5, 1.2), rotation=(np.radians(78), 0, np.radians(6)))
    scene.camera = bpy.context.active_object
    # The "photo": a squashed, stretched sphere; the mesh to refine: a plain sphere.
    bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16, radius=1.0)
    target = bpy.context.active_object
    target.name, target.scale = "Target", (1.35, 1.0, 0.75)
    photo = WORK / "photo.png"
    render_alpha(photo)
    target.hide_render = True
    bpy.data.objects.remove(target)
    bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16, radius=1.0, location=(0.05, 0.0, 0.05))
    obj = bpy.context.active_object
    obj.name = "Blob"
    scene.refine.image_path = str(photo)
    scene.refine.preset = "fast"
    scene.refine.iterations = 40
    return scene, obj, photo


def drive_like_the_modal_operator(obj, interrupt=None) -> dict:
    """What the modal operator does, minus the window: a Session ticked every 50 ms (a timer
    event each), the REFINE key read between ticks as the viewport would draw it. interrupt(session)
    is called once the key has changed twice; the session alone cleans up."""
    a = addon()
    session = a.session.Session.prepare(bpy.context, [obj], a.session.Inputs.from_panel(bpy.context.scene))
    session.start(a.engine_link.LINK, a.preferences.engine_config(bpy.context))
    ticks, changes, statuses, last = 0, 0, [], refine_key(obj)
    t0 = time.time()
    while session.tick() and time.time() - t0 < 120:
        ticks += 1
        key = refine_key(obj)
        if key is not None and last is not None and not np.array_equal(key, last):
            changes += 1
            if changes == 2 and interrupt is not None:
                interrupt(session)
        last = key
        statuses.append(session.status)
        time.sleep(0.05)
    return {"outcome": session.outcome, "reason": session.reason, "summary": session.summary(), "ticks": ticks,
            "changes": changes, "progress": session.progress, "statuses": len(set(statuses))}  # fmt: skip


def render_rigid(obj, path: Path) -> np.ndarray:
    """The object's base mesh (its REFINE key muted) through the scene camera."""
    key = obj.data.shape_keys.key_blocks["REFINE"] if obj.data.shape_keys else None
    if key is not None:
        key.mute = True
    alpha = render_alpha(path)
    if key is not None:
        key.mute = False
    return alpha


def camera_scenarios() -> dict:
    """Refine (a hand-placed camera 8-9 degrees off) and Find (no camera at all) on a head whose
    exact shape is known: the fitted camera is a new object with the photo behind it, the user's
    camera is untouched, and Cycles renders the head through it like the photo."""
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 80, 100
    bpy.ops.mesh.primitive_monkey_add(rotation=(0.2, 0.0, 0.5))
    head = bpy.context.active_object
    head.name = "Head"
    true_cam = bpy.data.objects.new("True", bpy.data.cameras.new("True"))
    scene.collection.objects.link(true_cam)
    true_cam.matrix_world = look_at_origin((2.0, -6.0, 2.0))
    scene.camera = true_cam
    photo = WORK / "head.png"
    photo_alpha = render_alpha(photo)
    user = bpy.data.objects.new("Mine", bpy.data.cameras.new("Mine"))
    scene.collection.objects.link(user)
    user.matrix_world = Matrix.Rotation(np.radians(8), 4, "Z") @ Matrix.Rotation(np.radians(4), 4, "X") @ true_cam.matrix_world
    bpy.data.objects.remove(true_cam)
    scene.camera = user
    bpy.context.view_layer.update()  # matrix_world as Blender recomposes it from location/rotation
    mine = [list(r) for r in user.matrix_world] + [user.data.lens, user.data.shift_x, len(user.data.background_images)]
    scene.refine.image_path, scene.refine.camera, scene.refine.preset, scene.refine.iterations = str(photo), None, "fast", 5
    scene.refine.fit_camera = "REFINE"
    bpy.context.view_layer.objects.active = head
    out: dict = {"refine_operator": list(bpy.ops.refine.refine_mesh()), "refine_status": scene.refine.status}
    fitted = scene.refine.fitted_camera
    out["refine_new_camera"] = None if fitted is None else fitted.name
    now = [list(r) for r in user.matrix_world] + [user.data.lens, user.data.shift_x, len(user.data.background_images)]
    out["user_unchanged"] = [now == mine, scene.camera == user]
    out["background"] = None if fitted is None else [bg.image.filepath for bg in fitted.data.background_images if bg.image]
    out["iou_user"] = iou(render_rigid(head, WORK / "mine.png"), photo_alpha)
    out["use_fitted"] = list(bpy.ops.refine.use_fitted_camera())
    out["iou_fitted"] = iou(render_rigid(head, WORK / "fitted.png"), photo_alpha)

    # Live: the new camera appears and moves while the camera is fitted; a cancel removes it.
    head.shape_key_clear()
    scene.refine.camera = user
    before = (set(bpy.data.objects.keys()), len(bpy.data.cameras))
    a = addon()
    session = a.session.Session.prepare(bpy.context, [head], a.session.Inputs.from_panel(scene))
    session.start(a.engine_link.LINK, a.preferences.engine_config(bpy.context))
    poses, statuses, t0 = set(), set(), time.time()
    while session.tick(wait=0.2) and time.time() - t0 < 60:
        new = [o for o in bpy.data.objects if o.name not in before[0]]
        poses |= {tuple(new[0].matrix_world.translation)} if new else set()
        statuses.add(session.status.split(":")[0])
        if len(poses) >= 3:
            session.cancel()
    out["live"] = [len(poses), sorted(statuses), session.outcome]
    out["live_cancel_clean"] = (set(bpy.data.objects.keys()), len(bpy.data.cameras)) == before
    scene.refine.camera = None

    # Find with no camera in the scene, and a render size that is not the photo's; the photo now
    # carries an EXIF tag to turn it, which Blender ignores: the engine must see it as Blender does.
    tag_sideways(photo)
    for o in [o for o in bpy.data.objects if o.type == "CAMERA"]:
        bpy.data.objects.remove(o)
    head.shape_key_clear()
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    scene.refine.fit_camera = "SEARCH"
    out["find_operator"] = list(bpy.ops.refine.refine_mesh())
    out["find_status"] = scene.refine.status
    out["find_scene_camera"] = None if scene.camera is None else scene.camera.name
    out["find_resolution"] = [scene.render.resolution_x, scene.render.resolution_y]
    out["iou_found"] = iou(render_rigid(head, WORK / "found.png"), photo_alpha)
    scene.refine.fit_camera = "OFF"
    return out


def photo_scenarios() -> dict:
    """A plain photo (a shaded render over a backdrop, no alpha): the engine finds the silhouette,
    the add-on keeps it as a packed image, the artist paints into it and refines against it."""
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 80, 100
    bpy.ops.object.camera_add(location=(0.6, -5.5, 1.2), rotation=(np.radians(78), 0, np.radians(6)))
    scene.camera = bpy.context.active_object
    bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16, radius=1.0)
    target = bpy.context.active_object
    target.scale = (1.35, 1.0, 0.75)
    paint = bpy.data.materials.new("Paint")
    paint.use_nodes = True
    paint.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.8, 0.3, 0.1, 1.0)  # orange
    target.data.materials.append(paint)
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.rotation_euler = (0.9, 0.0, 0.4)
    scene.collection.objects.link(sun)
    truth = render_alpha(WORK / "plain_truth.png")
    bpy.ops.mesh.primitive_plane_add(size=40.0, location=(0.0, 3.0, 0.0), rotation=(np.radians(90), 0, 0))  # a backdrop
    backdrop = bpy.context.active_object
    scene.render.film_transparent = False
    photo = WORK / "plain.png"
    render_rgba(photo)  # opaque: its alpha covers everything, as a photo's
    scene.render.film_transparent = True
    for o in (target, backdrop, sun):
        bpy.data.objects.remove(o)
    bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16, radius=1.0, location=(0.05, 0.0, 0.05))
    obj = bpy.context.active_object
    obj.name = "Plain"
    scene.refine.image_path, scene.refine.preset, scene.refine.iterations = str(photo), "fast", 10
    scene.refine.silhouette, scene.refine.mask_image = "ALPHA", None
    a, config = addon(), addon().preferences.engine_config(bpy.context)
    out: dict = {"operator": list(bpy.ops.refine.refine_mesh()), "status": scene.refine.status}
    mask = scene.refine.mask_image
    out["mask"] = None if mask is None else [mask.name, mask.packed_file is not None, list(mask.size)]
    if mask is not None:
        px = np.array(mask.pixels[:], np.float32).reshape(mask.size[1], mask.size[0], 4)[::-1, :, 0]
        out["mask_iou"] = iou(px, truth)
        px[:, : px.shape[1] // 2] = 0.0  # the artist paints out the left half
        painted = np.ones((*px.shape, 4), np.float32)
        painted[..., :3] = px[::-1, :, None]
        mask.pixels.foreach_set(painted.ravel())
    obj.shape_key_clear()
    scene.refine.silhouette = "MASK"
    left = [float((render_alpha(WORK / "plain_start.png")[:, :48] > 0.5).mean())]
    session = a.session.run_blocking(bpy.context, [obj], config, a.session.Inputs.from_panel(scene))
    left.append(float((render_alpha(WORK / "plain_masked.png")[:, :48] > 0.5).mean()))
    out["masked"] = [session.report.silhouette.source, *left]
    scene.refine.silhouette, scene.refine.mask_image = "ALPHA", None
    return out


def find_scenarios() -> dict:
    """On photo_scenarios' plain photo: Find Silhouette leaves the mesh as it is and sets the panel
    to refine from the silhouette found; a search on a mirror-symmetric ball stops before the mesh
    moves and Next View cycles the fitted camera through the views it found; Camera from View's
    work makes the scene camera look as a viewport does, at the photo's size."""
    scene, out = bpy.context.scene, {}
    bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16, radius=1.0, location=(0.05, 0.0, 0.05))
    obj = bpy.context.active_object
    obj.name = "Found"
    settings = scene.refine
    settings.image_path, settings.iterations, settings.silhouette, settings.mask_image = (
        str(WORK / "plain.png"),
        10,
        "ALPHA",
        None,
    )
    before = snapshot(obj)
    out["find"] = [*bpy.ops.refine.refine_mesh(find_only=True), settings.status]
    mask = settings.mask_image
    out["find_mesh_untouched"] = same(snapshot(obj), before) and obj.data.shape_keys is None
    out["find_panel"] = [settings.silhouette, mask.name if mask else None, settings.fit_camera]
    out["refine_from_it"] = [*bpy.ops.refine.refine_mesh(), settings.status]
    obj.shape_key_clear()
    settings.silhouette, settings.mask_image, settings.fit_camera = "ALPHA", None, "SEARCH"
    out["search"] = [*bpy.ops.refine.refine_mesh(), settings.status]
    fitted = settings.fitted_camera
    out["search_mesh_untouched"] = same(snapshot(obj), before) and obj.data.shape_keys is None
    out["search_panel"] = [
        settings.camera == fitted and fitted is not None,
        settings.fit_camera,
        len(addon().session.found_views(scene)),
    ]
    poses = [np.array(fitted.matrix_world)] if fitted else []
    for _ in range(2 if fitted else 0):
        out.setdefault("next_view", []).extend(bpy.ops.refine.next_view())
        poses.append(np.array(fitted.matrix_world))
    out["poses_differ"] = len(poses) == 3 and not np.allclose(poses[0], poses[1]) and not np.allclose(poses[1], poses[2])
    out["camera_from_view_polls"] = bpy.ops.refine.camera_from_view.poll()  # no 3D viewport in background mode
    view = look_at_origin((4.0, -4.0, 2.0)).inverted()
    made = addon().operators.view_camera(bpy.context, view, 50.0, True, 6.0)
    out["from_view"] = [
        bool(np.allclose(np.array(made.matrix_world), np.array(view.inverted()), atol=1e-5)), made.data.lens,
        scene.camera == made, [scene.render.resolution_x, scene.render.resolution_y], settings.camera == made,
        settings.fit_camera, made.data.background_images[0].image.filepath if made.data.background_images else None,
    ]  # fmt: skip
    settings.fit_camera, settings.camera, settings.found_views = "OFF", None, ""
    return out


def main() -> None:
    # Install and enable the zip exactly like Preferences > Get Extensions > Install from Disk.
    result = bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default", enable_on_install=True)
    found["installed"] = result == {"FINISHED"} and PKG in bpy.context.preferences.addons
    operators = (
        "REFINE_OT_refine_mesh",
        "REFINE_OT_cancel",
        "REFINE_OT_use_fitted_camera",
        "REFINE_OT_next_view",
        "REFINE_OT_camera_from_view",
        "REFINE_OT_test_connection",
        "REFINE_OT_stop_engine",
    )
    found["operators"] = all(hasattr(bpy.types, n) for n in operators)
    found["panel"] = hasattr(bpy.types, "VIEW3D_PT_refine")
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.python, prefs.engine_root = ENGINE_PYTHON, ENGINE_ROOT
    a = addon()

    scene, obj, photo = make_scene()
    photo_alpha = load_alpha(photo)
    found["iou_before"] = iou(render_alpha(WORK / "before.png"), photo_alpha)
    found["test_connection"] = list(bpy.ops.refine.test_connection())
    original = snapshot(obj)

    # A refinement with live updates, through the blocking path the operator's execute() uses.
    shown = []
    real_show = a.refinement.Refinement.show
    a.refinement.Refinement.show = lambda self, w: (shown.append(w.copy()), real_show(self, w))[1]
    panel = a.session.Inputs.from_panel(scene)
    report = a.session.run_blocking(bpy.context, [obj], a.preferences.engine_config(bpy.context), panel).report
    a.refinement.Refinement.show = real_show
    found["iterations"] = report.iterations_run
    found["updates"] = len(shown)
    found["updates_differ"] = len(shown) > 1 and not np.array_equal(shown[0], shown[-1])
    keys = obj.data.shape_keys.key_blocks
    found["keys"] = [k.name for k in keys]
    found["refine_value"] = keys["REFINE"].value
    found["basis_untouched"] = bool(np.array_equal(np.array([p.co[:] for p in keys["Basis"].data], np.float32), original["base"]))
    found["base_untouched"] = bool(np.array_equal(base_coords(obj), original["base"]))
    found["iou_after"] = iou(render_alpha(WORK / "after.png"), photo_alpha)

    # The interactive path, tick by tick, to the end: the mesh moves between ticks, the result is kept.
    obj.shape_key_clear()
    live = drive_like_the_modal_operator(obj)
    found["modal_live"] = {**live, "keys": [k.name for k in obj.data.shape_keys.key_blocks] if obj.data.shape_keys else []}
    refined = snapshot(obj)
    # Cancel in the middle with a REFINE key already there: everything as it was, bit for bit.
    run = drive_like_the_modal_operator(obj, lambda session: session.cancel())
    found["cancel_existing"] = [run["outcome"], same(snapshot(obj), refined)]
    # Cancel on a mesh without shape keys: none left behind.
    obj.shape_key_clear()
    plain = snapshot(obj)
    run = drive_like_the_modal_operator(obj, lambda session: session.cancel())
    found["cancel_plain"] = [run["outcome"], same(snapshot(obj), plain), obj.data.shape_keys is None]
    # The engine dies in the middle: the next ticks notice, the mesh is restored.
    run = drive_like_the_modal_operator(obj, lambda session: a.engine_link.LINK.launched.proc.kill())
    found["engine_killed"] = [f"{run['outcome']}: {run['reason']}", same(snapshot(obj), plain), obj.data.shape_keys is None]

    # Engine unreachable (attach to a port nobody listens on).
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    prefs.mode, prefs.port, prefs.token = "ATTACH", dead_port, "x" * 20
    try:
        a.session.run_blocking(bpy.context, [obj], a.preferences.engine_config(bpy.context), panel)
        found["unreachable"] = "no error"
    except a.session.RefineFailed as exc:
        found["unreachable"] = [str(exc), same(snapshot(obj), plain)]
    try:  # an operator's ERROR report raises in a script
        found["operator_unreachable"] = list(bpy.ops.refine.refine_mesh())
    except RuntimeError as exc:
        found["operator_unreachable"] = str(exc)
    prefs.mode = "LAUNCH"

    # The operator (EXEC, as in background mode) relaunches the engine and refines.
    bpy.context.view_layer.objects.active = obj
    found["operator"] = list(bpy.ops.refine.refine_mesh())
    found["operator_keys"] = [k.name for k in obj.data.shape_keys.key_blocks] if obj.data.shape_keys else []

    # Headless batch entry point: success, failure, a CSV list; saving the .blend. The panel's
    # settings are never changed by a batch.
    obj.shape_key_clear()
    panel_before = {n: getattr(scene.refine, n) for n in ("image_path", "camera", "preset", "iterations", "symmetry")}
    out_blend = WORK / "refined.blend"
    found["batch_ok"] = a.batch.main(["--object", "Blob", "--image", str(photo), "--iterations", "10", "--save", str(out_blend)])
    found["batch_saved"] = out_blend.exists()
    found["batch_missing"] = a.batch.main(["--object", "Nope"])
    rows = WORK / "jobs.csv"
    rows.write_text(f"object,image,camera\nBlob,{photo},\nBlob,{WORK / 'missing.png'},\nBlob,{photo},NoSuchCamera\n")
    found["batch_list"] = a.batch.main(["--list", str(rows), "--iterations", "5", "--preset", "naive", "--symmetry", "x"])
    nested = WORK / "lists" / "relative.csv"  # its photo path is relative to the list, not to the shell's folder
    nested.parent.mkdir(exist_ok=True)
    nested.write_text("object,image\nBlob,../photo.png\n")
    found["batch_relative"] = a.batch.main(["--list", str(nested), "--iterations", "2"])
    found["panel_unchanged"] = panel_before == {n: getattr(scene.refine, n) for n in panel_before}

    # Refining outside Blender: export the row, refine it with `python -m engine batch`, import the result.
    obj.shape_key_clear()
    studio = WORK / "studio"
    found["studio_export"] = a.batch.main(
        ["--object", "Blob", "--image", str(photo), "--iterations", "6", "--export-manifest", str(studio)]
    )
    cmd = [ENGINE_PYTHON, "-m", "engine", "batch", str(studio / "manifest.csv"), "--out", str(studio / "results"), "--quiet"]
    proc = subprocess.run(cmd, cwd=ENGINE_ROOT, capture_output=True, text=True, timeout=600)
    found["studio_batch"] = [proc.returncode, proc.stderr[-500:]]
    found["studio_import"] = a.batch.main(["--object", "Blob", "--import-results", str(studio / "results")])
    refined = np.array(
        [ln.split()[1:4] for ln in (studio / "results" / "Blob" / "refined.obj").read_text().splitlines() if ln.startswith("v ")],
        float,
    )
    key = a.scene_io.read_key(obj.data.shape_keys.key_blocks["REFINE"]) if obj.data.shape_keys else np.zeros((0, 3))
    world = key @ np.array(obj.matrix_world)[:3, :3].T + np.array(obj.matrix_world)[:3, 3]
    found["studio_key"] = float(np.abs(world - refined).max()) if world.shape == refined.shape else "shape mismatch"
    found["studio_report"] = json.loads((studio / "results" / "Blob" / "report.json").read_text())["iterations_run"]

    # The object is deleted while its refinement runs: a clear error, nothing else breaks.
    doomed = obj.copy()
    doomed.data = obj.data.copy()
    doomed.name = "Doomed"
    bpy.context.scene.collection.objects.link(doomed)
    seen = []

    def delete_on_second_update(event) -> None:
        if event.kind == a.refine_protocol.messages.PROGRESS and event.vertices is not None:
            seen.append(1)
            if len(seen) == 2:
                bpy.data.objects.remove(bpy.data.objects["Doomed"])

    try:
        a.session.run_blocking(bpy.context, [doomed], a.preferences.engine_config(bpy.context), panel, delete_on_second_update)
        found["deleted_mid_run"] = "no error"
    except a.session.RefineFailed as exc:
        found["deleted_mid_run"] = str(exc)

    found["camera"] = camera_scenarios()
    found["photo"] = photo_scenarios()
    found["find"] = find_scenarios()
    found["scenes"] = real_scenes.run(WORK)

    # Stop the engine; unregister and register again.
    proc = a.engine_link.LINK.launched.proc
    found["stop_engine"] = list(bpy.ops.refine.stop_engine())
    found["engine_exit"] = proc.poll()
    # An engine installed in its interpreter (pip install): no engine folder needed.
    prefs.engine_root = ""
    found["installed_engine"] = [list(bpy.ops.refine.test_connection()), a.engine_link.LINK.launched is not None]
    bpy.ops.refine.stop_engine()
    prefs.engine_root = ENGINE_ROOT
    bpy.ops.preferences.addon_disable(module=PKG)
    found["unregistered"] = not hasattr(bpy.types.Scene, "refine") and not any(
        hasattr(bpy.types, n) for n in (*operators, "VIEW3D_PT_refine")
    )
    bpy.ops.preferences.addon_enable(module=PKG)
    found["reregistered"] = hasattr(bpy.types.Scene, "refine")
    # The add-on never pulled torch or the engine's compute code into Blender.
    found["torch_imported"] = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "engine", "pytorch3d"))
    print("FINDINGS " + json.dumps(found))


if __name__ == "__main__":
    main()
