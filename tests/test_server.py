"""The engine server with real processes and real sockets: jobs, streaming, cancel, auth, bad
input and hostile bytes. One server serves the whole module; the last test proves it still works."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image

from engine.camera import BlenderCamera, look_at
from engine.io import load_mesh
from engine.preview import silhouette
from engine.render.view import mask_iou
from refine_protocol import MAGIC, PROTOCOL_VERSION, Blob, encode_frame, read_frame
from refine_protocol.client import EngineClient, EngineError
from refine_protocol.messages import TOKEN_ENV
from refine_protocol.request import RefineRequest
from refine_protocol.wire import PREFIX

from .conftest import EXAMPLE, ROOT, ico_sphere, run_cli
from .engine_process import TOKEN, engine_process

LIMITS = ("--max-vertices", "50000", "--max-frame-mb", "16", "--max-image-pixels", "1000000", "--max-queue", "4")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with engine_process(tmp_path_factory.mktemp("engine") / "engine.log", *LIMITS) as e:
        yield e
        assert e.proc.poll() is None, "the engine died during the module"


@pytest.fixture(scope="module")
def small():
    """A sphere and the silhouette of a squashed sphere seen by a 96x96 camera."""
    verts, faces = ico_sphere(3)
    camera = look_at(np.zeros(3), 30, 20, 5.0, size=(96, 96))
    mask = silhouette(verts * [1.25, 1.0, 0.8], faces, camera).astype(np.uint8) * 255
    return {"verts": verts, "faces": faces, "camera": camera.to_dict(), "mask": mask}


def run_job(client: EngineClient, job: str, small: dict, **kw) -> list:
    kw.setdefault("settings", {"preset": "fast", "iterations": 6})
    client.submit(job, RefineRequest(small["verts"], small["faces"], small["camera"], mask=small["mask"], **kw))
    return list(client.job_frames(job))


def test_refinement_over_the_socket_matches_the_cli(engine, tmp_path):
    verts, faces = load_mesh(EXAMPLE / "coarse.obj")
    out = tmp_path / "cli.obj"
    args = ("--preset", "fast", "--iterations", "30", "--seed", "5")
    proc = run_cli("refine", "--mesh", str(EXAMPLE / "coarse.obj"), "--image", str(EXAMPLE / "photo.png"),
                   "--camera", str(EXAMPLE / "camera.json"), "--out", str(out), "--quiet", *args)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with engine.client() as client:
        client.submit("cow", RefineRequest(verts, faces, json.loads((EXAMPLE / "camera.json").read_text()),
                      image=(EXAMPLE / "photo.png").read_bytes(), settings={"preset": "fast", "iterations": 30, "seed": 5}))  # fmt: skip
        frames = list(client.job_frames("cow"))
    assert [f.type for f in frames[:2]] == ["queued", "started"] and frames[-1].type == "result", frames[-1].header
    result = frames[-1]
    assert result.header["report"]["iterations_run"] == 30 and result.header["report"]["settings"]["seed"] == 5
    cli_verts, _ = load_mesh(out)
    got = result.blobs["vertices"].to_array()
    assert got.shape == verts.shape and got.dtype == np.float32
    # The socket carries float32 input; the CLI reads the OBJ's decimals as float64.
    np.testing.assert_allclose(got, cli_verts, atol=1e-4 * np.ptp(verts))


def test_progress_streams_vertex_arrays(engine, small):
    with engine.client() as client:
        frames = run_job(client, "p", small, settings={"preset": "fast", "iterations": 12}, progress_hz=1000)
    progress = [f for f in frames if f.type == "progress"]
    assert [f.header["iteration"] for f in progress] == list(range(1, 13))
    arrays = [f.blobs["vertices"].to_array() for f in progress]
    assert all(a.shape == small["verts"].shape for a in arrays)
    assert np.abs(arrays[-1] - arrays[0]).max() > 1e-3  # the mesh moves
    assert {"total", "silhouette", "iou"} <= set(progress[-1].header["losses"])
    # Throttled: at 1 Hz a short job sends few frames, and without vertices when asked.
    with engine.client() as client:
        frames = run_job(
            client, "q", small, settings={"preset": "fast", "iterations": 12}, progress_hz=1, progress_vertices=False
        )
    progress = [f for f in frames if f.type == "progress"]
    assert 1 <= len(progress) <= 4 and not any(f.blobs for f in progress)
    assert progress[-1].header["iteration"] == 12  # the last iteration is always reported


def test_cancel_stops_within_one_iteration(engine, small):
    with engine.client() as client:
        client.submit("long", RefineRequest(small["verts"], small["faces"], small["camera"], mask=small["mask"],
                      settings={"preset": "default", "iterations": 5000}, progress_hz=1000))  # fmt: skip
        frames = client.job_frames("long")
        for frame in frames:
            if frame.type == "progress" and frame.header["iteration"] >= 3:
                break
        client.cancel("long")
        rest = list(frames)
    assert rest[-1].type == "cancelled"
    assert rest[-1].header["iterations_run"] <= frame.header["iteration"] + 2 + sum(f.type == "progress" for f in rest)
    assert rest[-1].header["iterations_run"] < 100


def test_disconnect_mid_job_cancels_it_and_two_clients_see_only_their_own_jobs(engine, small):
    a, b = engine.client(), engine.client()
    a.submit(
        "x", RefineRequest(small["verts"], small["faces"], small["camera"], mask=small["mask"], settings={"iterations": 5000})
    )
    next(f for f in a.job_frames("x") if f.type == "progress")
    b.submit(
        "x",
        RefineRequest(
            small["verts"], small["faces"], small["camera"], mask=small["mask"], settings={"preset": "fast", "iterations": 6}
        ),
    )
    # Position = waiting jobs ahead of it (the running one not counted): 0 starts next.
    assert b.receive().header == {"type": "queued", "job": "x", "position": 0}
    assert b.status()["jobs"] == [{"job": "x", "state": "queued", "position": 0}]
    a.close()  # the engine notices, cancels a's job and starts b's
    t0 = time.monotonic()
    frames = list(b.job_frames("x"))
    assert frames[-1].type == "result" and time.monotonic() - t0 < 60
    assert all(f.header.get("job") in (None, "x") for f in frames)
    b.close()


def test_queued_job_can_be_cancelled_and_the_queue_is_bounded(engine, small):
    with engine.client() as client:
        client.submit(
            "run",
            RefineRequest(small["verts"], small["faces"], small["camera"], mask=small["mask"], settings={"iterations": 5000}),
        )
        for i in range(4):
            client.submit(f"w{i}", RefineRequest(small["verts"], small["faces"], small["camera"], mask=small["mask"]))
        client.submit("over", RefineRequest(small["verts"], small["faces"], small["camera"], mask=small["mask"]))
        client.cancel("w2")
        client.cancel("run")
        ends = {}

        def wait_for(jobs):
            while not jobs <= set(ends):
                f = client.receive()
                if f.type in ("result", "cancelled", "error"):
                    ends[f.header["job"]] = f

        wait_for({"over", "w2", "run"})
        for i in (0, 1, 3):
            client.cancel(f"w{i}")
        wait_for({"w0", "w1", "w3"})
    assert ends["over"].type == "error" and ends["over"].header["code"] == "queue_full"
    assert ends["w2"].type == "cancelled" and ends["w2"].header["iterations_run"] == 0
    assert ends["run"].type == "cancelled"


@pytest.mark.parametrize(
    "token, protocol, code",
    [
        ("wrong-token-0123456789", PROTOCOL_VERSION, "auth_failed"),
        ("", PROTOCOL_VERSION, "auth_failed"),
        (TOKEN, 99, "protocol_mismatch"),
    ],
)
def test_handshake_refusals(engine, token, protocol, code):
    with socket.create_connection((engine.host, engine.port)) as s:
        s.sendall(encode_frame({"type": "hello", "protocol": protocol, "token": token}))
        frame = read_frame(s.makefile("rb"))
        assert frame.header["type"] == "error" and frame.header["code"] == code
        assert s.recv(1) == b""  # and the engine hangs up


def test_first_message_must_be_hello(engine):
    with socket.create_connection((engine.host, engine.port)) as s:
        s.sendall(encode_frame({"type": "status"}))
        assert read_frame(s.makefile("rb")).header["code"] == "auth_failed"
    with pytest.raises(EngineError, match="auth_failed"):
        EngineClient.connect(engine.host, engine.port, "x" * 20)


def _bad_requests(small):
    v, f, cam, mask = small["verts"], small["faces"], small["camera"], small["mask"]
    bad_f = f.copy()
    bad_f[3, 1] = len(v) + 7
    nan_v = v.copy()
    nan_v[5] = np.nan
    return {
        "out-of-range faces": (dict(vertices=v, faces=bad_f, camera=cam, mask=mask), "invalid_input", "face indices"),
        "NaN vertices": (dict(vertices=nan_v, faces=f, camera=cam, mask=mask), "invalid_input", "non-finite"),
        "corrupt image": (
            dict(vertices=v, faces=f, camera=cam, image=b"\x89PNG\r\n\x1a\n" + b"\0" * 50),
            "invalid_input",
            "cannot decode",
        ),
        "bad camera": (dict(vertices=v, faces=f, camera={**cam, "lens": "long"}, mask=mask), "invalid_input", "lens"),
        "unknown camera field": (dict(vertices=v, faces=f, camera={**cam, "fov": 3}, mask=mask), "invalid_input", "fov"),
        "mask aspect": (dict(vertices=v, faces=f, camera=cam, mask=mask[:50]), "invalid_input", "aspect ratio 96x50"),
        "full mask": (dict(vertices=v, faces=f, camera=cam, mask=np.full_like(mask, 255)), "invalid_input", "whole picture"),
        "find and mask": (dict(vertices=v, faces=f, camera=cam, mask=mask, find_silhouette=True), "bad_request", "exclude"),
        "parts not adding up": (dict(vertices=v, faces=f, camera=cam, mask=mask, parts=[3, 4]), "invalid_input", "add up to"),
        "NaN occluder": (
            dict(vertices=v, faces=f, camera=cam, mask=mask, occluder=(nan_v, f)),
            "invalid_input",
            "occluder: 1 vertices",
        ),
        "too many vertices": (dict(vertices=np.zeros((60000, 3)), faces=f, camera=cam, mask=mask), "limit_exceeded", "50000"),
        "too many pixels": (
            dict(vertices=v, faces=f, camera={**cam, "resolution_x": 2000, "resolution_y": 2000}, mask=mask),
            "limit_exceeded",
            "pixels",
        ),
        "unknown setting": (dict(vertices=v, faces=f, camera=cam, mask=mask, settings={"lr": 1.0}), "bad_request", "lr"),
        "no camera": (dict(vertices=v, faces=f, camera=None, mask=mask), "bad_request", "needs a 'camera' unless"),
        "iterations": (
            dict(vertices=v, faces=f, camera=cam, mask=mask, settings={"iterations": 10**6}),
            "limit_exceeded",
            "iterations",
        ),
        "bool seed": (dict(vertices=v, faces=f, camera=cam, mask=mask, settings={"seed": True}), "bad_request", "seed"),
    }


def test_a_search_needs_no_camera_and_the_result_carries_the_one_it_found(engine, small):
    """A sphere looks alike from every side: the search's view is in doubt, so the job ends with
    the camera found, its look-alike views and the mesh as it was sent (no iteration ran)."""
    settings = {"preset": "fast", "iterations": 2, "fit_camera": "search"}
    with engine.client() as client:
        frames = run_job(client, "find", {**small, "camera": None}, settings=settings)
    result = frames[-1]
    assert result.type == "result", result.header
    report = result.header["report"]
    section = report["camera"]
    assert section["mode"] == "search" and section["accepted"] and section["iou_after"] > 0.8
    found = BlenderCamera.from_dict(result.header["camera"])
    assert found.image_size_wh == (96, 96)  # the photo's size
    assert found == BlenderCamera.from_dict(section["fitted"])
    assert report["stopped"].startswith("the camera found is in doubt") and section["look_alikes"] >= 1
    assert report["iterations_run"] == 0 and result.blobs["history"].to_array().shape[0] == 0
    np.testing.assert_array_equal(result.blobs["vertices"].to_array(), small["verts"].astype(np.float32))


def test_a_plain_photo_gets_its_silhouette_found_and_sent_back(engine, small):
    """A JPEG at twice the camera's size, no alpha: the engine finds the object, reports how, and
    returns the silhouette it refined against at the camera's size."""
    inside = small["mask"] > 127
    rgb = np.where(inside[..., None], [90, 75, 60], [230, 228, 222]).astype(np.uint8)
    jpeg = io.BytesIO()
    Image.fromarray(np.kron(rgb, np.ones((2, 2, 1), np.uint8))).save(jpeg, "JPEG", quality=90)
    with engine.client() as client:
        client.submit("plain", RefineRequest(small["verts"], small["faces"], small["camera"], image=jpeg.getvalue(),
                      settings={"preset": "fast", "iterations": 4}))  # fmt: skip
        result = list(client.job_frames("plain"))[-1]
    assert result.type == "result", result.header
    section = result.header["report"]["silhouette"]
    assert section["source"] == "automatic" and section["seed_iou"] > 0.6 and not section["warnings"], section
    found = result.blobs["mask"].to_array()
    assert found.shape == (96, 96) and found.dtype == np.uint8 and mask_iou(found > 127, inside) > 0.95


def test_bad_requests_get_an_error_and_the_connection_lives_on(engine, small):
    with engine.client() as client:
        for name, (req, code, words) in _bad_requests(small).items():
            camera = req.pop("camera")
            client.submit("bad", RefineRequest(req.pop("vertices"), req.pop("faces"), camera, **req))
            frame = client.receive()
            assert frame.type == "error" and frame.header["job"] == "bad", name
            assert frame.header["code"] == code and words in frame.header["message"], (name, frame.header)
        # Hand-made frames the client class would not produce.
        for header, blobs, code in [
            ({"type": "refine", "job": "b", "camera": small["camera"]}, [], "bad_request"),
            ({"type": "refine", "job": "b" * 65}, [], "bad_request"),
            ({"type": "teleport"}, [], "bad_request"),
            ({"type": "refine", "job": "b", "camera": small["camera"]},
             [Blob.from_array("vertices", small["verts"], "i32"), Blob.from_array("faces", small["faces"], "i32")], "bad_request"),
        ]:  # fmt: skip
            client.send(header, blobs)
            frame = client.receive()
            assert frame.type == "error" and frame.header["code"] == code, header
        assert client.status()["busy"] is False


def test_a_phone_photo_is_seen_upright_unless_the_client_says_otherwise(engine, small):
    """A photo stored sideways with an EXIF tag that turns it (as phones save portraits): turned,
    it fits the portrait camera; as stored (as Blender shows it: the add-on's choice) it does not,
    and the error says so. The flag must be a bool."""
    camera = look_at(np.zeros(3), 30, 20, 5.0, size=(64, 96))
    upright = silhouette(small["verts"] * [1.25, 1.0, 0.8], small["faces"], camera)  # (96, 64)
    rgba = np.zeros((*upright.shape, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 128, upright * 255
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # turn 90 degrees clockwise to view
    photo = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.rot90(rgba))).save(photo, "PNG", exif=exif)  # stored 96 wide, 64 high
    sideways = {**small, "camera": camera.to_dict(), "mask": None}
    with engine.client() as client:
        result = run_job(client, "upright", sideways, image=photo.getvalue())[-1]
        assert result.type == "result", result.header
        assert result.header["report"]["silhouette_iou"]["before"] > 0.6
        client.submit(
            "stored",
            RefineRequest(small["verts"], small["faces"], sideways["camera"], image=photo.getvalue(), exif_orientation=False),
        )
        frame = client.receive()
        assert frame.type == "error" and frame.header["code"] == "invalid_input", frame.header
        assert "96x64" in frame.header["message"] and "64x96" in frame.header["message"], frame.header
        client.send({"type": "refine", "job": "b", "camera": sideways["camera"], "exif_orientation": "no"})
        frame = client.receive()
        assert frame.header["code"] == "bad_request" and "'exif_orientation' must be true or false" in frame.header["message"]


def test_framing_errors_close_only_that_connection(engine):
    with engine.client() as other:
        cases = [
            b"GET / HTTP/1.1\r\n\r\n",  # not a frame
            PREFIX.pack(MAGIC, 10, 2**40),  # oversized: refused from the prefix alone
            PREFIX.pack(MAGIC, 200, 0) + b'{"type":',  # truncated, then the client leaves
        ]
        for data in cases:
            with engine.client() as c:
                c.sock.sendall(data)
                if data.startswith(b"GET") or b"\x00\x00\x00\x01" in data[8:16]:
                    assert c.receive().header["code"] in ("bad_frame", "too_large")
        assert other.status()["busy"] is False


frames = st.one_of(
    st.binary(max_size=300),  # garbage
    st.builds(  # a valid prefix with a random body
        lambda h, p, body: PREFIX.pack(MAGIC, h, p) + body,
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**64 - 1),
        st.binary(max_size=200),
    ),
    st.builds(  # a well-formed frame with random fields
        lambda t, fields: encode_frame({"type": t, **fields}),
        st.sampled_from(["refine", "cancel", "status", "echo", "hello", "x"]),
        st.dictionaries(
            st.sampled_from(["job", "camera", "settings", "progress_hz", "data", "token"]),
            st.one_of(
                st.none(),
                st.integers(),
                st.text(max_size=70),
                st.floats(allow_nan=False, allow_infinity=False),
                st.lists(st.integers(), max_size=3),
            ),
            max_size=4,
        ),
    ),  # fmt: skip
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=frames, truncate=st.booleans())
def test_fuzzed_frames_never_hurt_the_engine(engine, data, truncate):
    with engine.client(timeout=10) as c:
        c.sock.settimeout(10)
        try:
            c.sock.sendall(data[: len(data) // 2] if truncate else data)
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:  # the engine may hang up as soon as it sees bad bytes
            pass
        while True:  # whatever comes back is well-formed frames, then the end
            try:
                if c.receive() is None:
                    break
            except EngineError:
                break


def test_echo_round_trips_blobs(engine):
    arr = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    with engine.client() as c:
        reply = c.request({"type": "echo", "data": {"n": 1}}, "echo", [Blob.from_array("v", arr, "f32")])
    assert reply.header["data"] == {"n": 1}
    np.testing.assert_array_equal(reply.blobs["v"].to_array(), arr)


def test_after_everything_the_same_engine_completes_a_normal_job(engine, small):
    with engine.client() as client:
        frames = run_job(client, "final", small)
        assert frames[-1].type == "result"
        assert client.status()["busy"] is False
    log = engine.log.read_text()
    assert "job " in log and "final" in log and "done, 6 it" in log
    assert "Traceback" not in log  # no request reached an unexpected code path


def test_shutdown_stops_the_engine(tmp_path, small):
    with engine_process(tmp_path / "e.log") as e:
        with e.client() as c:
            c.shutdown()
            assert c.receive().type == "bye"
        assert e.proc.wait(30) == 0


def test_token_file_must_be_private(tmp_path):
    path = tmp_path / "token"
    path.write_text("secret-secret-secret\n")
    path.chmod(0o644)
    proc = run_cli("serve", "--token-file", str(path), timeout=60)
    assert proc.returncode == 2 and "chmod 600" in proc.stderr


def test_a_launched_engine_stops_when_its_parent_dies():
    """The add-on starts the engine with --exit-with-parent: Blender crashing must not leave it running."""
    script = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'engine', 'serve', '--exit-with-parent'], stdout=subprocess.PIPE, text=True)\n"
        "p.stdout.readline()\n"
        "print(p.pid, flush=True)\n"
    )  # the parent prints the engine's pid once it listens, then exits without stopping it
    env = {**os.environ, TOKEN_ENV: TOKEN}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("the orphaned engine kept running")
