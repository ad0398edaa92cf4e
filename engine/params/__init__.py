"""Vertex parameterizations: what the optimizer actually updates.

Each is a torch.nn.Module whose forward() returns the deformed vertices (V, 3) in the engine's
normalized frame; at initialization every one returns (nearly) the input vertices.
"""

from .largesteps import LargeSteps
from .network import RefineNetwork
from .offsets import DirectOffsets
from .similarity import Similarity

__all__ = ["DirectOffsets", "LargeSteps", "RefineNetwork", "Similarity"]
