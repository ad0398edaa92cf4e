"""The socket service: authenticated connections (a reader and a writer thread each), a shared job
queue, and a reaper that enforces the liveness rules of docs/protocol.md so that no client, job or
stranger can stop the engine serving the others."""

from __future__ import annotations

import itertools
import logging
import math
import socket
import threading
import time
from typing import Any

import numpy as np

import refine_protocol.messages as m
from refine_protocol import PROTOCOL_VERSION, Blob, Frame, FrameError, read_frame

from ..device import pick_device
from ..errors import InputError
from ..refine import refine_inputs
from ..settings import AUTO
from .auth import token_matches
from .budget import ByteBudget
from .connection import Connection
from .jobs import Job, JobQueue
from .requests import Limits, RequestError, job_id, parse_refine

log = logging.getLogger("engine.server")
MAX_HELLO = 64 * 1024  # bytes: the one frame a stranger may send
SHUTDOWN_JOB_WAIT = 10.0  # seconds shutdown waits for the running job's current iteration
SHUTDOWN_FLUSH = 2.0  # seconds shutdown gives clients to receive their last frames


def json_safe(value: Any) -> Any:
    """Replace NaN and inf (which JSON cannot hold) by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def history_blob(history: list[dict[str, float]]) -> tuple[list[str], Blob]:
    """Per-iteration losses as a (N, C) float32 blob (NaN where a value is not finite) and its
    column names: any number of iterations, outside the size-capped header."""
    columns = list(history[0]) if history else []
    table = np.array([[rec.get(c, math.nan) for c in columns] for rec in history], dtype=np.float32).reshape(
        len(history), len(columns)
    )
    return columns, Blob.from_array("history", table, "f32")


class RateLimitedLog:
    """At most `burst` warnings per `period` seconds; the rest are counted and summed up later, so
    a stranger knocking on the port cannot flood the log."""

    def __init__(self, burst: int = 5, period: float = 60.0) -> None:
        self._burst, self._period = burst, period
        self._start, self._count, self._suppressed = -math.inf, 0, 0
        self._lock = threading.Lock()

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._start > self._period:
                if self._suppressed:
                    log.warning("%d more refused connections in the last %.0f s", self._suppressed, self._period)
                self._start, self._count, self._suppressed = now, 0, 0
            self._count += 1
            if self._count > self._burst:
                self._suppressed += 1
                return
        log.warning(message, *args)


class Server:
    """`python -m engine serve`. Construct (binds), then serve_forever() until shutdown()."""

    def __init__(
        self, token: str, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None, device: str = AUTO
    ) -> None:
        import torch

        from .. import __version__
        from ..threads import usable_cpus

        self.token = token
        self.limits = limits or Limits()
        dev = pick_device(device)
        self.device = str(dev)
        self.device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({usable_cpus()} cores)"
        self.version = __version__
        self.listener = socket.create_server((host, port))
        self.host, self.port = self.listener.getsockname()[:2]
        self.inflight = ByteBudget(self.limits.max_inflight_bytes, wait=self.limits.stall_seconds)
        self._stop = threading.Event()
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._refusals = RateLimitedLog()
        self.queue = JobQueue(self._run_job, self._report_position, self.limits)

    # ----------------------------------------------------------------- lifecycle
    def serve_forever(self) -> None:
        self.listener.settimeout(0.2)  # wake up to reap stuck connections and notice shutdown()
        try:
            while not self._stop.is_set():
                try:
                    sock, addr = self.listener.accept()
                except TimeoutError:
                    pass
                else:
                    self._open(sock, f"{addr[0]}:{addr[1]}")
                self._reap()
        finally:
            self._close()

    def shutdown(self) -> None:
        self._stop.set()

    def _close(self) -> None:
        """Stop: cancel every job (each owner gets its cancelled frame), say bye to every client,
        give them a moment to read it, close. Bounded in time whatever the clients do."""
        self.listener.close()
        for job in self.queue.stop(SHUTDOWN_JOB_WAIT):
            self._end(job, {"type": m.CANCELLED, "job": job.id, "iterations_run": 0})
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            if conn.authenticated:
                conn.send({"type": m.BYE})
            conn.finish()
        deadline = time.monotonic() + SHUTDOWN_FLUSH
        for conn in connections:
            conn.wait_closed(max(0.0, deadline - time.monotonic()))
            conn.close()
        log.info("engine stopped")

    # --------------------------------------------------------------- connections
    def _open(self, sock: socket.socket, address: str) -> None:
        conn = Connection(sock, address, next(self._numbers), self.limits.max_backlog)
        with self._lock:
            strangers = [c for c in self._connections if not c.authenticated and not c.closing]
            # A full waiting room evicts its oldest: a real client says hello within milliseconds,
            # so sockets that only sit there can never keep it out.
            evicted = min(strangers, key=lambda c: c.opened) if len(strangers) >= self.limits.max_unauthenticated else None
            self._connections.add(conn)
        if evicted is not None:
            self._refuse(evicted, "too many connections waiting to authenticate")
        threading.Thread(target=self._serve_connection, args=(conn,), name=f"client-{conn.number}", daemon=True).start()

    def _reap(self) -> None:
        """Close connections that broke a liveness rule (docs/protocol.md, "Liveness")."""
        now = time.monotonic()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            if not conn.authenticated and not conn.closing and now - conn.opened > self.limits.hello_seconds:
                self._refuse(conn, f"no hello within {self.limits.hello_seconds} s")
            elif conn.stalled_for(now) > self.limits.stall_seconds:
                log.warning("client %s stalled for over %d s; disconnecting it", conn.address, self.limits.stall_seconds)
                conn.close()  # its reader ends and cancels its jobs

    def _refuse(self, conn: Connection, reason: str, code: str = m.AUTH_FAILED) -> None:
        self._refusals.warning("refused %s: %s", conn.address, reason)
        conn.error(code, reason)
        conn.finish()

    def _serve_connection(self, conn: Connection) -> None:
        try:
            if self._handshake(conn):
                self._session(conn)
        except OSError:
            pass  # the client went away (or the server closed the socket)
        except Exception as exc:  # a bug: tell the client, keep serving the others
            log.exception("connection %s failed", conn.address)
            conn.error(m.INTERNAL, f"{type(exc).__name__}: {exc}")
            conn.finish()
        finally:
            self.queue.cancel(conn)  # a client that disconnects cancels its jobs
            conn.finish()
            with self._lock:
                self._connections.discard(conn)

    def _handshake(self, conn: Connection) -> bool:
        try:
            frame = read_frame(conn.inbound, MAX_HELLO)
        except FrameError as exc:
            self._refuse(conn, str(exc), exc.code)
            return False
        conn.inbound.frame_done()
        if frame is None:
            return False
        if frame.type != m.HELLO or not token_matches(frame.header.get("token"), self.token):
            self._refuse(conn, "the first message must be a hello with the engine's token")
            return False
        protocol = frame.header.get("protocol")
        if type(protocol) is not int or protocol != PROTOCOL_VERSION:
            self._refuse(
                conn,
                f"the engine speaks protocol {PROTOCOL_VERSION}, the client {protocol!r}; update the older side",
                m.PROTOCOL_MISMATCH,
            )
            return False
        with self._lock:
            full = sum(c.authenticated for c in self._connections) >= self.limits.max_clients
            conn.authenticated = not full
        if full:
            self._refuse(conn, f"{self.limits.max_clients} clients are connected already", m.BUSY)
            return False
        conn.send(
            {
                "type": m.WELCOME,
                "protocol": PROTOCOL_VERSION,
                "engine_version": self.version,
                "device": self.device,
                "device_name": self.device_name,
                "limits": self.limits.to_dict(),
            }
        )
        return True

    def _session(self, conn: Connection) -> None:
        """Read frames until the client leaves. Only a frame that loses the byte stream ends it."""
        while not conn.closed.is_set():
            try:
                frame = read_frame(conn.inbound, self.limits.max_frame, self.inflight)
            except FrameError as exc:
                conn.inbound.frame_done()
                conn.error(exc.code, str(exc))
                if exc.fatal:
                    conn.finish()
                    return
                continue
            conn.inbound.frame_done()
            if frame is None:
                return
            try:
                self._dispatch(conn, frame)
            except Exception as exc:  # a bug; the framing is intact, so the connection stays open
                log.exception("message %r from %s failed", frame.type, conn.address)
                conn.error(m.INTERNAL, f"{type(exc).__name__}: {exc}")
            finally:
                self.inflight.give(frame.nbytes)  # a queued job's bytes count against the queue's budget instead

    def _dispatch(self, conn: Connection, frame: Frame) -> None:
        kind = frame.type
        if kind == m.REFINE:
            self._submit(conn, frame)
        elif kind == m.CANCEL:
            try:
                job = job_id(frame.header)
            except RequestError as exc:
                conn.error(exc.code, str(exc))
                return
            for removed in self.queue.cancel(conn, job):
                self._end(removed, {"type": m.CANCELLED, "job": removed.id, "iterations_run": 0})
        elif kind == m.STATUS:
            conn.send(
                {
                    "type": m.STATUS,
                    "engine_version": self.version,
                    "protocol": PROTOCOL_VERSION,
                    "device": self.device,
                    "device_name": self.device_name,
                    **self.queue.snapshot(conn),
                }
            )
        elif kind == m.ECHO:
            conn.send({"type": m.ECHO, "data": frame.header.get("data")}, list(frame.blobs.values()))
        elif kind == m.SHUTDOWN:
            log.info("shutdown requested by %s", conn.address)
            self.shutdown()  # everyone, this client included, gets bye
        else:
            conn.error(m.BAD_REQUEST, f"unknown message type {kind!r}")

    def _submit(self, conn: Connection, frame: Frame) -> None:
        job = frame.header.get("job") if isinstance(frame.header.get("job"), str) else None
        try:
            request = parse_refine(frame, self.limits)
            request.settings = request.settings.with_overrides(device=self.device.split(":")[0])
            self.queue.submit(Job(request, conn))  # sends "queued"
        except RequestError as exc:
            conn.error(exc.code, str(exc), job if exc.job_scoped else None)

    def _report_position(self, job: Job, position: int) -> None:
        job.owner.send({"type": m.QUEUED, "job": job.id, "position": position})

    # ----------------------------------------------------------------------- jobs
    def _end(self, job: Job, header: dict[str, Any], blobs: list[Blob] | tuple[Blob, ...] = ()) -> None:
        """Send the job's one end frame (later calls do nothing); if it cannot be encoded, an
        internal error ends the job instead."""
        if job.ended:
            return
        job.ended = True
        self.queue.ending(job)
        try:
            job.owner.send(header, blobs)
        except Exception as exc:
            log.exception("job %s: its %s frame could not be sent", job.id, header.get("type"))
            job.owner.error(m.INTERNAL, f"the job's {header.get('type')} could not be sent: {type(exc).__name__}: {exc}", job.id)

    def _run_job(self, job: Job) -> None:
        """Run one job; whatever happens, its owner gets exactly one result, cancelled or error."""
        t0 = time.perf_counter()
        outcome = "failed"
        try:
            outcome = self._execute(job)
        except BaseException as exc:  # the worker must survive anything a job does
            log.exception("job %s failed", job.id)
            self._end(job, {"type": m.ERROR, "code": m.INTERNAL, "message": f"{type(exc).__name__}: {exc}", "job": job.id})
        finally:
            self._end(job, {"type": m.ERROR, "code": m.INTERNAL, "message": "the job ended without a result", "job": job.id})
            if self.device.startswith("cuda"):
                import torch

                torch.cuda.empty_cache()
        req, conn = job.request, job.owner
        w, h = req.camera.image_size_wh
        log.info(
            "job %d/%s from %s: %d vertices, %d faces, %dx%d px, %s on %s in %.1f s",
            conn.number, job.id, conn.address, len(req.verts), len(req.faces), w, h, outcome, self.device,
            time.perf_counter() - t0,
        )  # fmt: skip

    def _execute(self, job: Job) -> str:
        """Refine and send the end frame. Returns the outcome for the log."""
        import torch

        req, conn = job.request, job.owner
        conn.send({"type": m.STARTED, "job": job.id, "device": self.device})
        try:
            result = refine_inputs(req.inputs(), self._progress_callback(job))
        except InputError as exc:
            self._end(job, {"type": m.ERROR, "code": m.INVALID_INPUT, "message": str(exc), "job": job.id})
            return "invalid input"
        except (torch.OutOfMemoryError, MemoryError) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            message = f"the {self.device} ran out of memory: {first_line}"
            self._end(job, {"type": m.ERROR, "code": m.OUT_OF_MEMORY, "message": message, "job": job.id})
            return "out of memory"
        iterations = result.report.iterations_run
        if result.cancelled:
            self._end(job, {"type": m.CANCELLED, "job": job.id, "iterations_run": iterations})
            return f"cancelled after {iterations} it"
        report = result.report.to_dict()
        report["history_columns"], history = history_blob(report.pop("history"))
        vertices = Blob.from_array("vertices", np.asarray(result.vertices), "f32")
        header = {"type": m.RESULT, "job": job.id, "report": json_safe(report), "camera": result.camera.to_dict()}
        blobs = [vertices, history]
        if req.mask is None and result.mask is not None:  # found in the photo: the client may show and correct it
            blobs.append(Blob.from_array("mask", np.round(result.mask * 255).astype(np.uint8), "u8"))
        self._end(job, header, blobs)
        return f"done, {iterations} it (best {result.report.best_iteration})"

    def _progress_callback(self, job: Job) -> Any:
        """The refinement's per-iteration callback: stream progress (throttled, coalesced in the
        connection's queue) and stop the job when it is cancelled or its client is gone."""
        req, conn = job.request, job.owner
        interval = 1.0 / req.progress_hz if req.progress_hz > 0 else math.inf
        key = f"progress:{job.id}"
        last_sent = -math.inf

        def progress(p: Any) -> bool:
            nonlocal last_sent
            now = time.monotonic()
            last = p.iteration == p.total
            due = req.progress_hz > 0 and (now - last_sent >= interval or last)
            # While the previous frame waits unsent, building a newer one (vertices) is wasted work.
            if due and not job.cancel.is_set() and (last or not conn.has_pending(key)):
                last_sent = now
                header = {
                    "type": m.PROGRESS,
                    "job": job.id,
                    "iteration": p.iteration,
                    "total": p.total,
                    "stage": p.stage,
                    "image_hw": list(p.image_hw),
                    "losses": json_safe(p.losses),
                }
                if p.camera is not None:  # fitting the camera: the mesh has not moved yet
                    header.update(camera=p.camera.to_dict(), camera_fit=p.camera_fit)
                moved = req.progress_vertices and p.camera is None
                blobs = [Blob.from_array("vertices", p.vertices(), "f32")] if moved else []
                if not conn.send(header, blobs, key=key):
                    job.cancel.set()
            return job.cancel.is_set() or conn.closed.is_set()

        return progress
