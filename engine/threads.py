"""How many CPU threads the engine's compute uses: the CPUs it gets, not the machine's count.

An iteration is hundreds of small tensor operations, each a fork-join over torch's intra-op pool.
When a neighbour (Blender rendering, another engine) holds a core, a pool of one thread per core
waits at every join for its thread that is not running: the run becomes several times slower than
its fair share (measured in bench/shared_cpu.py). So the pool is sized to the CPUs this process may
use (affinity mask, cgroup quota) minus those its neighbours kept busy in the last half second,
measured again as the work goes on.

A compute thread that is not the process's main thread (the server's job thread) gets one thread:
there torch's two-thread pool made the example's refinement 2.1-2.5 times slower than one thread
(9.99 s against 5.49 s for 100 iterations; 4.68 s with two threads on the main thread).
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

from .errors import InputError

THREADS_ENV = "REFINE_THREADS"  # a fixed thread count instead of the CPU share (e.g. a batch worker's)
CHECK_SECONDS = 0.5  # how often the share is measured: a neighbour that starts is felt within this


def usable_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota
    (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), at least 1."""
    allowed = _affinity()
    cpus = len(allowed) if allowed else os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_quota(root: Path) -> float | None:
    """CPUs' worth of time per period the cgroup allows, or None when unlimited or unknown."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def fixed_threads() -> int | None:
    """REFINE_THREADS as a positive integer, None when unset."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
    return int(value)


def free_cpus(usable: int, others_busy: float, limit: int | None = None) -> int:
    """Threads for a pool on `usable` CPUs while other processes keep `others_busy` CPUs' worth
    busy on them (0.9: one neighbour nearly always running), at most `limit`: at least 1."""
    return max(1, min(limit or usable, round(usable - others_busy)))


_cap: int | None = None  # this process's share of the CPUs (a batch worker's), None: all


def share_cpus(threads: int | None) -> None:
    """Cap every compute thread of this process at `threads` (a batch worker's share of the
    machine; None lifts the cap)."""
    global _cap
    _cap = threads


class CpuShare:
    """The calling thread's torch pool kept at its share of the CPUs: call update() in a compute
    loop (cheap: it measures at most every CHECK_SECONDS). torch's thread count is a per-thread
    OpenMP setting, so each compute thread keeps its own CpuShare. REFINE_THREADS fixes the count
    (seeded runs are bit-identical for one thread count, not across counts)."""

    def __init__(self) -> None:
        self.fixed = fixed_threads()
        self.usable = usable_cpus() if threading.current_thread() is threading.main_thread() else 1
        self._cpus = _affinity()
        self._last = self._sample()
        self.threads = self.fixed or free_cpus(self.usable, 0.0, _cap)
        _set_threads(self.threads)

    def update(self) -> int:
        """Re-measure when due and resize the pool; returns its size."""
        if self.fixed is not None or time.monotonic() - self._last[0] < CHECK_SECONDS:
            return self.threads
        now = self._sample()
        wall, busy, own = (b - a for a, b in zip(self._last, now))
        self._last = now
        if wall > 0 and now[1] >= 0:
            threads = free_cpus(self.usable, max(0.0, busy - own) / wall, _cap)
            if threads != self.threads:
                self.threads = threads
                _set_threads(threads)
        return self.threads

    def _sample(self) -> tuple[float, float, float]:
        """(monotonic s, CPU-seconds busy on our CPUs, CPU-seconds this process used)."""
        times = os.times()
        return time.monotonic(), _busy_seconds(self._cpus), times.user + times.system


_local = threading.local()


def keep_cpu_share() -> int:
    """Call once per iteration of a compute loop: the calling thread's CpuShare.update()."""
    share = getattr(_local, "share", None)
    if share is None:
        share = _local.share = CpuShare()
    return share.update()


def _set_threads(count: int) -> None:
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


def _affinity() -> set[int] | None:
    """The CPUs this process may run on; None where the system does not say (not Linux)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _busy_seconds(cpus: set[int] | None, stat: Path = Path("/proc/stat")) -> float:
    """CPU-seconds every process spent on `cpus` (None: all) since boot, steal included (a VM's
    core taken by the host is not ours either); -1 when /proc/stat cannot be read."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return -1.0
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
        busy += sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")
