"""One vocabulary (refine_protocol/messages.py): the add-on and the engine's server derive message
names, error codes, presets, symmetry options, silhouette sources and camera fields from it instead of spelling them
out again; the engine's presets are exactly the vocabulary's; the code stays in readable pieces."""

from __future__ import annotations

import ast
from pathlib import Path

import refine_protocol.messages as m
from engine.settings import PRESETS, SYMMETRY

from .conftest import ROOT

MESSAGE_NAMES = {m.HELLO, m.REFINE, m.CANCEL, m.STATUS, m.ECHO, m.SHUTDOWN, m.WELCOME, m.QUEUED, m.STARTED,
                 m.PROGRESS, m.RESULT, m.CANCELLED, m.ERROR, m.BYE}  # fmt: skip
VOCABULARY = (
    MESSAGE_NAMES
    | set(m.ERROR_CODES)
    | {m.DISCONNECTED, m.UNREACHABLE}
    | set(m.PRESETS)
    | set(m.SYMMETRY)
    | {s.upper() for s in m.SYMMETRY}
    | {*m.CAMERA_FIELDS, *m.RENDER_FIELDS, m.MATRIX_WORLD}
    | {s.upper() for s in m.SILHOUETTE}
    | {m.SILHOUETTE_ALPHA, m.SILHOUETTE_AUTO}  # not "mask": also the blob's name
)


def literal_words(path: Path) -> list[tuple[int, str]]:
    """String constants used as values: not docstrings, f-string text, dict keys, subscripts or
    .get() keys (field names such as "type" are not vocabulary)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body and isinstance(node.body[0], ast.Expr):
            skip.add(id(node.body[0].value))
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
        elif isinstance(node, ast.Dict):
            skip.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript):
            skip.add(id(node.slice))
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop") and node.args
        ):
            skip.add(id(node.args[0]))
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
    ]


def test_no_copies_of_the_vocabulary_in_the_addon_or_the_server():
    files = [*(ROOT / "refine_addon").glob("*.py"), *(ROOT / "engine" / "server").glob("*.py")]
    copies = [f"{p.relative_to(ROOT)}:{line}: {word!r}" for p in files for line, word in literal_words(p) if word in VOCABULARY]
    assert not copies, "use refine_protocol.messages instead of:\n" + "\n".join(copies)


def test_the_engine_defines_exactly_the_vocabularys_presets_and_symmetry_options():
    assert list(PRESETS) == list(m.PRESETS)
    assert SYMMETRY == tuple(m.SYMMETRY)


def test_functions_stay_short_and_refine_is_a_composition():
    long = []
    for path in [*(ROOT / "engine").rglob("*.py"), *(ROOT / "refine_addon").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not long, long
    refine = next(
        n
        for n in ast.parse((ROOT / "engine" / "refine.py").read_text()).body
        if isinstance(n, ast.FunctionDef) and n.name == "refine"
    )
    assert refine.end_lineno - refine.lineno + 1 < 40


def test_every_request_option_is_a_cli_flag_a_manifest_column_and_a_socket_field():
    """One definition of the request (refine_protocol/request.py): the CLI's flags, the batch
    manifest's columns and the server's settings check all come from its option list."""
    import argparse

    from engine.batch.manifest import COLUMNS
    from engine.cli import _refine_parser
    from refine_protocol.request import FILES, OPTIONS, SETTINGS, check_settings

    parser = argparse.ArgumentParser()
    _refine_parser(parser.add_subparsers())
    refine = parser._subparsers._group_actions[0].choices["refine"]  # type: ignore[union-attr]
    flags = {a.dest: a.option_strings for a in refine._actions}
    for option in OPTIONS:
        assert flags.get(option.name) == [option.cli_flag], option.name
        assert option.name in COLUMNS
        if option.where == SETTINGS:
            value = option.choices[-1] if option.choices else option.kind(1)
            assert check_settings({option.name: value}) == {option.name: value}
    assert set(FILES) <= set(COLUMNS)
