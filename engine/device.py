"""Where a refinement runs, and with which kernels."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from .errors import InputError
from .settings import AUTO


def pick_device(name: str) -> torch.device:
    """AUTO, "cpu" or "cuda"."""
    if name == AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("settings: device 'cuda' requested but no CUDA GPU is available")
    return torch.device(name)


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Deterministic kernels while a refinement runs (the backward of indexing accumulates with
    threads otherwise), restoring the caller's setting afterwards."""
    enabled, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn)
