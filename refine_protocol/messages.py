"""Message names, error codes and shared constants of the protocol (docs/protocol.md)."""

from __future__ import annotations

import re

# Environment variable a launcher uses to hand the engine its per-launch token.
TOKEN_ENV = "REFINE_ENGINE_TOKEN"
# Prefix of the one line `python -m engine serve` prints on stdout once it listens.
READY_PREFIX = "REFINE_ENGINE_READY "

# Client -> engine.
HELLO = "hello"
REFINE = "refine"
CANCEL = "cancel"
STATUS = "status"
ECHO = "echo"
SHUTDOWN = "shutdown"
# Engine -> client.
WELCOME = "welcome"
QUEUED = "queued"
STARTED = "started"
PROGRESS = "progress"
RESULT = "result"
CANCELLED = "cancelled"
ERROR = "error"
BYE = "bye"

# Every job ends with exactly one of these.
JOB_END = (RESULT, CANCELLED, ERROR)

ERROR_CODES = {
    "bad_frame": "the bytes are not a valid frame; the engine closes the connection",
    "truncated": "the connection ended inside a frame",
    "too_large": "the frame exceeds the engine's frame limit; the engine closes the connection",
    "auth_failed": "the first message was not a hello with the right token; the engine closes the connection",
    "protocol_mismatch": "the hello's protocol version is not the engine's; the engine closes the connection",
    "bad_request": "unknown message type, or a missing or mistyped field",
    "limit_exceeded": "more vertices, faces, pixels or iterations than the engine allows",
    "invalid_input": "the mesh, image, camera or settings are unusable (the message says why)",
    "queue_full": "too many jobs are waiting",
    "busy": "too many clients are connected; the engine closes the connection",
    "out_of_memory": "the device ran out of memory during the job",
    "internal": "an unexpected engine failure; the engine keeps serving",
}

# The camera object of a refine request: the fields of Blender's Camera datablock, then those of
# the scene's RenderSettings (plus "matrix_world", the camera object's).
CAMERA_FIELDS = (
    "type",
    "lens",
    "ortho_scale",
    "sensor_width",
    "sensor_height",
    "sensor_fit",
    "shift_x",
    "shift_y",
    "clip_start",
    "clip_end",
)
RENDER_FIELDS = ("resolution_x", "resolution_y", "resolution_percentage", "pixel_aspect_x", "pixel_aspect_y")

JOB_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
