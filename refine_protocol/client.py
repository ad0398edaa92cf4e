"""A blocking client for the engine: standard library (+ numpy for arrays), no engine code.

Used by the Blender add-on (from a worker thread), the tests and the benchmarks::

    with EngineClient.connect("127.0.0.1", port, token) as client:
        client.submit("job1", RefineRequest(verts, faces, camera_fields, image=png_bytes))
        for frame in client.job_frames("job1"):
            ...  # progress frames, then one of result / cancelled / error
"""

from __future__ import annotations

import collections
import socket
from collections.abc import Iterator
from typing import Any

from . import messages as m
from .request import RefineRequest
from .wire import DEFAULT_MAX_FRAME, PROTOCOL_VERSION, Blob, Frame, read_frame, send_frame


class EngineError(RuntimeError):
    """An error frame from the engine (or a lost connection: code "disconnected")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class EngineClient:
    """One authenticated connection. Not thread-safe: use it from one thread (cancel() excepted)."""

    def __init__(self, sock: socket.socket, stream: Any, welcome: Frame, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.sock = sock
        self.info: dict[str, Any] = welcome.header  # engine version, device, limits
        self._stream = stream
        self._max_frame = max_frame
        self._pending: collections.deque[Frame] = collections.deque()

    @classmethod
    def connect(cls, host: str, port: int, token: str, *, timeout: float = 10.0, client: str = "refine_protocol") -> EngineClient:
        """Connect and authenticate. Raises OSError if unreachable, EngineError if refused."""
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            send_frame(sock, {"type": m.HELLO, "protocol": PROTOCOL_VERSION, "token": token, "client": client})
            stream = sock.makefile("rb")
            welcome = read_frame(stream)
            if welcome is None:
                raise EngineError("disconnected", "the engine closed the connection during the handshake")
            _raise_if_error(welcome)
            sock.settimeout(None)
            return cls(sock, stream, welcome)
        except BaseException:
            sock.close()
            raise

    # ------------------------------------------------------------------ sending
    def send(self, header: dict[str, Any], blobs: list[Blob] | tuple[Blob, ...] = ()) -> None:
        send_frame(self.sock, header, blobs)

    def submit(self, job: str, request: RefineRequest) -> None:
        """Queue a refinement (request.RefineRequest) under the id `job`."""
        self.send(*request.to_frame(job))

    def cancel(self, job: str) -> None:
        self.send({"type": m.CANCEL, "job": job})

    def shutdown(self) -> None:
        self.send({"type": m.SHUTDOWN})

    # ---------------------------------------------------------------- receiving
    def receive(self) -> Frame:
        """The next frame (buffered ones first). Raises EngineError("disconnected") at end of stream."""
        if self._pending:
            return self._pending.popleft()
        frame = read_frame(self._stream, self._max_frame)
        if frame is None:
            raise EngineError("disconnected", "the engine closed the connection")
        return frame

    def request(self, header: dict[str, Any], reply: str, blobs: list[Blob] | tuple[Blob, ...] = ()) -> Frame:
        """Send a message and wait for the reply of type `reply`; other frames stay buffered."""
        self.send(header, blobs)
        skipped: list[Frame] = []
        try:
            while True:
                frame = self.receive()
                if frame.type == reply or (frame.type == m.ERROR and "job" not in frame.header):
                    _raise_if_error(frame)
                    return frame
                skipped.append(frame)
        finally:
            self._pending.extendleft(reversed(skipped))

    def status(self) -> dict[str, Any]:
        return self.request({"type": m.STATUS}, m.STATUS).header

    def job_frames(self, job: str) -> Iterator[Frame]:
        """Frames of one job until (and including) its result, cancelled or error frame (or an
        error about the whole connection, which ends the job too)."""
        skipped: list[Frame] = []
        try:
            while True:
                frame = self.receive()
                connection_error = frame.type == m.ERROR and "job" not in frame.header
                if frame.header.get("job") != job and not connection_error:
                    skipped.append(frame)
                    continue
                yield frame
                if frame.type in m.JOB_END or connection_error:
                    return
        finally:
            self._pending.extendleft(reversed(skipped))

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self.sock.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _raise_if_error(frame: Frame) -> None:
    if frame.type == m.ERROR:
        raise EngineError(str(frame.header.get("code")), str(frame.header.get("message")))
