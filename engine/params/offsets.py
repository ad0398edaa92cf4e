"""Free per-vertex offsets: v = v0 + dv."""

from __future__ import annotations

import torch


class DirectOffsets(torch.nn.Module):
    def __init__(self, rest: torch.Tensor) -> None:
        """rest: (V, 3) input vertices."""
        super().__init__()
        self.register_buffer("rest", rest)
        self.offsets = torch.nn.Parameter(torch.zeros_like(rest))

    def forward(self) -> torch.Tensor:
        return self.rest + self.offsets
