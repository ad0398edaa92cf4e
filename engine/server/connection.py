"""One client socket: a reader (the connection's own thread, in server.py) and a writer thread that
drains a bounded outbound queue, so a client that stops reading never blocks the job worker or
another client. Liveness (stalls, deadlines) is judged by the server's reaper from the timestamps
kept here."""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import refine_protocol.messages as m
from refine_protocol import Blob
from refine_protocol.wire import CHUNK, frame_parts

log = logging.getLogger("engine.server")


@dataclass
class _Outgoing:
    parts: list[bytes | memoryview]
    size: int
    key: str | None  # frames with a key are stale once a newer one with the same key is queued


class Inbound:
    """The socket's read side as the file-like object read_frame wants (unbuffered: every recv is
    seen), recording when bytes last arrived and whether a frame is half read."""

    def __init__(self, sock: socket.socket) -> None:
        self._raw = sock.makefile("rb", buffering=0)
        self.last_progress = time.monotonic()
        self.mid_frame = False

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        k = self.readinto(buf)
        self.mid_frame = bool(k)
        return bytes(buf[:k])

    def readinto(self, view: Any) -> int:
        k = self._raw.readinto(view) or 0
        self.last_progress = time.monotonic()
        return k

    def frame_done(self) -> None:
        self.mid_frame = False
        self.last_progress = time.monotonic()


class Connection:
    """A client connection. send() never blocks and never raises for socket trouble.

    Frames wait in an outbound queue written by this connection's writer thread. At most
    `max_backlog` bytes may wait: a frame sent with a `key` (progress) replaces the unsent one with
    the same key and is dropped if it does not fit; any other frame that does not fit means the
    client is not reading, and the connection is closed.
    """

    def __init__(self, sock: socket.socket, address: str, number: int, max_backlog: int) -> None:
        self.sock = sock
        self.address = address
        self.number = number
        self.opened = time.monotonic()
        self.authenticated = False
        self.inbound = Inbound(sock)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.closed = threading.Event()
        self._max_backlog = max_backlog
        self._out: collections.deque[_Outgoing] = collections.deque()
        self._backlog = 0
        self._finishing = False
        self._last_write = time.monotonic()
        self._cond = threading.Condition()
        self._writer = threading.Thread(target=self._write_loop, name=f"client-{number}-writer", daemon=True)
        self._writer.start()

    # ------------------------------------------------------------------ sending
    def send(self, header: dict[str, Any], blobs: list[Blob] | tuple[Blob, ...] = (), key: str | None = None) -> bool:
        """Queue a frame. Returns False if the connection is closed (or was closed because its
        backlog overflowed). Raises FrameError if the frame cannot be encoded (a header too large)."""
        parts = frame_parts(header, blobs)
        size = sum(len(p) for p in parts)
        with self._cond:
            if self._finishing or self.closed.is_set():
                return False
            if key is not None:
                stale = next((item for item in self._out if item.key == key), None)
                if stale is not None:
                    self._out.remove(stale)
                    self._backlog -= stale.size
                if self._backlog + size > self._max_backlog:
                    return True  # a progress frame is worth nothing once late: drop it
            overflow = self._backlog + size > self._max_backlog
            if not overflow:
                if not self._backlog:  # the stall clock starts when there is something to write
                    self._last_write = time.monotonic()
                self._out.append(_Outgoing(parts, size, key))
                self._backlog += size
                self._cond.notify()
        if overflow:
            log.warning("client %s does not read its messages (%d bytes waiting); disconnecting it", self.address, self._backlog)
            self.close()
            return False
        return True

    def has_pending(self, key: str) -> bool:
        """Whether a frame with this key still waits (the caller may skip building a newer one)."""
        with self._cond:
            return any(item.key == key for item in self._out)

    def error(self, code: str, message: str, job: str | None = None) -> bool:
        header = {"type": m.ERROR, "code": code, "message": message}
        return self.send(header if job is None else {**header, "job": job})

    # ---------------------------------------------------------------- liveness
    def stalled_for(self, now: float) -> float:
        """Seconds the connection has been stuck: frames waiting but nothing written, or a frame
        half received but nothing arriving. 0 when it is idle or moving."""
        with self._cond:
            writing = now - self._last_write if self._out or self._backlog else 0.0
        reading = now - self.inbound.last_progress if self.inbound.mid_frame else 0.0
        return max(writing, reading)

    # ------------------------------------------------------------------ closing
    @property
    def closing(self) -> bool:
        """finish() or close() was called: nothing new will be sent."""
        return self._finishing or self.closed.is_set()

    def finish(self) -> None:
        """Close after the queued frames are written (an error before hanging up, a bye)."""
        with self._cond:
            self._finishing = True
            self._cond.notify()

    def close(self) -> None:
        """Close now: unblocks the reader and the writer; queued frames are discarded."""
        with self._cond:
            if self.closed.is_set():
                return
            self.closed.set()
            self._out.clear()
            self._backlog = 0
            self._cond.notify()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait_closed(self, timeout: float) -> bool:
        self._writer.join(timeout)
        return not self._writer.is_alive()

    def _write_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._out and not self._finishing and not self.closed.is_set():
                        self._cond.wait()
                    if self.closed.is_set() or not self._out:
                        break
                    item = self._out.popleft()
                    self._last_write = time.monotonic()
                try:
                    for part in item.parts:
                        with memoryview(part) as view:
                            for start in range(0, len(view), CHUNK):
                                self.sock.sendall(view[start : start + CHUNK])
                                self._last_write = time.monotonic()
                except OSError:
                    break
                finally:
                    with self._cond:
                        self._backlog = max(0, self._backlog - item.size)
        finally:
            self.close()
            self.sock.close()
