"""The engine's CPU share: the cores it may use, and what busy neighbours leave it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from engine import threads
from engine.threads import CpuShare, free_cpus, usable_cpus


@given(st.integers(1, 256), st.floats(0, 512), st.one_of(st.none(), st.integers(1, 256)))
def test_free_cpus_is_a_pool_size_within_the_cap_that_shrinks_as_neighbours_work(usable, busy, cap):
    threads = free_cpus(usable, busy, cap)
    assert 1 <= threads <= (cap or usable)
    assert free_cpus(usable, busy + 1, cap) <= threads


def test_a_cgroup_quota_caps_the_usable_cpus(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == affinity  # no cgroup files: the affinity mask
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cpus(tmp_path) == affinity
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU: still one thread
    assert usable_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")  # cgroup v1: one CPU
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cpus(tmp_path) == 1


def test_refine_threads_fixes_the_count_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("REFINE_THREADS", "1")
    assert CpuShare().update() == 1 == torch.get_num_threads()
    monkeypatch.setenv("REFINE_THREADS", "two")
    with pytest.raises(ValueError, match="REFINE_THREADS must be a positive integer, got 'two'"):
        CpuShare()


@pytest.mark.skipif(usable_cpus() < 2, reason="one usable CPU: nothing to share")
def test_busy_neighbours_shrink_the_pool_to_one_thread(monkeypatch):
    """Real neighbours: one busy process per usable CPU. The share measured after them leaves this
    process one thread, where a pool of one thread per core would wait at every join."""
    monkeypatch.delenv("REFINE_THREADS", raising=False)
    before = torch.get_num_threads()
    share = CpuShare()
    assert share.threads == usable_cpus()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(usable_cpus())]
    try:
        time.sleep(threads.CHECK_SECONDS * 2)
        assert share.update() == 1 == torch.get_num_threads()
    finally:
        for b in burners:
            b.kill()
            b.wait()
        torch.set_num_threads(before)


def test_a_compute_thread_beside_the_main_one_uses_one_thread(monkeypatch):
    """The server's job thread: there a pool of two made a refinement twice as slow as one thread."""
    import threading

    monkeypatch.delenv("REFINE_THREADS", raising=False)
    seen = []
    worker = threading.Thread(target=lambda: seen.append((CpuShare().threads, torch.get_num_threads())))
    worker.start()
    worker.join()
    assert seen == [(1, 1)]
    assert CpuShare().threads == free_cpus(usable_cpus(), 0.0)  # the main thread keeps its share
