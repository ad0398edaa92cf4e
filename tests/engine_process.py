"""Start `python -m engine serve` as its own process, the way a launcher does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from refine_protocol.client import EngineClient
from refine_protocol.messages import READY_PREFIX, TOKEN_ENV

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token-0123456789abcdef"


@dataclass
class Engine:
    proc: subprocess.Popen
    host: str
    port: int
    token: str
    log: Path

    def client(self, **kw) -> EngineClient:
        return EngineClient.connect(self.host, self.port, self.token, **kw)


@contextmanager
def engine_process(log: Path, *args: str, token: str = TOKEN) -> Iterator[Engine]:
    env = {**os.environ, TOKEN_ENV: token}
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        line = proc.stdout.readline()
        assert line.startswith(READY_PREFIX), f"engine did not start: {line!r} {log.read_text()[-2000:]}"
        ready = json.loads(line[len(READY_PREFIX) :])
        assert "token" not in ready  # a token given by the launcher is never echoed
        yield Engine(proc, ready["host"], ready["port"], token, log)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.stdout.close()
