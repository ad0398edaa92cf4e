"""How the add-on reaches the engine: attach to host:port + token, or launch it once per Blender
session and reuse it. Standard library only (no bpy), so it can be tested alone."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .refine_protocol.client import EngineClient
from .refine_protocol.launcher import EngineProcess, LaunchError, launch


@dataclass(frozen=True)
class EngineConfig:
    """mode "LAUNCH": run `python -m engine serve` with the interpreter `python`, from the
    checkout `engine_root` (empty: the engine is installed in that interpreter, `pip install`);
    mode "ATTACH": connect to host:port with token."""

    mode: str = "LAUNCH"
    python: str = ""
    engine_root: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    token: str = ""
    log: str = ""


class EngineUnavailable(RuntimeError):
    """The engine cannot be reached or started; the message says what to fix."""


class EngineLink:
    """One engine per Blender session; every refinement opens its own connection."""

    def __init__(self) -> None:
        self._process: EngineProcess | None = None
        self._lock = threading.Lock()

    def connect(self, config: EngineConfig, timeout: float = 10.0) -> EngineClient:
        if config.mode == "ATTACH":
            host, port, token = config.host, config.port, config.token
        else:
            proc = self._ensure_launched(config)
            host, port, token = proc.host, proc.port, proc.token
        try:
            return EngineClient.connect(host, port, token, timeout=timeout, client="blender")
        except OSError as exc:
            raise EngineUnavailable(
                f"engine unreachable at {host}:{port} ({exc.strerror or exc}); start it or check the add-on preferences"
            ) from None

    def _ensure_launched(self, config: EngineConfig) -> EngineProcess:
        with self._lock:
            if self._process is not None and self._process.proc.poll() is None:
                return self._process
            if not config.python or not Path(config.python).exists():
                raise EngineUnavailable(f"engine Python not found: {config.python!r}; set it in the add-on preferences")
            if config.engine_root and not (Path(config.engine_root) / "engine" / "__main__.py").exists():
                raise EngineUnavailable(
                    f"no engine package in {config.engine_root!r}; set the engine folder in the add-on preferences "
                    "(or leave it empty for an engine installed in the Engine Python)"
                )
            try:
                command = [config.python, "-m", "engine", "serve", "--exit-with-parent"]
                self._process = launch(command, cwd=config.engine_root or None, log=config.log or None)
            except LaunchError as exc:
                raise EngineUnavailable(str(exc)) from None
            return self._process

    @property
    def launched(self) -> EngineProcess | None:
        return self._process if self._process is not None and self._process.proc.poll() is None else None

    def stop(self) -> bool:
        """Stop the engine this session launched (frees its GPU memory). Returns whether one ran."""
        with self._lock:
            proc, self._process = self._process, None
        if proc is None or proc.proc.poll() is not None:
            return False
        proc.stop()
        return True


LINK = EngineLink()
