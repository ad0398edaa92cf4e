"""The Blender extension in real Blender (the bpy wheel) against a real engine process on the CPU.

One Blender process installs the built zip like a user and runs every scenario
(tests/blender/addon_scenarios.py); the tests below check its findings one by one.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import BLENDER_PYTHON, ROOT

ADDON = ROOT / "refine_addon"


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "build.py", "--out", str(out), "--blender-python", str(BLENDER_PYTHON)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout, proc.stdout  # Blender's own validator ran and accepted it
    return next(out.glob("refine_mesh-*.zip"))


BLENDERS = {"blender-5.0": BLENDER_PYTHON, "blender-4.2": ROOT / ".venv-blender42" / "bin" / "python"}


@pytest.fixture(scope="module", params=list(BLENDERS))
def findings(request, built_zip, tmp_path_factory) -> dict:
    """The scenarios in Blender 5.0 and in 4.2 LTS, the oldest version the extension supports."""
    blender = BLENDERS[request.param]
    assert blender.exists(), f"{blender} missing: run the README's test command"
    work = tmp_path_factory.mktemp("blender")
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(work / "user")}  # never the real user's config
    proc = subprocess.run(
        [str(blender), str(ROOT / "tests" / "blender" / "addon_scenarios.py"), str(built_zip), sys.executable, str(ROOT), str(work)],
        capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FINDINGS ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("FINDINGS ") :])


def test_zip_has_the_manifest_at_its_root_and_the_wire_format_inside(built_zip):
    names = zipfile.ZipFile(built_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "refine_protocol/wire.py" in names and "refine_protocol/client.py" in names
    assert not any("__pycache__" in n or n.startswith("engine/") for n in names)


def test_blender_validator_rejects_a_bad_manifest(tmp_path):
    import build

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("blender_manifest.toml", 'schema_version = "1.0.0"\nid = "x"\n')
        zf.writestr("__init__.py", "")
    assert build.validate(bad, BLENDER_PYTHON) != 0


def test_installs_registers_and_unregisters_cleanly(findings):
    assert findings["installed"] and findings["operators"] and findings["panel"]
    assert findings["unregistered"] and findings["reregistered"]
    assert findings["test_connection"] == ["FINISHED"]


def test_refinement_improves_the_rendered_silhouette_in_a_refine_shape_key(findings):
    # IoU of Cycles renders of the scene against the Cycles-rendered photo.
    assert findings["iou_after"] > findings["iou_before"] + 0.15, findings
    assert findings["keys"] == ["Basis", "REFINE"] and findings["refine_value"] == 1.0
    assert findings["basis_untouched"] and findings["base_untouched"]
    assert findings["operator"] == ["FINISHED"] and findings["operator_keys"] == ["Basis", "REFINE"]


def test_a_fitted_camera_is_a_new_camera_that_renders_like_the_photo(findings):
    """Refine: a hand-placed camera 8-9 degrees off. Cycles renders of the exact mesh through
    the fitted camera match the photo better; the user's camera and the scene camera stay."""
    c = findings["camera"]
    assert c["refine_operator"] == ["FINISHED"] and c["refine_new_camera"] == "Head REFINE camera"
    assert "camera corrected (silhouette IoU" in c["refine_status"], c["refine_status"]
    assert c["user_unchanged"] == [True, True]  # untouched, and still the scene camera
    assert c["background"] and c["background"][0].endswith("head.png")  # the photo behind it
    assert c["use_fitted"] == ["FINISHED"]
    assert c["iou_fitted"] > max(c["iou_user"] + 0.03, 0.93), c


def test_the_fitted_camera_moves_live_during_the_fit_and_a_cancel_removes_it(findings):
    c = findings["camera"]
    poses, statuses, outcome = c["live"]
    assert poses >= 3 and "Fitting the camera" in statuses and outcome == "cancelled", c["live"]
    assert c["live_cancel_clean"]


def test_find_works_without_any_camera_and_renders_at_the_photos_size(findings):
    c = findings["camera"]
    assert c["find_operator"] == ["FINISHED"] and "camera found (silhouette IoU" in c["find_status"], c["find_status"]
    assert c["find_scene_camera"] == "Head REFINE camera"  # the scene had none: it renders through the found one
    assert c["find_resolution"] == [96, 80]  # the photo's as Blender shows it (its EXIF tag ignored), not 1920x1080
    assert c["iou_found"] > 0.9, c


def test_a_plain_photo_gets_a_silhouette_the_artist_can_paint_and_reuse(findings):
    """No alpha: the engine finds the silhouette, the add-on keeps it as a packed image (the panel's
    mask); painting out its left half and refining against it pulls the mesh out of that half."""
    p = findings["photo"]
    assert p["operator"] == ["FINISHED"] and "silhouette found in the photo: 'Plain REFINE mask'" in p["status"], p["status"]
    assert p["mask"] == ["Plain REFINE mask", True, [96, 80]]
    assert p["mask_iou"] > 0.9, p
    source, left_before, left_after = p["masked"]
    assert source == "mask" and left_after < 0.5 * left_before, p["masked"]


def test_find_silhouette_leaves_the_mesh_and_refine_mesh_starts_from_what_it_found(findings):
    f = findings["find"]
    assert f["find"][0] == "FINISHED" and f["find"][1].startswith("Stopped before changing 'Found': asked to find"), f["find"]
    assert "silhouette found in the photo: 'Found REFINE mask'" in f["find"][1]
    assert f["find_mesh_untouched"] and f["find_panel"] == ["MASK", "Found REFINE mask", "OFF"], f
    assert f["refine_from_it"][0] == "FINISHED" and f["refine_from_it"][1].startswith("Refined 'Found'"), f["refine_from_it"]


def test_a_search_in_doubt_stops_and_next_view_shows_each_view_found(findings):
    """A round ball looks the same from every side: the search stops before the mesh moves, the
    fitted camera becomes the panel's camera (Fit Camera: Refine) and Next View cycles it."""
    f = findings["find"]
    assert f["search"][0] == "FINISHED" and "the camera found is in doubt" in f["search"][1], f["search"]
    assert "Next View shows the" in f["search"][1]
    assert f["search_mesh_untouched"]
    linked, fit, views = f["search_panel"]
    assert linked and fit == "REFINE" and views >= 2, f["search_panel"]
    assert f["next_view"] == ["FINISHED", "FINISHED"] and f["poses_differ"], f


def test_camera_from_view_makes_the_scene_camera_look_as_the_viewport_at_the_photos_size(findings):
    f = findings["find"]
    assert f["camera_from_view_polls"] is False
    same_pose, lens, is_scene_camera, resolution, is_panel_camera, fit, background = f["from_view"]
    assert same_pose and lens == 25.0 and is_scene_camera and is_panel_camera and fit == "REFINE", f["from_view"]
    assert resolution == [96, 80] and background.endswith("plain.png"), f["from_view"]


def _scene(findings: dict, name: str) -> dict:
    found = findings["scenes"][name]
    assert "crashed" not in found, found
    return found


def test_selected_parts_are_refined_together_without_growing_into_each_other(findings):
    """Issue 14: a body and a head selected together fit the one silhouette, each in its own
    REFINE key, and end up no deeper in each other than the true shapes are (Cycles renders)."""
    a = _scene(findings, "two_part_asset")
    assert a["operator"][0] == "FINISHED" and "Refined 'Body', 'Head'" in a["operator"][1], a["operator"]
    assert a["keys"] == [True, True]
    assert a["iou_after"] > max(0.9, a["iou_before"] + 0.1), a
    assert a["inside_after"] <= max(a["inside_before"], a["inside_truth"]) + 0.02, a


def test_an_active_shape_key_mix_is_the_start_and_stays_what_was_fitted(findings):
    """With "Smile" at 1, the refinement starts from the shape shown, and with Smile still at 1 the
    object shows exactly the engine's result; the artist's keys are untouched and named."""
    k = _scene(findings, "shape_keys")
    assert k["shown_vs_fitted"] is not None and k["shown_vs_fitted"] < 1e-5, k
    assert k["iou_after"] > k["iou_before"] + 0.1, k
    assert k["smile_kept"] == [1.0, True] and k["keys"] == ["Basis", "Smile", "Frown", "REFINE"]
    assert "started from the shape keys Smile 1.00" in k["summary"] and "Frown" not in k["summary"], k["summary"]


def test_modifiers_are_fitted_through_or_warned_about_in_every_path(findings):
    """Mirror + Subsurf: the evaluated mesh (what renders) is fitted and mapped back to the cage.
    Decimate keeps no vertex correspondence: the cage is refined and the operator and the batch
    both say so."""
    mods = _scene(findings, "modifiers")
    assert mods["operator"][0] == "FINISHED" and "fitted with the modifiers of Half" in mods["operator"][1], mods["operator"]
    assert mods["iou_after"] > max(0.85, mods["iou_before"] + 0.15), mods
    assert mods["decimate"][0] == "FINISHED" and "(Decimate) keep no vertex correspondence" in mods["decimate"][1]
    assert mods["decimate_batch"] == 0 and mods["decimate_batch_says"]


def test_the_photo_is_the_one_the_artist_sees(findings):
    """The visible camera background image wins over a hidden one; one moved in the camera view is
    refused with its scale and offset named; an OpenEXR file is read through Blender; a stale
    file path is named; choosing an Image clears the File."""
    ph = _scene(findings, "photo_sources")
    assert ph["visible"][0] == "FINISHED" and ph["iou_visible"] > 0.8, ph
    assert ph["moved"][0] == "ERROR" and "scale 1.2, offset (0.1, 0)" in ph["moved"][1], ph["moved"]
    assert ph["exr"][0] == "FINISHED" and ph["iou_exr"] > 0.8, ph
    assert ph["stale"][0] == "ERROR" and "gone.png" in ph["stale"][1], ph["stale"]
    assert ph["image_clears_file"]
    flip = _scene(findings, "flipped_background")
    assert flip["operator"][0] == "FINISHED" and flip["iou"] > max(0.85, flip["iou_mirrored"] + 0.1), flip


def test_occluders_hide_pixels_instead_of_being_explained_by_the_mesh(findings):
    """A box in front of the object, inside the photo's silhouette: in the panel's Occluders
    collection its pixels are left out (the mesh does not grow into them, the IoU it reports is
    over the pixels it can explain); without it, the mesh swells into the box."""
    o = _scene(findings, "occluders")
    assert o["operator"][0] == "FINISHED" and o["operator_blind"][0] == "FINISHED", o
    assert o["grown"] < 0.05 and o["grown_blind"] > 0.3, o
    assert o["batch"] == [0, 2]  # the batch's --occluders: a collection, or a clear refusal
    assert o["exported"] == [True, True]  # and --export-manifest writes it for `refine-engine batch`
    before, after = (float(x) for x in o["operator"][1].split("silhouette IoU ")[1].split(",")[0].split(" -> "))
    assert after > before, o["operator"]


def test_image_empties_are_exact_views_and_refine_mesh_fits_them_all(findings):
    """Reference images as image empties (one with a moved origin and a portrait image, one stored
    mirrored and shown through a negative scale): the view mapped from each sees what the picture
    shows, and Refine Mesh with all of them and another camera's background image, and no photo,
    ends closer to the true shape than with the front or the side alone."""
    e = _scene(findings, "image_empties")
    assert "crashed" not in e, e
    for name, (overlap, _) in e["mapped"].items():
        assert overlap > 0.99, (name, overlap)
    assert e["mapped"]["Back"][1] == [True, False] and e["mapped"]["Side"][1] == [False, False]
    assert all(e[label][0] == "FINISHED" for label in ("front", "side", "all")), e
    assert "view 4: silhouette IoU" in e["all"][1], e["all"]  # three empties and the camera's background
    d = e["distance"]
    assert d["all"] < min(d["front"], d["side"]) and d["all"] < 0.6 * d["coarse"], d


def test_a_batch_row_refines_an_asset_and_the_batch_ends_with_a_table(findings):
    b = _scene(findings, "batch_asset")
    assert b["code"] == 0 and b["keys"] == [True, True]
    header, row = b["table"]
    assert header.split()[:4] == ["object", "outcome", "IoU", "before"] and row.split()[:2] == ["Body+Head", "refined"], b


def test_rows_refined_outside_blender_come_back_as_refine_keys(findings):
    """--export-manifest writes the row for `refine-engine batch`; --import-results reads its
    refined mesh back as the REFINE key (world positions equal to the file's)."""
    assert findings["studio_export"] == 0 and findings["studio_batch"][0] == 0, findings["studio_batch"]
    assert findings["studio_import"] == 0 and findings["studio_report"] == 6
    assert findings["studio_key"] < 1e-5, findings["studio_key"]


def test_intermediate_updates_arrive_during_the_run(findings):
    assert findings["updates"] >= 3 and findings["updates_differ"]


def test_cancel_restores_the_mesh_bit_for_bit(findings):
    assert findings["cancel_existing"] == ["cancelled", True]  # an earlier REFINE key restored
    assert findings["cancel_plain"] == ["cancelled", True, True]  # no shape keys left behind


def test_engine_killed_mid_run_leaves_the_mesh_untouched(findings):
    ended, unchanged, no_keys = findings["engine_killed"]
    assert ended.startswith("failed:") and "engine" in ended and unchanged and no_keys


def test_the_interactive_path_tick_by_tick_shows_the_mesh_moving_and_keeps_the_result(findings):
    """The modal operator's logic (a Session ticked per timer event) against a real engine."""
    live = findings["modal_live"]
    assert live["outcome"] == "kept" and live["summary"].startswith("Refined 'Blob': ") and live["progress"] == 1.0
    assert "iterations, silhouette IoU 0." in live["summary"], live["summary"]  # before -> after, as the user sees it
    assert live["changes"] >= 2 and live["ticks"] > live["changes"]  # the mesh moved between ticks, live
    assert live["statuses"] >= 3 and live["keys"] == ["Basis", "REFINE"]


def test_a_batch_never_changes_the_panel_settings(findings):
    assert findings["panel_unchanged"] is True


def test_object_deleted_mid_run_is_reported(findings):
    assert findings["deleted_mid_run"] == "object 'Doomed' was deleted during the refinement"


def test_engine_unreachable_gives_a_clear_message(findings):
    message, unchanged = findings["unreachable"]
    assert "engine unreachable at 127.0.0.1" in message and unchanged
    assert "engine unreachable" in findings["operator_unreachable"]


def test_headless_batch(findings):
    assert findings["batch_ok"] == 0 and findings["batch_saved"]
    assert findings["batch_missing"] == 1 and findings["batch_list"] == 1  # two rows of three fail
    assert findings["batch_relative"] == 0  # a CSV's relative photo path is relative to the CSV
    assert findings["stop_engine"] == ["FINISHED"] and findings["engine_exit"] == 0
    assert findings["installed_engine"] == [["FINISHED"], True]  # launched from the interpreter alone (pip install)


def test_blender_never_imports_torch_or_the_engine(findings):
    assert findings["torch_imported"] == []


def test_addon_imports_only_stdlib_numpy_bpy_and_itself():
    allowed = set(sys.stdlib_module_names) | {"numpy", "bpy", "bpy_extras", "mathutils"}
    for path in [*ADDON.glob("*.py"), *(ADDON / "refine_protocol").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"


def test_addon_type_checks_against_blender_42_stubs():
    mypy = ROOT / ".venv-typecheck" / "bin" / "mypy"
    assert mypy.exists(), "run the README's test command (it installs .venv-typecheck)"
    proc = subprocess.run([str(mypy), "refine_addon"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
