"""The job queue: one refinement at a time on the engine's device, the rest wait in order, each
client within its quota."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import refine_protocol.messages as m

from .requests import CheckedRequest, Limits, RequestError

log = logging.getLogger("engine.server")


@dataclass(eq=False)
class Job:
    request: CheckedRequest
    owner: Any  # the Connection that submitted it; jobs are only visible to their owner
    cancel: threading.Event = field(default_factory=threading.Event)
    ended: bool = False  # its one result / cancelled / error frame has been sent
    position: int = 0  # the queue position last reported to the owner

    @property
    def id(self) -> str:
        return self.request.job


class JobQueue:
    """FIFO of jobs run one by one on a worker thread by `run(job)`.

    `on_position(job, position)` is called when a job is queued and for every waiting job whose
    position changed because a job ahead of it started or left the queue; position = number of
    waiting jobs ahead of it (the running one not counted: 0 starts next). It is called under the
    queue's lock, so a job's position reports are in order and precede its start: it must not
    block. The worker survives whatever `run` raises.
    """

    def __init__(self, run: Callable[[Job], None], on_position: Callable[[Job, int], None], limits: Limits) -> None:
        self._run = run
        self._on_position = on_position
        self._limits = limits
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._worker = threading.Thread(target=self._loop, name="refine-worker", daemon=True)
        self._worker.start()

    def submit(self, job: Job) -> int:
        """Queue a job. Returns its position. Raises RequestError (queue_full; bad_request for an
        id the owner still uses) without queueing it."""
        lim = self._limits
        with self._cond:
            if self._stopping:
                raise RequestError(m.QUEUE_FULL, "the engine is shutting down")
            if any(j.owner is job.owner and j.id == job.id for j in self._jobs()):
                raise RequestError(
                    m.BAD_REQUEST, f"job {job.id!r} is already queued or running on this connection", job_scoped=False
                )
            mine = sum(j.owner is job.owner for j in self._waiting)
            if mine >= lim.max_queue_per_client:
                raise RequestError(m.QUEUE_FULL, f"you have {mine} jobs waiting (limit {lim.max_queue_per_client} per client)")
            if len(self._waiting) >= lim.max_queue:
                raise RequestError(
                    m.QUEUE_FULL, f"{len(self._waiting)} jobs are waiting (limit {lim.max_queue}); try again later"
                )
            queued_bytes = sum(j.request.nbytes for j in self._waiting)
            if self._waiting and queued_bytes + job.request.nbytes > lim.max_queued_bytes:
                raise RequestError(
                    m.QUEUE_FULL,
                    f"the waiting jobs hold {queued_bytes >> 20} MiB (limit {lim.max_queued_bytes >> 20}); try again later",
                )
            self._waiting.append(job)
            job.position = len(self._waiting) - 1
            self._on_position(job, job.position)
            self._cond.notify_all()
            return job.position

    def cancel(self, owner: Any, job_id: str | None = None) -> list[Job]:
        """Cancel the owner's job (or all its jobs). A running job is asked to stop (its runner
        reports the end); waiting jobs are removed and returned so the caller can report them."""
        with self._cond:
            removed = [j for j in self._waiting if j.owner is owner and job_id in (None, j.id)]
            for j in removed:
                self._waiting.remove(j)
            if self._running is not None and self._running.owner is owner and job_id in (None, self._running.id):
                self._running.cancel.set()
            self._report_moves()
        for j in removed:
            j.cancel.set()
        return removed

    def snapshot(self, owner: Any) -> dict[str, Any]:
        """Queue state as the owner may see it: totals, and its own jobs with their positions."""
        with self._cond:
            mine = [
                {"job": j.id, "state": m.STATE_QUEUED, "position": i} for i, j in enumerate(self._waiting) if j.owner is owner
            ]
            if self._running is not None and self._running.owner is owner:
                mine.insert(0, {"job": self._running.id, "state": m.STATE_RUNNING, "position": 0})
            return {"busy": self._running is not None, "waiting": len(self._waiting), "jobs": mine}

    def stop(self, timeout: float) -> list[Job]:
        """Cancel everything: the running job is asked to stop (waited for up to `timeout` s), the
        waiting jobs are removed and returned for the caller to report."""
        with self._cond:
            self._stopping = True
            removed = list(self._waiting)
            self._waiting.clear()
            if self._running is not None:
                self._running.cancel.set()
            self._cond.notify_all()
        for j in removed:
            j.cancel.set()
        self._worker.join(timeout)
        if self._worker.is_alive():
            log.warning("the running job did not stop within %.0f s; exiting anyway", timeout)
        return removed

    def _jobs(self) -> list[Job]:
        return ([self._running] if self._running is not None else []) + list(self._waiting)

    def _report_moves(self) -> None:
        """Tell the waiting jobs whose position changed; call under the lock."""
        for i, j in enumerate(self._waiting):
            if i != j.position:
                j.position = i
                self._on_position(j, i)

    def ending(self, job: Job) -> None:
        """The running job's end frame is about to be sent: from now on it is not running (a
        client asking right after its result must find the engine idle, not still cleaning up)."""
        with self._cond:
            if self._running is job:
                self._running = None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._running = self._waiting.popleft()
                try:
                    self._report_moves()
                except Exception:
                    log.exception("reporting queue positions failed")
            try:
                self._run(job)
            except BaseException:  # run() reports its own failures; this is the last line of defence
                log.exception("job %s: unexpected failure in the job runner", job.id)
            finally:
                with self._cond:
                    self._running = None
