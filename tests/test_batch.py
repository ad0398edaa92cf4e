"""`refine-engine batch`: a manifest of rows refined by a local pool of worker processes (and by
Ray, tests/test_batch_ray.py): the outputs equal the CLI's for the same seed, a rerun skips rows
that are up to date, a bad row fails alone and the exit code says so."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.batch import read_manifest
from engine.io import load_mesh

from .conftest import EXAMPLE, ROOT, run_cli

FAST = ("--preset", "fast")


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    """Two good rows (one with a relative path, one per-row option) and two bad ones."""
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    rows = [
        "name,mesh,image,camera,iterations,seed",
        f"cow,{data / 'coarse.obj'},{data / 'photo.png'},{data / 'camera.json'},8,3",
        "cow,data/coarse.obj,data/photo.png,data/camera.json,6,3",  # same name: gets a suffix
        "broken,data/missing.obj,data/photo.png,data/camera.json,,",
        "nocam,data/coarse.obj,data/photo.png,,,",
    ]
    path = tmp_path / "jobs.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_reading_a_manifest_names_each_rows_problem(manifest):
    rows = read_manifest(manifest)
    assert [r.name for r in rows] == ["cow", "cow-2", "broken", "nocam"]
    assert rows[1].files["mesh"] == manifest.parent / "data" / "coarse.obj" and rows[1].options == {"iterations": 6, "seed": 3}
    assert "file not found: mesh" in rows[2].problem and "a camera is required" in rows[3].problem
    assert not rows[0].problem and not rows[1].problem


def test_a_json_lines_manifest_reads_like_a_csv(manifest):
    lines = [
        json.dumps(
            {"name": "a", "mesh": "data/coarse.obj", "image": "data/photo.png", "fit_camera": "search", "find_silhouette": True}
            | {"exif_orientation": False}
        ),
        "not json",
        json.dumps({"mesh": "data/coarse.obj", "image": "data/photo.png", "camera": "data/camera.json", "seed": 1.5}),
        json.dumps({"mesh": "data/coarse.obj", "image": "data/photo.png", "camera": "data/camera.json", "lens": 50}),
    ]
    path = manifest.parent / "jobs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rows = read_manifest(path)
    assert [r.name for r in rows] == ["a", "row-2", "coarse", "coarse-4"]
    assert rows[0].options == {"fit_camera": "search", "find_silhouette": True, "exif_orientation": False} and not rows[0].problem
    assert "line 2 is not JSON" in rows[1].problem
    assert "seed: 1.5 is not a valid int" in rows[2].problem
    assert "unknown column(s) lens" in rows[3].problem


def test_a_batch_refines_like_the_cli_skips_what_is_done_and_fails_bad_rows_alone(manifest, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("batch", str(manifest), "--out", str(out), "--quiet", "--workers", "1", *FAST)
    assert proc.returncode == 1, proc.stderr  # two rows failed
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("row,name,status,seconds,iou_before,iou_after")
    assert [line.split(",")[2] for line in summary[1:]] == ["done", "done", "failed", "failed"]
    report = json.loads((out / "cow" / "report.json").read_text())
    assert report["iterations_run"] == 8 and report["settings"]["seed"] == 3
    before, after = (float(x) for x in summary[1].split(",")[4:6])
    assert after > before

    cli_out = tmp_path / "cli.obj"
    cli = run_cli("refine", "--mesh", str(EXAMPLE / "coarse.obj"), "--image", str(EXAMPLE / "photo.png"), "--camera",
                  str(EXAMPLE / "camera.json"), "--out", str(cli_out), "--iterations", "8", "--seed", "3", "--quiet", *FAST)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    np.testing.assert_array_equal(load_mesh(out / "cow" / "refined.obj")[0], load_mesh(cli_out)[0])

    again = run_cli("batch", str(manifest), "--out", str(out), "--quiet", *FAST)
    assert [line.split(",")[2] for line in (out / "summary.csv").read_text().splitlines()[1:]] == [
        "skipped",
        "skipped",
        "failed",
        "failed",
    ]
    assert again.returncode == 1 and "FAILED" in again.stderr
    stamp = (out / "cow" / "done.json").stat().st_mtime_ns
    forced = run_cli("batch", str(manifest), "--out", str(out), "--quiet", "--force", *FAST)
    assert forced.returncode == 1 and (out / "cow" / "done.json").stat().st_mtime_ns != stamp
    assert (out / "cow" / "refined.obj").read_bytes() == cli_out.read_bytes()


def test_a_row_that_stops_before_the_mesh_changes_is_said_and_writes_no_mesh(tmp_path):
    """A `find_only` row finds the silhouette and stops: status "stopped", its report and no
    refined mesh; the batch's exit status is 3 (none failed, one stopped)."""
    row = f"{EXAMPLE / 'coarse.obj'},{EXAMPLE / 'photo.jpg'},{EXAMPLE / 'camera.json'},3"
    (tmp_path / "jobs.csv").write_text(f"name,mesh,image,camera,iterations,find_only\nfound,{row},true\nrefined,{row},\n")
    out = tmp_path / "out"
    proc = run_cli("batch", str(tmp_path / "jobs.csv"), "--out", str(out), "--quiet", "--workers", "1", *FAST)
    assert proc.returncode == 3, proc.stderr
    assert "STOPPED: asked to find the camera and the silhouette only" in proc.stderr
    assert [line.split(",")[2] for line in (out / "summary.csv").read_text().splitlines()[1:]] == ["stopped", "done"]
    assert not (out / "found" / "refined.obj").exists() and (out / "refined" / "refined.obj").is_file()
    assert json.loads((out / "found" / "report.json").read_text())["stopped"].startswith("asked to find")


def test_a_row_may_name_an_occluder(tmp_path):
    """The `occluder` column: a box halfway between the camera and the cow hides some of the
    photo's pixels, which the row's reported IoU leaves out."""
    from engine.io import load_camera

    verts = load_mesh(EXAMPLE / "coarse.obj")[0]
    centre, eye = verts.mean(0), np.asarray(load_camera(EXAMPLE / "camera.json").location)
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    box = centre + 0.5 * (eye - centre) + corners * 0.1 * np.ptp(verts, axis=0).max()
    faces = [(1, 2, 4), (1, 4, 3), (5, 7, 8), (5, 8, 6), (1, 5, 6), (1, 6, 2), (3, 4, 8), (3, 8, 7), (1, 3, 7), (1, 7, 5), (2, 6, 8), (2, 8, 4)]  # fmt: skip
    lines = [f"v {x} {y} {z}" for x, y, z in box] + [f"f {a} {b} {c}" for a, b, c in faces]
    (tmp_path / "box.obj").write_text("\n".join(lines) + "\n")
    row = f"{EXAMPLE / 'coarse.obj'},{EXAMPLE / 'photo.png'},{EXAMPLE / 'camera.json'},3"
    (tmp_path / "jobs.csv").write_text(f"name,mesh,image,camera,iterations,occluder\nplain,{row},\nhidden,{row},box.obj\n")
    out = tmp_path / "out"
    proc = run_cli("batch", str(tmp_path / "jobs.csv"), "--out", str(out), "--quiet", "--workers", "1", *FAST)
    assert proc.returncode == 0, proc.stderr
    plain, hidden = ((float(x) for x in line.split(",")[4:6]) for line in (out / "summary.csv").read_text().splitlines()[1:])
    assert next(plain) != next(hidden)  # the IoU before, over different pixels


def test_ctrl_c_keeps_the_finished_rows_and_a_rerun_continues(tmp_path):
    """SIGINT once the first row is written: exit 130, whole rows only; the rerun skips them."""
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    rows = ["name,mesh,image,camera,iterations,seed"] + [
        f"r{i},data/coarse.obj,data/photo.png,data/camera.json,40,{i}" for i in range(4)
    ]
    (tmp_path / "jobs.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "batch",
        str(tmp_path / "jobs.csv"),
        "--out",
        str(out),
        "--quiet",
        "--workers",
        "1",
        *FAST,
    ]
    # SIGINT as a terminal sends it: a shell that started this run in the background ignores it,
    # and a Python started with SIGINT ignored never turns it into KeyboardInterrupt.
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    deadline = time.time() + 300
    while not (out / "r0" / "done.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "run the same command again to continue" in err, err
    finished = [r for r in ("r0", "r1", "r2", "r3") if (out / r / "done.json").exists()]
    assert finished and len(finished) < 4
    assert all((out / r / "refined.obj").exists() for r in finished)
    assert not list(out.glob("*/.*.part"))  # no half-written file
    again = run_cli("batch", str(tmp_path / "jobs.csv"), "--out", str(out), "--quiet", "--workers", "1", *FAST)
    assert again.returncode == 0, again.stderr
    status = [line.split(",")[2] for line in (out / "summary.csv").read_text().splitlines()[1:]]
    assert status[: len(finished)] == ["skipped"] * len(finished) and set(status[len(finished) :]) == {"done"}


@pytest.mark.parametrize("kills", [1, 2])
def test_a_local_worker_that_dies_has_its_jobs_run_once_more(manifest, tmp_path, kills):
    """Workers are SIGKILLed (as by the out-of-memory killer): once, and the rows in flight are
    run again on a fresh worker; twice, and they fail with a clear message."""
    from engine.batch import LocalPool, run_batch

    rows = read_manifest(manifest)[:2]
    pool = LocalPool(1, 2)
    killed: set[int] = set()

    def kill() -> None:
        deadline = time.time() + 120
        while len(killed) < kills and time.time() < deadline:
            for pid in list(pool._pool._processes or {}):  # the current pool's worker processes
                if pid not in killed and len(killed) < kills:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    results = run_batch(rows, tmp_path / "out", pool, {"preset": "fast"}, 0.0, False, lambda r: None)
    killer.join()
    assert len(killed) == kills
    if kills == 1:
        assert [r.status for r in results] == ["done", "done"]
    else:
        assert results[0].status == "failed" and "the worker failed twice" in results[0].outcome.message
