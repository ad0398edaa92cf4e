"""A refinement running on a worker thread: socket I/O off Blender's main thread. The main thread
only drains `events` (standard library only, no bpy)."""

from __future__ import annotations

import itertools
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from .engine_link import EngineConfig, EngineLink, EngineUnavailable
from .refine_protocol import messages as m
from .refine_protocol.client import EngineClient, EngineError
from .refine_protocol.request import RefineRequest

_ids = itertools.count(1)


@dataclass
class Event:
    """kind: a message name (messages.QUEUED, STARTED, PROGRESS, RESULT, CANCELLED, ERROR).
    For progress/result, `vertices` is (V, 3) float32 world positions (or None)."""

    kind: str
    header: dict[str, Any] = field(default_factory=dict)
    vertices: Any = None
    mask: Any = None  # result: (H, W) uint8, the silhouette the engine found in the photo (row 0 at the top)


class RefineJob:
    """Start with start(); poll `events`; cancel() from any thread. Always ends with exactly one
    of result / cancelled / error."""

    def __init__(self, link: EngineLink, config: EngineConfig, request: RefineRequest) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.id = f"blender-{next(_ids)}"
        self._link, self._config, self._request = link, config, request
        self._client: EngineClient | None = None  # set once the request is sent
        self._cancel = threading.Event()
        self._send = threading.Lock()  # a cancel frame must never interleave with another frame
        self._thread = threading.Thread(target=self._run, name=f"refine-{self.id}", daemon=True)

    def start(self) -> RefineJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        with self._send:
            self._cancel.set()
            if self._client is not None:
                try:
                    self._client.cancel(self.id)
                except OSError:
                    pass

    def _run(self) -> None:
        try:
            client = self._link.connect(self._config)
        except (EngineUnavailable, EngineError) as exc:
            self.events.put(Event(m.ERROR, {"code": m.UNREACHABLE, "message": str(exc)}))
            return
        try:
            if self._cancel.is_set():
                self.events.put(Event(m.CANCELLED))
                return
            client.submit(self.id, self._request)
            with self._send:
                self._client = client
                if self._cancel.is_set():  # cancelled while the request was being sent
                    client.cancel(self.id)
            for frame in client.job_frames(self.id):
                arrays = {name: blob.to_array() for name, blob in frame.blobs.items() if name in ("vertices", "mask")}
                self.events.put(Event(frame.type, frame.header, arrays.get("vertices"), arrays.get("mask")))
                if frame.type in m.JOB_END:
                    return
        except EngineError as exc:  # e.g. the engine died mid-run
            self.events.put(Event(m.ERROR, {"code": exc.code, "message": f"the engine stopped answering ({exc.message})"}))
        except OSError as exc:
            self.events.put(Event(m.ERROR, {"code": m.DISCONNECTED, "message": f"lost the engine: {exc}"}))
        finally:
            client.close()
