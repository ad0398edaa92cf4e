"""Free per-vertex offsets: v = v0 + dv."""

from __future__ import annotations

import torch


class DirectOffsets(torch.nn.Module):
    def __init__(self, rest: torch.Tensor) -> None:
        """rest: (V, 3) input vertices."""
        super().__init__()
        self.register_buffer("rest", rest)
        self.offsets = torch.nn.Parameter(torch.zeros_like(rest))

    def deform(self) -> tuple[torch.Tensor, None]:
        """(V, 3) vertices, and no per-vertex symmetry confidence."""
        return self(), None

    def forward(self) -> torch.Tensor:
        return self.rest + self.offsets
