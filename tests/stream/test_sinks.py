"""Verdict sinks: the JSON Lines file and null sinks, choosing one by name, and the review database's sink
turning database failures into :class:`SinkError` with a reason in words."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.api.detections.export import read_verdicts
from distillguard.api.detections.sink import ReviewDatabaseSink
from distillguard.detector.records import cluster_from_json, verdict_from_json
from distillguard.streams.sinks import JsonLinesSink, NullSink, SinkError, SinkUnavailableError, open_sink
from tests.api import seed


def test_jsonl_sink_replaces_the_files_on_every_write(tmp_path: Path) -> None:
    verdicts, clusters = seed.build()
    sink = JsonLinesSink(tmp_path / "out" / "verdicts.jsonl")
    sink.prepare()
    sink.write(verdicts, clusters)
    sink.write(verdicts[:2], clusters[:1])
    sink.close()
    lines = (tmp_path / "out" / "verdicts.jsonl").read_bytes().splitlines()
    assert [verdict_from_json(x) for x in lines] == verdicts[:2]
    assert [cluster_from_json(x) for x in sink.clusters_path.read_bytes().splitlines()] == clusters[:1]


def test_jsonl_sink_failure_is_a_sink_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SinkError, match="cannot"):
        JsonLinesSink(tmp_path / "file" / "verdicts.jsonl").write([], [])


def test_open_sink_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_sink("none"), NullSink)
    assert open_sink(f"jsonl:{tmp_path / 'v.jsonl'}").verdicts_path == tmp_path / "v.jsonl"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'r.db'}")
    from distillguard.api.settings import get_api_settings

    get_api_settings.cache_clear()
    try:
        sink = open_sink("review-db")
    finally:
        get_api_settings.cache_clear()
    assert isinstance(sink, ReviewDatabaseSink) and sink.url.endswith("r.db")
    with pytest.raises(SinkUnavailableError, match=r"unknown verdict sink 'kafka'.*review-db"):
        open_sink("kafka")


def test_review_database_sink_writes_and_names_its_failures(tmp_path: Path) -> None:
    verdicts, clusters = seed.build()
    url = f"sqlite:///{tmp_path / 'review.db'}"
    sink = ReviewDatabaseSink(url)
    sink.prepare()
    sink.write(verdicts, clusters)
    assert read_verdicts(url) == sorted(verdicts, key=lambda v: v.account_id)
    with pytest.raises(SinkError) as caught:
        ReviewDatabaseSink(f"sqlite:///{tmp_path / 'missing' / 'review.db'}").write(verdicts, clusters)
    assert caught.value.reason.startswith("the database file cannot be opened")
