"""Start `python -m engine serve` as its own process, the way a launcher does."""

from __future__ import annotations

import sys
from pathlib import Path

from refine_protocol.launcher import EngineProcess, launch

from .conftest import ROOT

TOKEN = "test-token-0123456789abcdef"


def engine_process(log: Path, *args: str, token: str = TOKEN) -> EngineProcess:
    engine = launch([sys.executable, "-m", "engine", "serve", *args], cwd=ROOT, log=log, token=token)
    assert "token" not in engine.info  # a token given by the launcher is never echoed
    return engine
