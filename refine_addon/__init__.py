"""REFINE for Blender: make a rough mesh agree with a photo. The math runs in a separate engine
process (torch + PyTorch3D); this add-on is standard library + numpy and talks to it over a
local socket (docs/protocol.md)."""

from __future__ import annotations

from . import operators, panel, preferences, properties
from .engine_link import LINK

_modules = (properties, preferences, operators, panel)


def register() -> None:
    for module in _modules:
        module.register()


def unregister() -> None:
    for module in reversed(_modules):
        module.unregister()
    LINK.stop()
