"""No input makes the service answer 5xx: every query parameter of every GET route (API and console) is fuzzed
with hypothesis (derandomized), dates at the edges of the calendar and time zones, forged and deeply nested
cursors, huge and odd numbers, long and non-ASCII text included."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.api.conftest import Api
from tests.fuzzing import budget

EXAMPLES_PER_ROUTE = budget(40)  # 800 under `HYPOTHESIS_PROFILE=fuzz` (the issue's >= 10,000 requests)
PATH_VALUES = {"cluster_id": "c-hydra", "account_id": "acct-h000", "case_id": "1", "token_id": "1", "webhook_id": "1"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


EDGE_VALUES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01",
    "9999-12-31T23:59:59.999999",
    "2026-03-01T00:00:00Z",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "-1",
    "0",
    str(2**63),
    str(-(2**64)),
    "true",
    "",
    "x" * 5000,
    "\u202e\U0001f600\ufeff",
    _b64(b"[" * 1500),
    _b64(b"{" * 1500),
    _b64(b'[1e400, "a"]'),
    _b64(b"0.5 \xff"),
    _b64(b"nan x"),
    "!!!",
]
VALUES = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.text(max_size=60),
    st.integers().map(str),
    st.floats().map(str),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.binary(max_size=80).map(_b64),
)


def _query_names(dependant: Dependant) -> Iterator[str]:
    """The query parameter names of a route, its dependencies' and those of query models (QueueFilters)."""
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from annotation.model_fields
        else:
            yield field.alias
    for sub in dependant.dependencies:
        yield from _query_names(sub)


def _get_routes(app) -> list[tuple[str, list[str]]]:
    """(path, query parameter names) of every GET route (the API's, the console's and /health)."""
    return sorted(
        (c.path, sorted(set(_query_names(c.route.dependant))))
        for c in iter_route_contexts(app.routes)
        if isinstance(c.route, APIRoute) and "GET" in (c.methods or ())
    )


def test_every_get_route_with_query_parameters_is_fuzzed(sqlite_api: Api) -> None:
    routes = dict(_get_routes(sqlite_api.client.app))
    assert {"/api/v1/detections", "/api/v1/detections/counts", "/console", "/api/v1/audit"} <= set(routes)
    assert {"since", "until", "cursor", "kind"} <= set(routes["/api/v1/detections"])
    assert "cursor" in routes["/console"]


def test_no_query_parameter_of_any_get_route_answers_5xx(api: Api) -> None:
    routes = _get_routes(api.client.app)
    headers = api.h("admin")
    hook = {"url": "https://hooks.invalid/", "events": ["case.opened"]}
    assert api.client.post("/api/v1/webhooks", json=hook, headers=headers).json()["id"] == 1  # webhook_id's page
    sent = 0
    for path, names in routes:
        url = path.format(**{k: v for k, v in PATH_VALUES.items() if "{" + k + "}" in path})
        if not names:
            r = api.client.get(url, headers=headers)
            assert r.status_code < 500, (url, r.text)
            sent += 1
        else:
            sent += _fuzz(api, url, names, headers)
    print(f"{sent:,} requests to {len(routes)} GET routes, none answered 5xx")


def _fuzz(api: Api, url: str, names: list[str], headers: dict[str, str]) -> int:
    """Send generated query strings to ``url`` (derandomized under the ci profile); return how many were sent."""
    sent = 0

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(params=st.dictionaries(st.sampled_from(names), VALUES, max_size=len(names)))
    def check(params: dict[str, str]) -> None:
        nonlocal sent
        r = api.client.get(url, params=params, headers=headers, follow_redirects=False)
        sent += 1
        assert r.status_code < 500, (url, params, r.status_code, r.text[:300])

    check()
    return sent


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/v1/detections", {"since": "0001-01-01T00:00:00+14:00"}),
        ("/api/v1/detections/counts", {"since": "0001-01-01T00:00:00+14:00"}),
        ("/api/v1/detections", {"kind": "account", "since": "0001-01-01T00:00:00+14:00"}),
        ("/api/v1/detections", {"until": "9999-12-31T23:59:59-14:00"}),
        ("/api/v1/detections", {"cursor": _b64(b"[" * 1500)}),
    ],
)
def test_dates_outside_utc_and_nested_cursors_are_refused_with_422(sqlite_api: Api, url: str, params: dict) -> None:
    r = sqlite_api.client.get(url, params=params, headers=sqlite_api.h("viewer"))
    assert r.status_code == 422, r.text


def test_the_console_refuses_a_nested_or_long_cursor_without_a_500(sqlite_api: Api) -> None:
    for cursor in (_b64(b"[" * 1500), _b64(b"[" * 300)):
        r = sqlite_api.client.get("/console", params={"cursor": cursor}, headers=sqlite_api.h("viewer"))
        assert r.status_code == 422, (len(cursor), r.text[:200])
