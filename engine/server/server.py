"""The socket service: authenticated connections, one reader thread each, a shared job queue."""

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
from refine_protocol import PROTOCOL_VERSION, Blob, Frame, FrameError, read_frame, send_frame

from ..errors import InputError
from .auth import token_matches
from .jobs import Job, JobQueue
from .requests import Limits, RequestError, job_id, parse_refine

log = logging.getLogger("engine.server")
HELLO_TIMEOUT = 10.0  # seconds a new connection has to authenticate


def json_safe(value: Any) -> Any:
    """Replace NaN and inf (which JSON cannot hold) by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class Connection:
    """One client socket. send() is thread-safe and never raises: a dead socket returns False."""

    def __init__(self, sock: socket.socket, address: str, number: int) -> None:
        self.sock = sock
        self.address = address
        self.number = number
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def send(self, header: dict[str, Any], blobs: list[Blob] | tuple[Blob, ...] = ()) -> bool:
        with self._lock:
            if self.closed.is_set():
                return False
            try:
                send_frame(self.sock, header, blobs)
                return True
            except OSError:
                self.close()
                return False

    def error(self, code: str, message: str, job: str | None = None) -> None:
        header = {"type": m.ERROR, "code": code, "message": message}
        self.send(header if job is None else {**header, "job": job})

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()


class Server:
    """`python -m engine serve`. Construct (binds), then serve_forever() until shutdown()."""

    def __init__(
        self, token: str, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None, device: str = "auto"
    ) -> None:
        import torch

        from .. import __version__
        from ..refine import pick_device

        self.token = token
        self.limits = limits or Limits()
        dev = pick_device(device)
        self.device = str(dev)
        self.device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
        self.version = __version__
        self.listener = socket.create_server((host, port))
        self.host, self.port = self.listener.getsockname()[:2]
        self._stop = threading.Event()
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self.queue = JobQueue(self._run_job, self._report_position, self.limits.max_queue)

    # ----------------------------------------------------------------- lifecycle
    def serve_forever(self) -> None:
        self.listener.settimeout(0.2)  # wake up to notice shutdown()
        try:
            while not self._stop.is_set():
                try:
                    sock, addr = self.listener.accept()
                except TimeoutError:
                    continue
                conn = Connection(sock, f"{addr[0]}:{addr[1]}", next(self._numbers))
                threading.Thread(target=self._serve_connection, args=(conn,), name=f"client-{conn.number}", daemon=True).start()
        finally:
            self._close()

    def shutdown(self) -> None:
        self._stop.set()

    def _close(self) -> None:
        self.listener.close()
        self.queue.stop()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.close()
        log.info("engine stopped")

    # --------------------------------------------------------------- connections
    def _serve_connection(self, conn: Connection) -> None:
        with self._lock:
            full = len(self._connections) >= self.limits.max_clients
            if not full:
                self._connections.add(conn)
        if full:
            conn.error("busy", f"{self.limits.max_clients} clients are connected already")
            conn.close()
            return
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stream = conn.sock.makefile("rb")
            if self._handshake(conn, stream):
                while not conn.closed.is_set():
                    frame = read_frame(stream, self.limits.max_frame)
                    if frame is None:
                        break
                    self._dispatch(conn, frame)
        except FrameError as exc:
            conn.error(exc.code, str(exc))
        except OSError:
            pass  # the client went away (or the server closed the socket)
        except Exception as exc:  # a bug: tell the client, keep serving the others
            log.exception("connection %s failed", conn.address)
            conn.error("internal", f"{type(exc).__name__}: {exc}")
        finally:
            # A client that disconnects cancels its jobs.
            self.queue.cancel(conn)
            conn.close()
            with self._lock:
                self._connections.discard(conn)

    def _handshake(self, conn: Connection, stream: Any) -> bool:
        conn.sock.settimeout(HELLO_TIMEOUT)
        try:
            frame = read_frame(stream, 64 * 1024)
        except TimeoutError:
            conn.error("auth_failed", f"no hello within {HELLO_TIMEOUT:.0f} s")
            return False
        if frame is None:
            return False
        conn.sock.settimeout(None)
        if frame.type != m.HELLO or not token_matches(frame.header.get("token"), self.token):
            log.warning("refused %s: missing or wrong token", conn.address)
            conn.error("auth_failed", "the first message must be a hello with the engine's token")
            return False
        if frame.header.get("protocol") != PROTOCOL_VERSION:
            conn.error(
                "protocol_mismatch",
                f"the engine speaks protocol {PROTOCOL_VERSION}, the client {frame.header.get('protocol')!r}; update the older side",
            )
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
                conn.send({"type": m.CANCELLED, "job": removed.id, "iterations_run": 0})
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
            conn.send({"type": m.BYE})
            self.shutdown()
        else:
            conn.error("bad_request", f"unknown message type {kind!r}")

    def _submit(self, conn: Connection, frame: Frame) -> None:
        job = frame.header.get("job") if isinstance(frame.header.get("job"), str) else None
        try:
            request = parse_refine(frame, self.limits)
            request.settings = request.settings.with_overrides(device=self.device.split(":")[0])
            position = self.queue.submit(Job(request, conn))
        except RequestError as exc:
            conn.error(exc.code, str(exc), job)
            return
        conn.send({"type": m.QUEUED, "job": request.job, "position": position})

    def _report_position(self, job: Job, position: int) -> None:
        job.owner.send({"type": m.QUEUED, "job": job.id, "position": position})

    # ----------------------------------------------------------------------- jobs
    def _run_job(self, job: Job) -> None:
        import torch

        from ..refine import refine

        req, conn = job.request, job.owner
        conn.send({"type": m.STARTED, "job": job.id, "device": self.device})
        interval = 1.0 / req.progress_hz if req.progress_hz > 0 else math.inf
        last_sent = -math.inf

        def progress(p: Any) -> bool:
            nonlocal last_sent
            now = time.monotonic()
            if not job.cancel.is_set() and (now - last_sent >= interval or (p.iteration == p.total and interval < math.inf)):
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
                blobs = [Blob.from_array("vertices", p.vertices(), "f32")] if req.progress_vertices else []
                if not conn.send(header, blobs):
                    job.cancel.set()
            return job.cancel.is_set()

        t0 = time.perf_counter()
        outcome = "failed"
        try:
            result = refine(req.verts, req.faces, req.mask, req.camera, req.settings, req.rgb, progress)
        except InputError as exc:
            conn.error("invalid_input", str(exc), job.id)
        except (torch.OutOfMemoryError, MemoryError) as exc:
            conn.error(
                "out_of_memory", f"the {self.device} ran out of memory: {str(exc).splitlines()[0] if str(exc) else ''}", job.id
            )
            outcome = "out of memory"
        except Exception as exc:
            log.exception("job %s failed", job.id)
            conn.error("internal", f"{type(exc).__name__}: {exc}", job.id)
        else:
            iterations = result.report["iterations_run"]
            if result.cancelled:
                outcome = f"cancelled after {iterations} it"
                conn.send({"type": m.CANCELLED, "job": job.id, "iterations_run": iterations})
            else:
                outcome = f"done, {iterations} it (best {result.report['best_iteration']})"
                vertices = Blob.from_array("vertices", np.asarray(result.vertices), "f32")
                conn.send({"type": m.RESULT, "job": job.id, "report": json_safe(result.report)}, [vertices])
        finally:
            if self.device.startswith("cuda"):
                torch.cuda.empty_cache()
        h, w = req.mask.shape
        log.info(
            "job %d/%s from %s: %d vertices, %d faces, %dx%d px, %s on %s in %.1f s",
            conn.number,
            job.id,
            conn.address,
            len(req.verts),
            len(req.faces),
            w,
            h,
            outcome,
            self.device,
            time.perf_counter() - t0,
        )
