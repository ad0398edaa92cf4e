"""The engine <-> Blender wire format: pure standard library, importable by both sides.

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
)

__all__ = ["MAGIC", "PROTOCOL_VERSION", "Blob", "Frame", "FrameError", "decode_frame", "encode_frame", "read_frame"]
