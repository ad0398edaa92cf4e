"""The job queue: one refinement at a time on the engine's device, the rest wait in order."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .requests import RefineRequest, RequestError


@dataclass(eq=False)
class Job:
    request: RefineRequest
    owner: Any  # the Connection that submitted it; jobs are only visible to their owner
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def id(self) -> str:
        return self.request.job


class JobQueue:
    """FIFO of jobs run one by one on a worker thread by `run(job)`.

    `on_moved(job, position)` is called (under no lock) for every waiting job whose position
    changed when another job started; position = number of jobs ahead of it.
    """

    def __init__(self, run: Callable[[Job], None], on_moved: Callable[[Job, int], None], max_queue: int) -> None:
        self._run = run
        self._on_moved = on_moved
        self._max_queue = max_queue
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._worker = threading.Thread(target=self._loop, name="refine-worker", daemon=True)
        self._worker.start()

    def submit(self, job: Job) -> int:
        """Queue a job. Returns its position. Raises RequestError if the queue is full or the
        owner already has an unfinished job with the same id."""
        with self._cond:
            if any(j.owner is job.owner and j.id == job.id for j in self._jobs()):
                raise RequestError("bad_request", f"job {job.id!r} is already queued or running on this connection")
            if len(self._waiting) >= self._max_queue:
                raise RequestError(
                    "queue_full", f"{len(self._waiting)} jobs are waiting (limit {self._max_queue}); try again later"
                )
            self._waiting.append(job)
            self._cond.notify_all()
            return len(self._waiting) - 1 + (self._running is not None)

    def cancel(self, owner: Any, job_id: str | None = None) -> list[Job]:
        """Cancel the owner's job (or all its jobs). A running job is asked to stop (its runner
        reports the end); waiting jobs are removed and returned so the caller can report them."""
        with self._cond:
            removed = [j for j in self._waiting if j.owner is owner and job_id in (None, j.id)]
            for j in removed:
                self._waiting.remove(j)
            if self._running is not None and self._running.owner is owner and job_id in (None, self._running.id):
                self._running.cancel.set()
        for j in removed:
            j.cancel.set()
        return removed

    def snapshot(self, owner: Any) -> dict[str, Any]:
        """Queue state as the owner may see it: totals, and its own jobs with their positions."""
        with self._cond:
            jobs = self._jobs()
            mine = [
                {"job": j.id, "state": "running" if j is self._running else "queued", "position": i}
                for i, j in enumerate(jobs)
                if j.owner is owner
            ]
            return {"busy": self._running is not None, "waiting": len(self._waiting), "jobs": mine}

    def stop(self) -> None:
        """Cancel everything and wait for the worker to finish the current iteration."""
        with self._cond:
            self._stopping = True
            if self._running is not None:
                self._running.cancel.set()
            self._cond.notify_all()
        self._worker.join()

    def _jobs(self) -> list[Job]:
        return ([self._running] if self._running is not None else []) + list(self._waiting)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._running = self._waiting.popleft()
                moved = list(enumerate(self._waiting, start=1))
            for position, waiting in moved:
                self._on_moved(waiting, position)
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running = None
