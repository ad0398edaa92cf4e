"""The code's structure: the README's Layout names every module, in the bullet of its folder, and
the engine's parts import each other without cycles."""

from __future__ import annotations

from .conftest import ROOT

PACKAGES = ("engine", "refine_protocol", "refine_addon", "bench")


def layout_bullets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Layout\n") :]
    section = section[: section.find("\n## ", 1)] if "\n## " in section[1:] else section
    return ["- " + b for b in section.split("\n- ")[1:]]


def test_the_readme_layout_lists_every_module():
    bullets = layout_bullets()
    missing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "__init__.py" or "refine_protocol" in path.relative_to(ROOT).parts[1:]:
                continue
            folder = path.parent.relative_to(ROOT).as_posix() + "/"
            if not any(f"`{folder}`" in b and f"`{path.name}`" in b for b in bullets):
                missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, f"add to the README's Layout, in the bullet of its folder: {missing}"


def engine_import_graph() -> dict[str, set[str]]:
    """The engine's relative imports between its parts: a subpackage (engine.camera) or a
    top-level module (engine.inputs) each is one part."""
    import ast
    from collections import defaultdict

    def part(module: str) -> str:
        return ".".join(module.split(".")[:2])

    graph: dict[str, set[str]] = defaultdict(set)
    for path in (ROOT / "engine").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        package = parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - (node.level - 1)]
                targets = [".".join([*base, node.module])] if node.module else [".".join([*base, a.name]) for a in node.names]
                for target in targets:
                    if part(target) not in (part(".".join(parts)), "engine"):
                        graph[part(".".join(parts))].add(part(target))
    return graph


def test_the_engines_parts_import_each_other_without_cycles():
    graph = engine_import_graph()
    assert graph["engine.refine"] >= {"engine.camera", "engine.optimize"}  # the graph is really read
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != "open", "import cycle: " + " -> ".join([*path, nxt])
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
