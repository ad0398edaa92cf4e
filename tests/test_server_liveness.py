"""The engine never wedges: long jobs, failing jobs, clients that stop reading, strangers that
never authenticate and half-sent frames never stop it serving another client, and shutdown always
exits promptly. Real engine processes, real sockets, real client processes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from engine.camera import look_at
from engine.preview import silhouette
from engine.settings import PRESETS
from refine_protocol import MAGIC, PROTOCOL_VERSION, read_frame
from refine_protocol.launcher import launch
from refine_protocol.request import RefineRequest
from refine_protocol.wire import PREFIX

from .conftest import ROOT, ico_sphere
from .engine_process import TOKEN, engine_process

FAST = ("--stall-seconds", "3", "--hello-seconds", "2", "--max-unauthenticated", "4")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with engine_process(tmp_path_factory.mktemp("live") / "engine.log", *FAST) as e:
        yield e
        assert e.proc.poll() is None, "the engine died during the module"


def scene(level: int = 1, size: int = 32) -> dict:
    verts, faces = ico_sphere(level)
    camera = look_at(np.zeros(3), 30, 20, 5.0, size=(size, size))
    mask = silhouette(verts * [1.25, 1.0, 0.8], faces, camera).astype(np.uint8) * 255
    return {"verts": verts, "faces": faces, "camera": camera.to_dict(), "mask": mask}


SMALL = scene()


def small_job_completes(e, job: str = "probe", within: float = 30.0) -> float:
    """Another client's small job: returns its wall time, asserting it ended with a result in time."""
    t0 = time.monotonic()
    with e.client(timeout=within) as c:
        c.sock.settimeout(within)
        c.submit(
            job,
            RefineRequest(
                SMALL["verts"], SMALL["faces"], SMALL["camera"], mask=SMALL["mask"], settings={"preset": "fast", "iterations": 5}
            ),
        )
        frames = list(c.job_frames(job))
    elapsed = time.monotonic() - t0
    assert frames[-1].type == "result", frames[-1].header
    assert elapsed < within
    return elapsed


def job_end_and_silence(c, job: str):
    """The job's frames up to its end, then proof that no second end frame follows (a status
    round trip; nothing about the job may arrive before its answer)."""
    frames = list(c.job_frames(job))
    c.send({"type": "status"})
    while (f := c.receive()).type != "status":
        assert f.header.get("job") != job, f"a second frame after the job's end: {f.header}"
    return frames


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_at_its_defaults_through_the_socket(engine, name):
    with engine.client() as c:
        c.submit(
            name,
            RefineRequest(
                SMALL["verts"], SMALL["faces"], SMALL["camera"], mask=SMALL["mask"], settings={"preset": name}, progress_hz=0
            ),
        )
        frames = job_end_and_silence(c, name)
    assert frames[-1].type == "result", frames[-1].header
    assert not any(f.type == "progress" for f in frames)  # progress_hz 0: none
    report, history = frames[-1].header["report"], frames[-1].blobs["history"].to_array()
    assert history.shape == (report["iterations_run"], len(report["history_columns"]))
    assert report["iterations_run"] <= PRESETS[name].iterations


def test_the_longest_job_the_limits_allow(engine):
    """10,000 iterations (the default limit) without early stopping: the history (320 kB) travels
    in a blob, the header stays small, and the worker lives on."""
    with engine.client() as c:
        limit = c.info["limits"]["max_iterations"]
        settings = {"preset": "naive", "iterations": limit}
        c.submit(
            "long",
            RefineRequest(SMALL["verts"], SMALL["faces"], SMALL["camera"], mask=SMALL["mask"], settings=settings, progress_hz=2),
        )
        frames = job_end_and_silence(c, "long")
    result = frames[-1]
    assert result.type == "result", result.header
    history = result.blobs["history"].to_array()
    assert result.header["report"]["iterations_run"] == limit == 10_000 and history.shape[0] == limit
    columns = result.header["report"]["history_columns"]
    assert np.isfinite(history[:, columns.index("iou")]).all()
    small_job_completes(engine)


FAULTS = {
    1: ("internal", "before the first iteration"),
    2: ("internal", "iteration 3"),
    3: ("out_of_memory", "cannot allocate"),
    4: ("internal", "could not be sent"),
    5: ("internal", "could not be sent"),
    6: ("internal", "SystemExit"),
}


def test_a_failure_anywhere_in_a_job_ends_it_once_and_the_worker_lives_on(tmp_path):
    log = tmp_path / "faulty.log"
    with launch([sys.executable, "-m", "tests.faulty_engine"], cwd=ROOT, log=log, token=TOKEN) as e:
        with e.client() as c:
            for seed, (code, words) in FAULTS.items():
                job = f"fault{seed}"
                c.submit(job, RefineRequest(SMALL["verts"], SMALL["faces"], SMALL["camera"], mask=SMALL["mask"],
                         settings={"preset": "fast", "iterations": 8, "seed": seed}, progress_hz=1000))  # fmt: skip
                end = job_end_and_silence(c, job)[-1]
                assert end.type == "error" and end.header["job"] == job, (seed, end.header)
                assert end.header["code"] == code and words in end.header["message"], (seed, end.header)
        small_job_completes(e)
        assert e.proc.poll() is None


PAUSED_CLIENT = """
import sys
from refine_protocol.client import EngineClient
from refine_protocol.request import RefineRequest
from tests.test_server_liveness import scene
host, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
big = scene(level=5, size=96)
c = EngineClient.connect(host, port, token)
c.submit("hog", RefineRequest(big["verts"], big["faces"], big["camera"], mask=big["mask"],
         settings={"preset": "naive", "iterations": 3000}, progress_hz=1000))
for frame in c.job_frames("hog"):
    if frame.type == "progress":
        print("reading", flush=True)
"""


def start_paused_client(e) -> subprocess.Popen:
    """A real client process that submits a long job streaming 123 kB frames at 1000 Hz, reads
    one, then is stopped with SIGSTOP (Ctrl-Z) while the engine keeps sending."""
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_CLIENT, e.host, str(e.port), e.token],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "reading"
    proc.send_signal(signal.SIGSTOP)
    return proc


def test_a_client_that_stops_reading_never_blocks_another(engine):
    proc = start_paused_client(engine)
    try:
        t0 = time.monotonic()
        # The paused client's job would run for minutes; it is cut off by the stall rule (3 s
        # here), and the probe's job runs at once after it.
        small_job_completes(engine, "after-pause", within=30)
        assert time.monotonic() - t0 < 30
        deadline = time.monotonic() + 10
        while "stalled for over 3 s" not in engine.log.read_text():
            assert time.monotonic() < deadline, "the stalled client was never disconnected"
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()


def test_strangers_dribbling_bytes_cannot_lock_the_client_out(engine):
    stop = threading.Event()
    strangers = [socket.create_connection((engine.host, engine.port)) for _ in range(40)]

    def dribble() -> None:  # a byte every 0.5 s: never a whole hello, never silent
        while not stop.wait(0.5):
            for s in strangers:
                try:
                    s.sendall(b"R")
                except OSError:
                    pass

    t = threading.Thread(target=dribble, daemon=True)
    t.start()
    try:
        time.sleep(1.0)
        small_job_completes(engine, "past-strangers", within=20)
        # The hello deadline (2 s here) is absolute: every stranger is hung up on.
        time.sleep(3.0)
        assert all(hung_up(s, within=5) for s in strangers)
    finally:
        stop.set()
        for s in strangers:
            s.close()
    text = engine.log.read_text()
    assert text.count("refused") <= 6 + text.count("more refused connections")  # rate-limited
    assert "Traceback" not in text


def hung_up(s: socket.socket, within: float) -> bool:
    """Whether the engine closes this socket within the time (whatever it sends first)."""
    s.settimeout(within)
    try:
        while s.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def engine_rss_mb(e) -> float:
    status = open(f"/proc/{e.proc.pid}/status").read()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_prefix_only_frames_cost_no_memory_and_are_cut_off(engine):
    """20 authenticated connections each announce a 120 MiB frame and send nothing more: nothing
    is allocated up front (the body grows as bytes arrive), and the stall rule closes them."""
    before = engine_rss_mb(engine)
    clients = [engine.client() for _ in range(20)]
    try:
        for c in clients:
            c.sock.sendall(PREFIX.pack(MAGIC, 100, 120 << 20))
        time.sleep(1.0)
        grown = engine_rss_mb(engine) - before
        assert grown < 60, f"engine RSS grew by {grown:.0f} MB"
        small_job_completes(engine, "beside-prefixes", within=20)
        for c in clients:  # closed by the stall rule (3 s)
            assert hung_up(c.sock, within=10)
    finally:
        for c in clients:
            c.close()


def test_bad_numbers_and_strange_hellos_get_clear_errors(engine):
    with engine.client() as c:
        for raw in (b'{"type":"cancel","job":1e999}', b'{"type":"status","x":' + b"9" * 400 + b"}"):
            c.sock.sendall(PREFIX.pack(MAGIC, len(raw), 0) + raw)
            reply = c.receive()
            assert reply.header["code"] == "bad_request" and "out of range" in reply.header["message"]
        assert c.status()["busy"] is False  # the connection lives on
    for hello, code in [
        ({"type": "hello", "protocol": True, "token": TOKEN}, "protocol_mismatch"),
        ({"type": "hello", "protocol": PROTOCOL_VERSION, "token": "\ud800" * 20}, "auth_failed"),
    ]:
        with socket.create_connection((engine.host, engine.port)) as s:
            raw = json.dumps({**hello, "blobs": []}).encode()  # json escapes the lone surrogate
            s.sendall(PREFIX.pack(MAGIC, len(raw), 0) + raw)
            assert read_frame(s.makefile("rb")).header["code"] == code
    assert "Traceback" not in engine.log.read_text()


def test_queue_positions_quota_and_duplicate_ids(engine):
    with engine.client() as a, engine.client() as b:
        a.submit(
            "run",
            RefineRequest(
                SMALL["verts"],
                SMALL["faces"],
                SMALL["camera"],
                mask=SMALL["mask"],
                settings={"preset": "naive", "iterations": 10_000},
                progress_hz=0,
            ),
        )
        next(f for f in a.job_frames("run") if f.type == "started")
        for i in range(3):
            b.submit(f"b{i}", RefineRequest(SMALL["verts"], SMALL["faces"], SMALL["camera"], mask=SMALL["mask"]))
        assert [b.receive().header["position"] for _ in range(3)] == [0, 1, 2]
        b.cancel("b0")  # the jobs behind it move up and are told
        frames = [b.receive().header for _ in range(3)]
        assert {"type": "cancelled", "job": "b0", "iterations_run": 0} in frames
        assert {f["job"]: f["position"] for f in frames if f["type"] == "queued"} == {"b1": 0, "b2": 1}
        # A duplicate id is refused without naming the job (that id is still someone's live job).
        a.submit("run", RefineRequest(SMALL["verts"], SMALL["faces"], SMALL["camera"], mask=SMALL["mask"]))
        dup = a.receive()
        assert dup.type == "error" and dup.header["code"] == "bad_request" and "job" not in dup.header
        # One client cannot fill the queue: 8 waiting jobs per connection.
        for i in range(3, 12):
            b.submit(f"b{i}", RefineRequest(SMALL["verts"], SMALL["faces"], SMALL["camera"], mask=SMALL["mask"]))
        codes = [b.receive().header.get("code") for _ in range(9)]
        assert codes.count("queue_full") == 3, codes
        a.cancel("run")
        for i in (1, 2, *range(3, 9)):
            b.cancel(f"b{i}")
        assert a.status()["busy"] in (True, False)
    small_job_completes(engine)


def test_image_over_the_pixel_limit_is_limit_exceeded(tmp_path):
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("RGBA", (200, 200)).save(png, "PNG")
    with engine_process(tmp_path / "e.log", "--max-image-pixels", "10000") as e, e.client() as c:
        cam = {**SMALL["camera"], "resolution_x": 32, "resolution_y": 32}
        c.submit("big", RefineRequest(SMALL["verts"], SMALL["faces"], cam, image=png.getvalue()))
        reply = c.receive()
    assert reply.header["code"] == "limit_exceeded" and "200x200 pixels exceeds the limit of 10000" in reply.header["message"]


@pytest.mark.parametrize("how", ["shutdown", "SIGTERM"])
def test_shutdown_with_a_stalled_client_exits_promptly_and_tells_everyone(tmp_path, how):
    with engine_process(tmp_path / "e.log") as e:  # default limits: a 30 s stall rule would not help
        paused = start_paused_client(e)
        try:
            other = e.client()
            other.submit("w", RefineRequest(SMALL["verts"], SMALL["faces"], SMALL["camera"], mask=SMALL["mask"]))
            assert other.receive().type == "queued"
            t0 = time.monotonic()
            if how == "shutdown":
                with e.client() as c:
                    c.shutdown()
            else:
                e.proc.send_signal(signal.SIGTERM)
            assert e.proc.wait(15) == 0
            assert time.monotonic() - t0 < 15
            ends = [other.receive() for _ in range(2)]
            assert [f.type for f in ends] == ["cancelled", "bye"]
            other.close()
        finally:
            paused.kill()
            paused.wait()
