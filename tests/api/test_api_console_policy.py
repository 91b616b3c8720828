"""The console's decision flow: the policy in force, rung by rung, in words an analyst can check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from distillguard.api.app import create_app
from distillguard.api.settings import ApiSettings
from distillguard.detector.policy import DEFAULT_POLICY, PolicyError
from tests.api.conftest import Api, make_api, seed_world


def _rows(html: str, table: str) -> list[str]:
    """The rows of table ``table`` as text, tags dropped and spaces squeezed."""
    body = re.search(rf'<table class="flow-table" id="{table}">(.*?)</table>', html, flags=re.S)
    assert body, f"no table {table}"
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in rows]


def test_the_shipped_policy_reads_rung_by_rung_from_the_top(sqlite_api: Api) -> None:
    headers, _ = sqlite_api.console("viewer")
    r = sqlite_api.client.get("/console/policy", headers=headers)
    assert r.status_code == 200
    html = r.text
    assert "Policy <b>default-1</b>" in html and "shadow mode" in html
    assert "fewer than <b>5 requests</b>" in html
    assert _rows(html, "rungs-accounts") == [
        "Rung Needs all of What happens",
        "suspend probability of attack at least 0.99 at least 3 independent kinds of evidence evidence linking it to "
        "other accounts among them a cluster of at least 3 accounts at least 20 requests automated, lead confirms",
        "review probability of attack at least 0.9 at least 1 independent kind of evidence shown to analysts",
        "throttle probability of attack at least 0.5 at least 1 independent kind of evidence automated",
        "challenge probability of attack at least 0.25 at least 1 independent kind of evidence automated",
        "watch probability of attack at least 0.05 shown to analysts",
        "none none of the above holds nothing",
    ]
    assert _rows(html, "rungs-clusters")[1] == (
        "takedown probability of attack at least 0.99 at least 4 independent kinds of evidence evidence linking it to "
        "other accounts among them a cluster of at least 10 accounts at least 500 requests automated, lead confirms"
    )
    kinds = _rows(html, "evidence-kinds")[1:]
    assert len(kinds) == 7
    assert [k.split()[0] for k in kinds if " yes " in k] == ["payment", "network", "client", "template", "creation"]
    assert "lead" in html and "up to <code>review</code>" in html
    assert '<a class="nav" href="/console/policy">' in sqlite_api.client.get("/console", headers=headers).text


def test_the_page_explains_the_policy_file_the_service_is_given(sqlite_url: str, broker, tmp_path: Path) -> None:
    doc = json.loads(DEFAULT_POLICY.read_text())
    doc["version"], doc["shadow"], doc["few_requests"] = "campus-2", False, 12
    doc["accounts"][3]["min_probability"] = 0.95
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    seed_world(sqlite_url)
    for api in make_api(sqlite_url, broker.bootstrap, policy_path=str(path)):
        html = api.client.get("/console/policy", headers=api.console("analyst")[0]).text
        assert "Policy <b>campus-2</b>" in html and "shadow mode" not in html
        assert "fewer than <b>12 requests</b>" in html
        assert _rows(html, "rungs-accounts")[2].startswith("review probability of attack at least 0.95 ")


def test_a_bad_policy_file_stops_the_service_naming_the_field(tmp_path: Path) -> None:
    doc = json.loads(DEFAULT_POLICY.read_text())
    doc["accounts"][1]["min_evidence"] = 0
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    settings = ApiSettings(database_url=f"sqlite:///{tmp_path / 'x.db'}", policy_path=str(path))
    with pytest.raises(PolicyError, match=r"accounts\.1\.min_evidence: challenge must rest on at least one piece"):
        create_app(settings, outbox_loop=False)
