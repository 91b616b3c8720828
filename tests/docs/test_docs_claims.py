"""Every README claim "(tested: ...)" names tests that exist: a promise nobody checks is not written as tested."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLAIM = re.compile(r"\(tested([^)]*)\)")
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def claims(text: str) -> list[str]:
    """What follows "(tested" in each claim, up to its closing parenthesis."""
    return CLAIM.findall(text)


def defined_tests(path: Path) -> set[str]:
    """Names of the test functions defined at module level (or in classes) of a test file."""
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def unproven(text: str, root: Path) -> list[str]:
    """The README's "(tested...)" claims that name no test, or name one that does not exist."""
    bad = []
    for claim in claims(text):
        ids = TEST_ID.findall(claim)
        if not ids:
            bad.append(f"(tested{claim}) names no test")
        for file, name in ids:
            path = root / file
            if not path.is_file() or name not in defined_tests(path):
                bad.append(f"{file}::{name} does not exist")
    return bad


def test_every_tested_claim_in_the_readme_names_a_test_that_exists() -> None:
    text = (ROOT / "README.md").read_text()
    assert claims(text), "the README makes no tested claim: the check below would prove nothing"
    assert unproven(text, ROOT) == []


def test_a_claim_without_a_test_or_with_a_missing_one_is_reported(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_here():\n    pass\n")
    text = (
        "A (tested). B (tested: `tests/test_x.py::test_here`). C (tested: `tests/test_x.py::test_gone`). "
        "D (tested: `tests/test_y.py::test_here`)."
    )
    assert unproven(text, tmp_path) == [
        "(tested) names no test",
        "tests/test_x.py::test_gone does not exist",
        "tests/test_y.py::test_here does not exist",
    ]
