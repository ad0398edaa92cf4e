"""The shared vocabulary (docs/protocol.md): message names, error codes, presets, symmetry options,
camera fields. The engine's checks and the add-on's menus are derived from it; nothing else spells
these names out."""

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
# A job's state in a status message.
STATE_RUNNING = "running"
STATE_QUEUED = "queued"

# Error codes (the `code` of an error frame).
BAD_FRAME = "bad_frame"
TRUNCATED = "truncated"
TOO_LARGE = "too_large"
AUTH_FAILED = "auth_failed"
PROTOCOL_MISMATCH = "protocol_mismatch"
BAD_REQUEST = "bad_request"
LIMIT_EXCEEDED = "limit_exceeded"
INVALID_INPUT = "invalid_input"
QUEUE_FULL = "queue_full"
BUSY = "busy"
OUT_OF_MEMORY = "out_of_memory"
INTERNAL = "internal"
ERROR_CODES = {
    BAD_FRAME: "the bytes are not a valid frame; the engine closes the connection",
    TRUNCATED: "the connection ended inside a frame",
    TOO_LARGE: "the frame exceeds the engine's frame limit; the engine closes the connection",
    AUTH_FAILED: "the first message was not a hello with the right token; the engine closes the connection",
    PROTOCOL_MISMATCH: "the hello's protocol version is not the engine's; the engine closes the connection",
    BAD_REQUEST: "unknown message type, or a missing, mistyped or out-of-range field",
    LIMIT_EXCEEDED: "more vertices, faces, pixels or iterations than the engine allows",
    INVALID_INPUT: "the mesh, image, camera or settings are unusable (the message says why)",
    QUEUE_FULL: "too many jobs are waiting",
    BUSY: "too many clients are connected, or too much data is arriving at once; the engine closes the connection",
    OUT_OF_MEMORY: "the device ran out of memory during the job",
    INTERNAL: "an unexpected engine failure; the engine keeps serving",
}
# Codes a client gives an ended job itself (never sent by the engine).
DISCONNECTED = "disconnected"  # the connection was lost
UNREACHABLE = "unreachable"  # no engine could be reached or started

# Presets: name -> (label, what it is). engine/settings.py defines each one's settings.
PRESET_DEFAULT = "default"
PRESET_FAST = "fast"
PRESET_PAPER = "paper"
PRESET_NAIVE = "naive"
PRESETS = {
    PRESET_DEFAULT: (
        "Default",
        "Large Steps + global scale, shift and image-plane stretch + detected symmetry, coarse to fine (128 then 256 px); stops early when the loss stalls",
    ),
    PRESET_FAST: ("Fast", "the default at 160 px and 80 iterations: a quick look"),
    PRESET_PAPER: ("Paper", "REFINE as published (graph network, random-init encoder, image symmetry, 224 px); slow on a CPU"),
    PRESET_NAIVE: ("Naive", "the PyTorch3D tutorial fit (free offsets, L2 silhouette, SGD); no early stopping"),
}
# Symmetry: "auto" finds the mirror plane (or none); an axis names the world axis normal to it.
SYMMETRY_AUTO = "auto"
SYMMETRY_NONE = "none"
SYMMETRY = {
    SYMMETRY_AUTO: ("Auto", "Find the mirror plane, or none if the mesh is not symmetric"),
    SYMMETRY_NONE: ("None", "No symmetry"),
    "x": ("X", "Mirror plane normal to world X"),
    "y": ("Y", "Mirror plane normal to world Y"),
    "z": ("Z", "Mirror plane normal to world Z"),
}

# Camera fit: whether the engine corrects or searches for the camera before refining the shape.
FIT_OFF = "off"
FIT_REFINE = "refine"
FIT_SEARCH = "search"
FIT_CAMERA = {
    FIT_OFF: ("Use as is", "The camera is exact: refine the shape only"),
    FIT_REFINE: ("Refine", "The camera is close (placed by hand): correct it, then refine the shape"),
    FIT_SEARCH: ("Find", "The camera is unknown or far off: search for the viewpoint, then refine the shape"),
}

# When the camera found is in doubt (several views of the mesh explain the photo nearly equally; no
# upright view matches it): stop before the shape moves and ask, or go on and warn.
DOUBT_STOP = "stop"
DOUBT_WARN = "warn"
ON_DOUBT = {
    DOUBT_STOP: ("Stop and Ask", "Keep the mesh as it is and show the views found, to pick one or give a rough camera"),
    DOUBT_WARN: ("Warn", "Refine from the view closest to the given camera, and warn"),
}

# Silhouette: where the object's outline comes from. A mask wins, then the photo's alpha; a photo
# without alpha (or with an alpha that covers everything) gets an automatic one.
SILHOUETTE_ALPHA = "alpha"
SILHOUETTE_AUTO = "automatic"
SILHOUETTE_MASK = "mask"
SILHOUETTE = {
    SILHOUETTE_ALPHA: ("Alpha", "The photo's alpha channel is the silhouette"),
    SILHOUETTE_AUTO: ("Automatic", "Find the object in the photo, seeded by the mesh (for photos without alpha)"),
    SILHOUETTE_MASK: ("Mask Image", "A separate mask (white = object), e.g. the automatic one with your corrections"),
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
MATRIX_WORLD = "matrix_world"

JOB_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
