"""A blocking client for the engine: standard library (+ numpy for arrays), no engine code.

Used by the Blender add-on (from a worker thread), the tests and the benchmarks::

    with EngineClient.connect("127.0.0.1", port, token) as client:
        client.submit("job1", verts, faces, camera_fields, image=png_bytes)
        for frame in client.job_frames("job1"):
            ...  # progress frames, then one of result / cancelled / error
"""

from __future__ import annotations

import collections
import socket
from collections.abc import Iterator
from typing import Any

from . import messages as m
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

    def submit(
        self,
        job: str,
        vertices: Any,
        faces: Any,
        camera: dict[str, Any] | None,
        *,
        image: bytes | None = None,
        mask: Any = None,
        settings: dict[str, Any] | None = None,
        progress_hz: float = 10.0,
        progress_vertices: bool = True,
        find_silhouette: bool = False,
        exif_orientation: bool = True,
        parts: list[int] | None = None,
        occluder: tuple[Any, Any] | None = None,
    ) -> None:
        """Queue a refinement. vertices (V, 3) world units, faces (F, 3); image: an encoded image
        file (PNG with alpha, JPEG, ...); mask: (H, W) float32 in [0, 1] or uint8, row 0 at the top.
        camera: Blender's fields (docs/protocol.md); None only with settings fit_camera "search".
        find_silhouette: ignore the image's alpha, the engine finds the object in the photo.
        exif_orientation: False to use the image's pixels as stored (as Blender shows them), not
        turned as its EXIF orientation tag says (as photo viewers show them).
        parts: vertex counts of consecutive parts when the mesh is several objects refined as one.
        occluder: ((O, 3) world vertices, (G, 3) faces) hiding the object from the camera."""
        blobs = [Blob.from_array("vertices", vertices, "f32"), Blob.from_array("faces", faces, "i32")]
        if image is not None:
            blobs.append(Blob.from_array("image", image, "u8"))
        if occluder is not None:
            blobs += [
                Blob.from_array("occluder_vertices", occluder[0], "f32"),
                Blob.from_array("occluder_faces", occluder[1], "i32"),
            ]
        if mask is not None:
            import numpy as np

            arr = np.asarray(mask)
            blobs.append(Blob.from_array("mask", arr, "u8" if arr.dtype == np.uint8 else "f32"))
        header = {
            "type": m.REFINE,
            "job": job,
            "settings": settings or {},
            "progress_hz": progress_hz,
            "progress_vertices": progress_vertices,
        }
        if camera is not None:
            header["camera"] = camera
        if find_silhouette:
            header["find_silhouette"] = True
        if not exif_orientation:
            header["exif_orientation"] = False
        if parts and len(parts) > 1:
            header["parts"] = list(parts)
        self.send(header, blobs)

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
