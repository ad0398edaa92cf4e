"""The engine <-> client wire format, a client and a launcher: pure standard library (numpy
optional), importable unchanged by the engine and by the Blender add-on.

See docs/protocol.md for the specification.
"""

from .wire import (
    MAGIC,
    PROTOCOL_VERSION,
    Blob,
    Frame,
    FrameError,
    decode_frame,
    encode_frame,
    read_frame,
    send_frame,
)

__all__ = ["MAGIC", "PROTOCOL_VERSION", "Blob", "Frame", "FrameError", "decode_frame", "encode_frame", "read_frame", "send_frame"]
