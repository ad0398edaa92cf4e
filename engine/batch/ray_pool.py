"""Batch workers on a Ray cluster: one long-lived actor per GPU (CUDA and the compiled kernels stay
warm), or per few CPUs. A job whose actor dies is retried once on the restarted actor, then the
row fails. Jobs carry their inputs' bytes and return their outputs' bytes: the driver writes the
results, no shared storage is needed.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Future
from typing import Any

from .job import RowJob, RowOutcome, run_job
from .runner import local_split

LOCAL = "local"  # --ray local: a private single-machine cluster started for this batch


class _Worker:
    """The actor: torch loaded once, with its share of the threads (or its GPU)."""

    def __init__(self, threads: int) -> None:
        from ..threads import share_cpus

        share_cpus(threads)

    def run(self, job: RowJob) -> RowOutcome:
        return run_job(job)


class RayPool:
    retries_lost_jobs = True

    def __init__(self, address: str, **init: Any) -> None:
        import ray

        ray.init(address=None if address == LOCAL else address, include_dashboard=False, log_to_driver=False, **init)
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
        count, threads = local_split(cpus, gpus)
        # A lost actor restarts; its task is run once more after the restart (not by run_batch:
        # a task sent to an actor that is still restarting would fail at once).
        actor = ray.remote(max_restarts=-1, max_task_retries=1)(_Worker)
        per_actor = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": threads}
        self.actors = [actor.options(**per_actor).remote(threads) for _ in range(count)]
        self.workers = count
        self._next = itertools.cycle(self.actors)

    def submit(self, job: RowJob) -> Future[RowOutcome]:
        return next(self._next).run.remote(job).future()

    def close(self, cancel: bool) -> None:
        import ray

        if cancel:
            for a in self.actors:
                ray.kill(a, no_restart=True)
        ray.shutdown()
