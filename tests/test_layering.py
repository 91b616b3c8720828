"""The layers import only downwards: the core (``detector/``) imports neither the stream worker nor the
review service, the stream worker (``streams/``) does not import the review service, and nothing imports
the folders by their bare names (``detector``, ``streams``, ``api``) instead of ``distillguard.*``.

Imports are read from the source (``ast``), function-level ones included, so a lazy import counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("detector", "streams", "api")
FORBIDDEN = {  # layer -> the layers it must not import
    "detector": ("distillguard.streams", "distillguard.api"),
    "streams": ("distillguard.api",),
    "api": (),
}
SOURCES = ("detector", "streams", "api", "tests", "bench", "deploy", "notebooks")  # distillguard/ links the layers


def python_files() -> list[Path]:
    """Every Python file of the repository's source folders (virtualenvs and build output live outside them)."""
    return sorted(p for folder in SOURCES for p in (ROOT / folder).rglob("*.py"))


def imported_modules(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line, absolute module name, was it relative) of every import in ``path``; relative imports inside a
    layer are resolved to ``distillguard.<layer>...``."""
    rel = path.relative_to(ROOT)
    package = ["distillguard", *rel.parts[:-1]] if rel.parts[0] in LAYERS else list(rel.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, False
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
                yield node.lineno, module, True
            else:
                yield node.lineno, node.module or "", False


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_violations() -> list[str]:
    """``file:line imports module`` for every import that goes up or across the layers."""
    out = []
    for path in python_files():
        layer = path.relative_to(ROOT).parts[0]
        for lineno, module, _ in imported_modules(path):
            if any(_under(module, banned) for banned in FORBIDDEN.get(layer, ())):
                out.append(f"{path.relative_to(ROOT)}:{lineno} imports {module}")
    return out


def bare_name_imports() -> list[str]:
    """``file:line imports module`` for every absolute import of a layer folder by its bare name."""
    return [
        f"{path.relative_to(ROOT)}:{lineno} imports {module}"
        for path in python_files()
        for lineno, module, relative in imported_modules(path)
        if not relative and module.split(".")[0] in LAYERS
    ]


def test_the_layers_are_all_found() -> None:
    found = {p.relative_to(ROOT).parts[0] for p in python_files()}
    assert set(LAYERS) <= found
    assert len([p for p in python_files() if p.relative_to(ROOT).parts[0] == "streams"]) > 5


def test_the_core_and_the_stream_layer_import_only_downwards() -> None:
    assert not layer_violations(), "\n".join(layer_violations())


def test_nothing_imports_a_layer_by_its_bare_name() -> None:
    assert not bare_name_imports(), "\n".join(bare_name_imports())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import distillguard.api.database\n", ["detector/x.py:1 imports distillguard.api.database"]),
        ("def f():\n    from distillguard.streams import sinks\n", ["detector/x.py:2 imports distillguard.streams"]),
        ("from distillguard.detector import records\n", []),
    ],
)
def test_a_lazy_or_eager_upward_import_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: list[str]
) -> None:
    (tmp_path / "detector").mkdir()
    (tmp_path / "detector" / "x.py").write_text(source)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert layer_violations() == expected
