"""Start an engine process with a fresh token and wait for its ready line (standard library only).

Used by the Blender add-on ("start the engine automatically"), the tests and the benchmarks.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .client import EngineClient
from .messages import READY_PREFIX, TOKEN_ENV


class LaunchError(RuntimeError):
    """The engine process did not start (its log tail is in the message)."""


@dataclass
class EngineProcess:
    proc: subprocess.Popen
    host: str
    port: int
    token: str
    info: dict  # the ready line's JSON
    log: Path | None = None  # the engine's stderr

    def client(self, **kw) -> EngineClient:
        return EngineClient.connect(self.host, self.port, self.token, **kw)

    def stop(self, timeout: float = 30.0) -> int:
        """Ask the process to stop (SIGTERM: it cancels its job and exits), kill it if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch(
    command: Sequence[str],
    *,
    cwd: str | Path | None = None,
    log: str | Path | None = None,
    token: str | None = None,
    timeout: float = 120.0,
) -> EngineProcess:
    """Run `command` (e.g. [python, "-m", "engine", "serve"]) with $REFINE_ENGINE_TOKEN set and
    wait up to `timeout` seconds for its ready line. stderr (the engine's log) goes to `log`."""
    token = token or secrets.token_urlsafe(32)
    env = {**os.environ, TOKEN_ENV: token}
    err: IO | int = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    try:
        proc = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    except OSError as exc:
        raise LaunchError(f"cannot run {command[0]}: {exc}") from None
    finally:
        if log:
            err.close()  # type: ignore[union-attr]
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        line = ""
    if not line.startswith(READY_PREFIX):
        proc.kill()
        proc.wait()
        tail = Path(log).read_text(errors="replace")[-1500:] if log else ""
        raise LaunchError(f"the engine did not start (exit code {proc.returncode}): {tail or line}")
    info = json.loads(line[len(READY_PREFIX) :])
    return EngineProcess(proc, info["host"], info["port"], token, info, Path(log) if log else None)
