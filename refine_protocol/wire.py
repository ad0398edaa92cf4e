"""Length-prefixed frames: a small JSON header plus raw little-endian binary blobs.

Frame layout (all integers little-endian):

    offset  size  field
    0       4     magic b"RFN1"
    4       4     uint32 header length H (1 .. MAX_HEADER)
    8       8     uint64 payload length P
    16      H     header: UTF-8 JSON object with at least "type" (string) and "blobs" (list)
    16+H    P     payload: the blobs' bytes, concatenated in the order of "blobs"

Each entry of "blobs" is {"name": str, "dtype": "f32" | "i32" | "u8", "shape": [int, ...]}; its
byte size is prod(shape) * itemsize and the sizes add up to P exactly. Nothing is ever unpickled
or evaluated: the header is parsed as JSON, the payload is only sliced.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

MAGIC = b"RFN1"
PROTOCOL_VERSION = 1
PREFIX = struct.Struct("<4sIQ")
MAX_HEADER = 64 * 1024
MAX_INT = 2**63  # JSON integers must lie in -2^63 .. 2^63-1
CHUNK = 1 << 20  # bodies are read (and their memory claimed) this many bytes at a time
_ZEROS = bytes(CHUNK)
DEFAULT_MAX_FRAME = 512 * 1024 * 1024
DTYPES = {"f32": ("<f4", 4), "i32": ("<i4", 4), "u8": ("|u1", 1)}
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


class FrameError(ValueError):
    """A malformed, oversized or truncated frame. `code` is the protocol error code; `fatal` says
    whether the byte stream is lost (False: the frame was read whole, only its content is bad)."""

    def __init__(self, message: str, code: str = "bad_frame", fatal: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.fatal = fatal


class ByteBudget(Protocol):
    """Memory a reader may claim for frame bodies (see read_frame)."""

    def take(self, n: int) -> bool: ...
    def give(self, n: int) -> None: ...


@dataclass(frozen=True)
class Blob:
    """A binary array in a frame: raw little-endian bytes with a dtype code and a shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    data: bytes | memoryview

    @classmethod
    def from_array(cls, name: str, array: Any, dtype: str) -> Blob:
        """From a numpy array (converted to the little-endian dtype), or raw bytes for dtype u8."""
        if isinstance(array, (bytes, bytearray, memoryview)):
            if dtype != "u8":
                raise ValueError("raw bytes can only be sent as dtype u8")
            data = bytes(array)
            return cls(name, dtype, (len(data),), data)
        import numpy as np

        arr = np.ascontiguousarray(array, dtype=DTYPES[dtype][0])
        return cls(name, dtype, tuple(int(n) for n in arr.shape), arr.tobytes())

    def to_array(self) -> Any:
        """A read-only numpy view of the bytes, with the blob's shape."""
        import numpy as np

        return np.frombuffer(self.data, dtype=DTYPES[self.dtype][0]).reshape(self.shape)


@dataclass
class Frame:
    """A decoded frame: the JSON header (without "blobs") and the blobs by name. `nbytes`: the
    body's size (what read_frame claimed from its budget)."""

    header: dict[str, Any]
    blobs: dict[str, Blob] = field(default_factory=dict)
    nbytes: int = 0

    @property
    def type(self) -> str:
        return self.header["type"]


def frame_parts(header: dict[str, Any], blobs: list[Blob] | tuple[Blob, ...] = ()) -> list[bytes | memoryview]:
    """The frame as a list of buffers (prefix + header, then each blob's bytes, uncopied)."""
    if "blobs" in header:
        raise ValueError("'blobs' is reserved: pass arrays as Blob objects")
    head = dict(header)
    head["blobs"] = [{"name": b.name, "dtype": b.dtype, "shape": list(b.shape)} for b in blobs]
    raw = json.dumps(head, separators=(",", ":"), allow_nan=False).encode()
    if len(raw) > MAX_HEADER:
        raise FrameError(f"header of {len(raw)} bytes exceeds {MAX_HEADER}", "too_large")
    payload = sum(len(b.data) for b in blobs)
    return [PREFIX.pack(MAGIC, len(raw), payload) + raw, *[memoryview(b.data) for b in blobs]]


def encode_frame(header: dict[str, Any], blobs: list[Blob] | tuple[Blob, ...] = ()) -> bytes:
    """Serialize a header (a JSON object with "type") and blobs into one frame."""
    return b"".join(frame_parts(header, blobs))


def send_frame(sock: Any, header: dict[str, Any], blobs: list[Blob] | tuple[Blob, ...] = ()) -> None:
    """Write one frame to a socket without joining big blobs into one buffer first."""
    parts = frame_parts(header, blobs)
    if sum(len(p) for p in parts) <= 1 << 16:
        sock.sendall(b"".join(parts))
    else:
        for part in parts:
            sock.sendall(part)


def parse_prefix(prefix: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> tuple[int, int]:
    """Validate the 16-byte prefix. Returns (header length, payload length)."""
    if len(prefix) != PREFIX.size:
        raise FrameError("truncated frame prefix", "truncated")
    magic, h, p = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise FrameError("not a REFINE frame (bad magic)")
    if not 1 <= h <= MAX_HEADER:
        raise FrameError(f"header length {h} outside 1..{MAX_HEADER}")
    if PREFIX.size + h + p > max_frame:
        raise FrameError(f"frame of {PREFIX.size + h + p} bytes exceeds the limit of {max_frame}", "too_large")
    return h, p


def _parse_blobs(specs: Any, payload: memoryview) -> dict[str, Blob]:
    if not isinstance(specs, list) or len(specs) > 16:
        raise FrameError("'blobs' must be a list of at most 16 entries")
    blobs: dict[str, Blob] = {}
    offset = 0
    for spec in specs:
        if not isinstance(spec, dict) or set(spec) != {"name", "dtype", "shape"}:
            raise FrameError("each blob needs exactly 'name', 'dtype' and 'shape'")
        name, dtype, shape = spec["name"], spec["dtype"], spec["shape"]
        if not isinstance(name, str) or not 0 < len(name) <= 32 or not set(name) <= _NAME_CHARS or name in blobs:
            raise FrameError(f"bad or duplicate blob name {name!r}")
        if dtype not in DTYPES:
            raise FrameError(f"blob {name!r}: dtype must be one of {', '.join(DTYPES)}")
        if not isinstance(shape, list) or not 1 <= len(shape) <= 4 or not all(type(n) is int and 0 <= n < 2**40 for n in shape):
            raise FrameError(f"blob {name!r}: shape must be 1 to 4 non-negative integers")
        size = math.prod(shape) * DTYPES[dtype][1]
        if offset + size > len(payload):
            raise FrameError(f"blob {name!r} runs past the end of the payload")
        blobs[name] = Blob(name, dtype, tuple(shape), payload[offset : offset + size])
        offset += size
    if offset != len(payload):
        raise FrameError(f"payload has {len(payload) - offset} bytes not described by 'blobs'")
    return blobs


class _NumberOutOfRange(Exception):
    pass


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberOutOfRange(f"number {text[:24]} is out of range")
    return value


def _parse_int(text: str) -> int:
    # Checked on the digits first: converting a 4000-digit string is itself slow.
    if len(text.lstrip("-")) > 19 or not -MAX_INT <= int(text) < MAX_INT:
        raise _NumberOutOfRange(f"integer {text[:24]}{'...' if len(text) > 24 else ''} is out of range (-2^63..2^63-1)")
    return int(text)


def decode_body(header_bytes: bytes | memoryview, payload: bytes | memoryview) -> Frame:
    """Parse the header JSON and slice the payload into blobs (no copies).

    A number JSON can write but a float64 / int64 cannot hold (1e999, a 400-digit integer) raises a
    non-fatal FrameError with code bad_request: the frame itself was well delimited."""
    try:
        header = json.loads(
            bytes(header_bytes).decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except _NumberOutOfRange as exc:
        raise FrameError(f"header: {exc}", "bad_request", fatal=False) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise FrameError(f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise FrameError("header must be a JSON object with a string 'type'")
    blobs = _parse_blobs(header.pop("blobs", []), memoryview(payload))
    return Frame(header, blobs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def decode_frame(data: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> Frame:
    """Decode one complete frame held in memory (exactly one: trailing bytes are an error)."""
    h, p = parse_prefix(bytes(data[: PREFIX.size]), max_frame)
    if len(data) != PREFIX.size + h + p:
        raise FrameError(f"frame has {len(data)} bytes, its prefix says {PREFIX.size + h + p}", "truncated")
    view = memoryview(data)
    return decode_body(view[PREFIX.size : PREFIX.size + h], view[PREFIX.size + h :])


def _read_exactly(stream: BinaryIO, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not k:
            raise FrameError(f"connection closed after {got} of {n} bytes", "truncated")
        got += k
    return buf


def _read_body(stream: BinaryIO, n: int, budget: ByteBudget | None) -> bytearray:
    """Read n bytes, growing the buffer as the bytes arrive (a prefix alone costs no memory),
    claiming each chunk from `budget` first. On failure everything claimed is given back."""
    buf = bytearray()
    try:
        while len(buf) < n:
            step = min(CHUNK, n - len(buf))
            if budget is not None and not budget.take(step):
                raise FrameError("the engine is receiving too much data at once; try again later", "busy")
            start = len(buf)
            buf += _ZEROS if step == CHUNK else _ZEROS[:step]
            with memoryview(buf) as view:
                got = start
                while got < start + step:
                    k = stream.readinto(view[got : start + step])  # type: ignore[attr-defined]
                    if not k:
                        raise FrameError(f"connection closed after {got} of {n} bytes", "truncated")
                    got += k
    except BaseException:
        if budget is not None:
            budget.give(len(buf))
        raise
    return buf


def read_frame(stream: BinaryIO, max_frame: int = DEFAULT_MAX_FRAME, budget: ByteBudget | None = None) -> Frame | None:
    """Read one frame from a binary stream (e.g. `socket.makefile("rb")`).

    Returns None on a clean end of stream before a frame starts; raises FrameError otherwise.
    With a `budget`, the body's memory is claimed from it chunk by chunk; on success the returned
    frame's `nbytes` stay claimed (the caller gives them back when done with the frame), on
    failure they are given back.
    """
    first = stream.read(1)
    if not first:
        return None
    prefix = first + bytes(_read_exactly(stream, PREFIX.size - 1))
    h, p = parse_prefix(prefix, max_frame)
    body = _read_body(stream, h + p, budget)
    view = memoryview(body)
    try:
        frame = decode_body(view[:h], view[h:])
    except BaseException:
        if budget is not None:
            budget.give(len(body))
        raise
    frame.nbytes = len(body)
    return frame
