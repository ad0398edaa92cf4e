"""`refine-engine batch --ray`: the same jobs on a real Ray cluster (a local head started with
`ray start` on 127.0.0.1, 2 CPUs). Outputs equal the local pool's; a worker killed mid-job has
its job retried on the restarted actor."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import EXAMPLE, run_cli

RAY = Path(sys.executable).parent / "ray"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head on 127.0.0.1 with 2 CPUs; stopped afterwards. Its own HOME: Ray keeps an auth
    token in ~/.ray, and head and drivers (the batch CLI, with this environment) must share it."""
    saved = {k: os.environ.get(k) for k in ("HOME", "RAY_USAGE_STATS_ENABLED")}
    os.environ.update(HOME=str(tmp_path_factory.mktemp("home")), RAY_USAGE_STATS_ENABLED="0")
    env = dict(os.environ)
    port = "6399"
    start = [str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", port, "--num-cpus", "2",
             "--num-gpus", "0", "--include-dashboard", "false"]  # fmt: skip
    subprocess.run(start, check=True, capture_output=True, env=env, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, env=env, timeout=120)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _manifest(tmp_path: Path, rows: int) -> Path:
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    lines = ["name,mesh,image,camera,iterations,seed"] + [
        f"cow{i},data/coarse.obj,data/photo.png,data/camera.json,{6 + i},1" for i in range(rows)
    ]
    path = tmp_path / "jobs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ray_outputs_equal_the_local_pools(cluster, tmp_path):
    manifest = _manifest(tmp_path, 2)
    local = run_cli("batch", str(manifest), "--out", str(tmp_path / "local"), "--quiet", "--workers", "1", "--preset", "fast")
    assert local.returncode == 0, local.stderr
    ray = run_cli("batch", str(manifest), "--out", str(tmp_path / "ray"), "--quiet", "--ray", cluster, "--preset", "fast")
    assert ray.returncode == 0, ray.stderr
    for name in ("cow0", "cow1"):
        assert (tmp_path / "ray" / name / "refined.obj").read_bytes() == (tmp_path / "local" / name / "refined.obj").read_bytes()


def test_a_killed_worker_has_its_job_retried(cluster, tmp_path):
    manifest = _manifest(tmp_path, 1)
    killed: list[int] = []

    def kill_the_worker_once_it_runs() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            found = subprocess.run(["pgrep", "-f", "ray::_Worker.run"], capture_output=True, text=True).stdout.split()
            if found:
                os.kill(int(found[0]), signal.SIGKILL)
                killed.append(int(found[0]))
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_the_worker_once_it_runs)
    killer.start()
    proc = run_cli("batch", str(manifest), "--out", str(tmp_path / "out"), "--quiet", "--ray", cluster, "--preset", "fast")
    killer.join()
    assert killed, "the worker was never seen running the job"
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "cow0" / "done.json").is_file()
