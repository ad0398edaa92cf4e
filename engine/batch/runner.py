"""Running a batch: which rows are already done, the workers, and writing what comes back.

The driver (this process) reads the inputs, skips rows whose outputs match their content key,
hands jobs to workers and writes every outcome itself, atomically (a row's `done.json` last), so
an interrupted batch leaves only whole rows and a rerun continues where it stopped.

Workers: a local pool of processes that each load torch once (`LocalPool`), or Ray actors, one per
GPU or per few CPUs of a cluster (`RayPool`, engine/batch/ray_pool.py). Nothing else schedules.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

from .job import STOPPED, RowJob, RowOutcome, run_job
from .manifest import Row

DONE = "done.json"  # written last: a row's outputs are complete and made from this key


@dataclass
class RowResult:
    row: Row
    status: str  # "done", STOPPED, "skipped" (up to date) or "failed"
    outcome: RowOutcome | None = None


class Pool(Protocol):
    workers: int
    retries_lost_jobs: bool  # the pool itself runs a job once more when its worker dies (Ray)

    def submit(self, job: RowJob) -> Future[RowOutcome]: ...

    def close(self, cancel: bool) -> None: ...


def plan(
    rows: list[Row], out: Path, defaults: dict[str, Any], timeout_s: float, force: bool
) -> Iterator[tuple[Row, RowJob | None]]:
    """Each row with its job, or None when the row is done already (same content key) or cannot
    run (its `problem`). Reads the inputs lazily, one row at a time."""
    for row in rows:
        if row.problem:
            yield row, None
            continue
        inputs = {role: (path.name, path.read_bytes()) for role, path in row.files.items()}
        job = RowJob(row.name, inputs, {**defaults, **row.options}, timeout_s)
        marker = out / row.name / DONE
        done = marker.is_file() and json.loads(marker.read_text()).get("key") == job.key
        yield row, None if done and not force else job


def run_batch(
    rows: list[Row],
    out: Path,
    pool: Pool,
    defaults: dict[str, Any],
    timeout_s: float,
    force: bool,
    on_result: Callable[[RowResult], None],
) -> list[RowResult]:
    """Run every row that needs it on `pool`, at most twice the workers in flight (the inputs of
    the others are not read yet); a job whose worker died is run once more, then fails.
    `on_result` hears of every row as it ends. KeyboardInterrupt closes the pool without waiting
    for the rows in flight (their outputs are not written)."""
    results: list[RowResult] = []
    running: dict[Future[RowOutcome], tuple[Row, RowJob, bool]] = {}  # -> the row, its job, whether it is a retry

    def finish(result: RowResult) -> None:
        results.append(result)
        on_result(result)

    def drain(block_until: int) -> None:
        while len(running) > block_until:
            ended, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in ended:
                row, job, retry = running.pop(future)
                outcome, died = _outcome(future)
                if died and not retry and not pool.retries_lost_jobs:
                    running[pool.submit(job)] = (row, job, True)
                    continue
                if outcome.status in ("done", STOPPED):
                    write_outputs(out / row.name, outcome, job.key)
                finish(RowResult(row, outcome.status, outcome))

    try:
        for row, job in plan(rows, out, defaults, timeout_s, force):
            if job is None:
                finish(
                    RowResult(row, "failed", RowOutcome("failed", 0.0, row.problem)) if row.problem else RowResult(row, "skipped")
                )
                continue
            running[pool.submit(job)] = (row, job, False)
            drain(2 * pool.workers - 1)
        drain(0)
    except KeyboardInterrupt:
        pool.close(cancel=True)
        raise
    pool.close(cancel=False)
    return results


def _outcome(future: Future[RowOutcome]) -> tuple[RowOutcome, bool]:
    """The job's outcome, and whether its worker died (a killed process, a Ray actor lost)."""
    try:
        return future.result(), False
    except Exception as exc:  # BrokenProcessPool, RayActorError, ...
        return RowOutcome("failed", 0.0, f"the worker failed twice: {type(exc).__name__}: {exc}"), True


def write_outputs(folder: Path, outcome: RowOutcome, key: str) -> None:
    """A row's output files, each written to a temporary name and renamed, `done.json` last."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in {**outcome.files, DONE: json.dumps({"key": key, **outcome.summary()}, indent=1).encode()}.items():
        part = folder / f".{name}.part"
        part.write_bytes(data)
        os.replace(part, folder / name)


class LocalPool:
    """Worker processes on this machine, each loading torch once and using its share of the
    CPU threads (or one GPU each)."""

    retries_lost_jobs = False

    def __init__(self, workers: int, threads: int, gpus: int = 0) -> None:
        self.workers = workers
        self._start = (threads, gpus)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = get_context("spawn")  # no forked torch state
        started = ctx.Value("i", 0)  # numbers the workers: worker i uses GPU i % gpus
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(*self._start, started))

    def submit(self, job: RowJob) -> Future[RowOutcome]:
        """A worker that died (killed, out of memory) breaks the pool: its jobs in flight end with
        BrokenProcessPool (run_batch runs them once more) and the next jobs get a fresh pool."""
        try:
            return self._pool.submit(run_job, job)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(run_job, job)

    def close(self, cancel: bool) -> None:
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _init_worker(threads: int, gpus: int, started: Any) -> None:
    import torch

    from ..threads import share_cpus

    share_cpus(threads)
    with started.get_lock():
        number, started.value = started.value, started.value + 1
    if gpus:
        torch.cuda.set_device(number % gpus)


def local_split(cpus: int, gpus: int) -> tuple[int, int]:
    """(workers, threads each): one worker per GPU; on CPUs, workers of 4 threads (the renderer
    and the Large Steps solve scale to about that many), at least one."""
    if gpus:
        return gpus, max(1, cpus // gpus)
    workers = max(1, cpus // 4)
    return workers, max(1, cpus // workers)
