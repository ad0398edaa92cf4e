"""The engine as a local socket service (`python -m engine serve`); protocol in docs/protocol.md."""

from .auth import load_token
from .requests import Limits
from .server import Server

__all__ = ["Limits", "Server", "load_token"]
