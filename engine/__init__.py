"""REFINE engine: test-time mesh refinement against a photo's silhouette.

Usage: ``result = engine.refine(verts, faces, mask, camera, engine.preset("default"), progress=cb)``.
"""

from .camera import BlenderCamera
from .errors import InputError
from .inputs import RefineInputs
from .refine import Progress, Result, refine, refine_inputs
from .report import Report
from .settings import PRESETS, Settings, Weights, preset

__version__ = "0.1.0"

__all__ = [
    "BlenderCamera",
    "InputError",
    "PRESETS",
    "Progress",
    "RefineInputs",
    "Report",
    "Result",
    "Settings",
    "Weights",
    "preset",
    "refine",
    "refine_inputs",
    "__version__",
]
