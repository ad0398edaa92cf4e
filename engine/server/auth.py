"""The per-launch secret token."""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from refine_protocol.messages import TOKEN_ENV

from ..errors import InputError

MAX_TOKEN = 256


def load_token(token_file: Path | None) -> tuple[str, bool]:
    """The token from `token_file` (created with mode 0600 if missing), else $REFINE_ENGINE_TOKEN,
    else a fresh random one. Returns (token, generated_here_and_not_stored)."""
    if token_file is not None:
        if not token_file.exists():
            token = secrets.token_urlsafe(32)
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
            return token, False
        mode = token_file.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InputError(f"token file {token_file} is readable by others; chmod 600 it")
        return _checked(token_file.read_text().strip(), str(token_file)), False
    if os.environ.get(TOKEN_ENV):
        return _checked(os.environ[TOKEN_ENV], TOKEN_ENV), False
    return secrets.token_urlsafe(32), True


def _checked(token: str, source: str) -> str:
    if not 16 <= len(token) <= MAX_TOKEN or not token.isprintable():
        raise InputError(f"token from {source} must be 16..{MAX_TOKEN} printable characters")
    return token


def token_matches(given: object, token: str) -> bool:
    """Constant-time comparison (no early exit that would leak a matching prefix)."""
    if not isinstance(given, str) or len(given) > MAX_TOKEN:
        return False
    # surrogatepass: a JSON string may hold a lone surrogate, which is simply a wrong token.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode())
