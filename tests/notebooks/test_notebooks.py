"""The investigation notebooks execute top to bottom on a small simulated day (nbclient, the venv's kernel)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from traitlets.config import Config

from distillguard.api.database import migrate, session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.detector.simulate import simulate

NB_DIR = Path(__file__).resolve().parents[2] / "notebooks"
sys.path.insert(0, str(NB_DIR))
from nbdata import run_detector  # noqa: E402 - the notebooks' own loader

SCALE = "0.06"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nb-cache")


@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch, cache: Path, tmp_path: Path) -> Config:
    """The kernel is `python` from PATH: put this interpreter's bin first; small data; the shared cache.
    Returns the kernel's configuration: its five channels on Unix sockets in this test's directory, not on TCP
    ports, which jupyter_client picks free and releases before the kernel binds them: with the suite in several
    processes (pytest-xdist), another process could take such a port in between. (Without ``ip`` the socket
    files would be ``kernel-ipc-N`` in the working directory, shared by every process.)"""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("DG_NB_SCALE", SCALE)
    monkeypatch.setenv("DG_NB_SEED", "1")
    monkeypatch.setenv("DG_NB_CACHE", str(cache))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for var in ("DG_NB_VERDICTS", "DG_NB_CLUSTERS", "DG_NB_EVENTS", "DG_NB_LABELS", "DG_NB_CLUSTER"):
        monkeypatch.delenv(var, raising=False)
    return Config({"KernelManager": {"transport": "ipc", "ip": str(tmp_path / "kernel")}})


def execute(name: str, kernel: Config) -> tuple[str, int]:
    """Run a notebook in a kernel configured by ``kernel``; return its text output and the number of figures it
    drew."""
    nb = nbformat.read(NB_DIR / name, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}}, config=kernel
    ).execute()
    text, images = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
            images += "image/png" in out.get("data", {})
    return "".join(text), images


@pytest.mark.slow
def test_investigate_cluster_from_review_database(
    kernel_env: Config, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verdicts stored in the review database (as the worker writes them) are investigated against the events."""
    day = tmp_path / "day"
    simulate(day, seed=1, scale=float(SCALE))
    det = run_detector(day / "events.jsonl.gz")
    url = f"sqlite:///{tmp_path / 'review.db'}"
    migrate(url)
    with session_scope(url) as session:
        upsert_detections(session, det.verdicts(), det.clusters())
    monkeypatch.setenv("DG_NB_VERDICTS", url)
    monkeypatch.setenv("DG_NB_EVENTS", str(day / "events.jsonl.gz"))
    monkeypatch.setenv("DG_NB_LABELS", str(day / "labels.json"))
    text, images = execute("investigate_cluster.ipynb", kernel_env)
    assert f"source: {url}" in text
    assert "ground truth: [('hydra'" in text  # the largest flagged cluster of this day is a hydra
    assert "look-alike" in text and "share in cluster" in text and "university_student" in text
    assert images == 4


@pytest.mark.slow
def test_threshold_tuning(kernel_env: Config) -> None:
    text, images = execute("threshold_tuning.ipynb", kernel_env)
    assert "packaged threshold" in text and "cost-minimising threshold range" in text
    assert "standard" in text and "hard" in text
    assert images == 3


@pytest.mark.slow
def test_model_release(kernel_env: Config) -> None:
    text, images = execute("model_release.ipynb", kernel_env)
    assert "new model frontier-5, released" in text
    hydra = next(line for line in text.splitlines() if line.startswith("hydra "))
    assert "100%" in hydra  # every hydra account active before and after moved to the new model
    assert images == 3


@pytest.mark.slow
def test_evasion_curve(kernel_env: Config) -> None:
    """The committed evasion and leave-one-out results are plotted and tabulated."""
    text, images = execute("evasion_curve.ipynb", kernel_env)
    assert "evasive_reasoning" in text and "accounts for 16,000,000 in 30 days" in text
    assert "held out" in text and "hydra" in text
    assert images == 1
