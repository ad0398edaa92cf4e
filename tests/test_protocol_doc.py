"""docs/protocol.md is the specification: its byte dumps decode, and its minimal client works."""

from __future__ import annotations

import re

import numpy as np

from refine_protocol import decode_frame, encode_frame

from .conftest import ROOT
from .engine_process import engine_process

DOC = (ROOT / "docs" / "protocol.md").read_text()


def _dumps() -> list[bytes]:
    blocks = re.findall(r"```\n((?:[0-9a-f]{4}  .*\n)+)```", DOC)
    return [bytes.fromhex("".join(line[6:54] for line in block.splitlines())) for block in blocks]


def test_worked_example_bytes_are_what_the_reference_implementation_sends():
    hello, echo = _dumps()
    assert hello == encode_frame({"type": "hello", "protocol": 1, "token": "s3cret-token-0123456789", "client": "doc"})
    frame = decode_frame(echo)
    assert frame.header == {"type": "echo", "data": "hi"}
    np.testing.assert_array_equal(frame.blobs["v"].to_array(), [[1.0, 2.0, -0.5]])
    np.testing.assert_array_equal(frame.blobs["f"].to_array(), [[0, 1, 2]])


def test_the_documented_minimal_client_talks_to_a_real_engine(tmp_path):
    code = re.search(r"```python\n(import json, socket, struct.*?)```", DOC, re.S).group(1)
    with engine_process(tmp_path / "engine.log") as engine:
        namespace = {"port": engine.port, "token": engine.token, "print": lambda *a: printed.extend(a)}
        printed: list = []
        exec(compile(code, "docs/protocol.md", "exec"), namespace)  # our own doc, not socket data
        assert printed[0]["type"] == "welcome" and printed[0]["protocol"] == 1
        # The same helpers round-trip a blob through echo.
        sock = namespace["sock"]
        namespace["send"](sock, {"type": "echo", "data": 7}, [("v", "f32", (2,), np.float32([1, 2]).tobytes())])
        header, payload = namespace["recv"](sock.makefile("rb"))
        assert header["data"] == 7 and np.frombuffer(payload, "<f4").tolist() == [1.0, 2.0]
        sock.close()


def _table(name: str) -> list[list[str]]:
    """Rows (cells without backticks) of the generated-style table between <!-- name:start/end -->."""
    block = DOC.split(f"<!-- {name}:start -->")[1].split(f"<!-- {name}:end -->")[0]
    rows = [line.strip("|").split("|") for line in block.strip().splitlines()[2:]]
    return [[cell.strip().strip("`") for cell in row] for row in rows]


def test_the_limits_table_is_what_the_engine_announces():
    from engine.server import Limits

    assert {key: int(default) for key, default, *_ in _table("limits")} == Limits().to_dict()


def test_the_presets_table_is_the_vocabulary_with_each_presets_iterations():
    from engine.settings import PRESETS
    from refine_protocol.messages import PRESETS as DESCRIBED

    rows = {name: (int(iterations), text) for name, iterations, text in _table("presets")}
    assert rows == {name: (s.iterations, DESCRIBED[name][1]) for name, s in PRESETS.items()}


def test_the_report_table_lists_every_field_of_the_report():
    from dataclasses import fields

    from engine.report import Report

    section = DOC[DOC.index("### The report") : DOC.index("## 4. refine")]
    rows = [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`(\w+)`", row)}
    assert documented == {f.name for f in fields(Report)} | {"history_columns"}
