"""The wheel installs one import name, ``distillguard``, with the data files the code reads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the wheel is built from: the project file, the readme it names, the package and the layer folders its
# subpackages link to (distillguard/detector -> ../detector, ...).
SOURCES = ("pyproject.toml", "README.md", "distillguard", "detector", "streams", "api")

# The tests of the wheel on one xdist worker (`make test`: --dist loadgroup): one build per run.
pytestmark = pytest.mark.xdist_group("wheel")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The files of the wheel built from a copy of the sources: setuptools writes build/ and *.egg-info/ into
    the tree it builds, and the checkout is shared with the rest of the suite (and any other build in it)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (whl,) = out.glob("distillguard-*.whl")
    with zipfile.ZipFile(whl) as z:
        return z.namelist()


def test_the_wheel_installs_no_generic_top_level_module(wheel_names: list[str]) -> None:
    top = {n.split("/")[0] for n in wheel_names}
    assert {t for t in top if not t.endswith((".dist-info", ".data"))} == {"distillguard"}


@pytest.mark.parametrize(
    "path",
    [
        "distillguard/__init__.py",
        "distillguard/detector/events.py",
        "distillguard/streams/worker.py",
        "distillguard/api/app.py",
        "distillguard/detector/schema/api-event.schema.json",
        "distillguard/detector/models/default.joblib",
        "distillguard/api/templates/queue.html",
        "distillguard/api/static/console.css",
        "distillguard/api/migrations/alembic.ini",
        "distillguard/api/migrations/script.py.mako",
        "distillguard/api/migrations/versions/0001_review_schema.py",
    ],
)
def test_the_wheel_carries_what_the_code_reads(wheel_names: list[str], path: str) -> None:
    assert path in wheel_names


def test_the_notebook_api_is_complete_and_loads_on_first_use() -> None:
    code = (
        "import sys, distillguard as dg; "
        "assert 'sklearn' not in sys.modules, 'importing the package loaded scikit-learn'; "
        "import distillguard.detector.events; "
        "assert 'sklearn' not in sys.modules, 'importing the parser loaded scikit-learn'; "
        "missing = [n for n in dg.__all__ if getattr(dg, n, None) is None]; "
        "assert not missing, missing"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
