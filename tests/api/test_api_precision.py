"""Field precision (api/precision/): how often analysts' decisions confirm the detector's flags, per model, ISO week
and recommended rung, from a world of known flags, cases, decisions and overrides; exactly those numbers, the
restricted cases left out for non-members, and the same figures as Prometheus gauges."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from distillguard.api.audit.models import AuditEvent
from distillguard.api.cases.models import AccountDecision, Case
from distillguard.api.database import session_scope
from distillguard.api.detections.models import AccountRow
from distillguard.api.precision.service import GroupBy, quantile, report, wilson_interval
from distillguard.api.restrictions import service as restrictions
from distillguard.streams.broker import EmbeddedBroker
from tests.api import seed
from tests.api.conftest import Api, make_api, seed_world
from tests.api.review_world import ADMIN, ANALYST, LEAD, VIEWER

Z = 1.959963984540054
HYDRA = [f"acct-h{i:03d}" for i in range(40)]  # flagged at 2026-03-02 10:00 + i minutes (W10), model m-2026.03
HYDRA_2 = [f"acct-k{i:03d}" for i in range(10)]  # moved below to 2026-03-16 06:00 (W12), model m-2026.04
LONE = "acct-s005"  # flagged at 2026-03-03 10:00 (W10), never reviewed
HYDRA_CASE_OPENED = datetime(2026, 3, 2, 12, tzinfo=UTC)
HYDRA_DECIDED = datetime(2026, 3, 3, 8, tzinfo=UTC)
K_FLAGGED = datetime(2026, 3, 16, 6, tzinfo=UTC)
AS_OF = datetime(2026, 3, 23, 6, tzinfo=UTC)
NEW_MODEL = "m-2026.04"


def build_world(s: Session) -> None:
    """On the seed: hydra-2 re-flagged two weeks later by a newer model; rungs review / throttle / suspend; the
    c-hydra case confirmed but for two accounts dismissed; acct-k000's case dismissed; an override on acct-k001."""
    for row in s.scalars(select(AccountRow).where(AccountRow.account_id.in_(HYDRA + HYDRA_2))):
        if row.account_id in HYDRA_2:
            row.model_version, row.flagged_at, row.action = NEW_MODEL, K_FLAGGED, "suspend"
        else:
            row.action = "review" if HYDRA.index(row.account_id) < 20 else "throttle"
    hydra = Case(
        subject_type="cluster",
        subject_id="c-hydra",
        status="confirmed_attack",
        created_by="analyst-user",
        created_at=HYDRA_CASE_OPENED,
        decided_by="lead-user",
        decided_at=HYDRA_DECIDED,
    )
    k000 = Case(
        subject_type="account",
        subject_id="acct-k000",
        status="dismissed",
        created_by="analyst-user",
        created_at=K_FLAGGED + timedelta(hours=1),
        decided_by="analyst-user",
        decided_at=K_FLAGGED + timedelta(hours=6),
    )
    s.add_all([hydra, k000])
    s.flush()
    members = [*HYDRA, "acct-r000", "acct-r001"]
    s.add_all(
        AccountDecision(
            case_id=hydra.id,
            account_id=a,
            decision="dismissed" if a in ("acct-h038", "acct-h039") else "confirmed_attack",
            decided_by="lead-user",
            decided_role="lead",
            decided_at=HYDRA_DECIDED,
        )
        for a in members
    )
    s.add(
        AccountDecision(
            case_id=k000.id,
            account_id="acct-k000",
            decision="dismissed",
            decided_by="analyst-user",
            decided_role="analyst",
            decided_at=K_FLAGGED + timedelta(hours=6),
        )
    )
    s.add(
        AuditEvent(
            at=K_FLAGGED + timedelta(hours=2),
            actor="analyst-user",
            action="override.set",
            entity_type="account",
            entity_id="acct-k001",
            details={},
        )
    )
    s.commit()


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson interval written as the roots of its quadratic (another form than the service's)."""
    a = 1 + Z * Z / n
    b = -(2 * k / n + Z * Z / n)
    c = (k / n) ** 2
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def durations(count: int, median: float | None, p90: float | None) -> dict:
    return {"count": count, "median_seconds": median, "p90_seconds": p90}


def queue(count: int, median: float | None, oldest: float | None) -> dict:
    return {"count": count, "median_age_seconds": median, "max_age_seconds": oldest}


def row(key: str, flags: int, confirmed: int, dismissed: int, first: dict, decision: dict, waiting: dict) -> dict:
    """The expected figures of one group."""
    reviewed = confirmed + dismissed
    low, high = wilson(confirmed, reviewed) if reviewed else (None, None)
    return {
        "key": key,
        "flags": flags,
        "reviewed": reviewed,
        "confirmed": confirmed,
        "dismissed": dismissed,
        "precision": confirmed / reviewed if reviewed else None,
        "interval_low": low,
        "interval_high": high,
        "first_review": first,
        "decision": decision,
        "queue": waiting,
    }


# hydra: case opened 2 h after the first flag (7200 - 60 i s), decided 22 h after it (79200 - 60 i s)
HYDRA_FIRST = [7200 - 60 * i for i in range(40)]
HYDRA_DECISION = [79200 - 60 * i for i in range(40)]
LONE_AGE = (AS_OF - datetime(2026, 3, 3, 10, tzinfo=UTC)).total_seconds()  # 20 days 20 hours
K_AGE = (AS_OF - K_FLAGGED).total_seconds()  # 7 days
NOTHING_YET = (durations(0, None, None), durations(0, None, None), queue(0, None, None))


EXPECTED = {
    GroupBy.model: [
        row(
            "m-2026.03", 41, 38, 2, durations(40, 6030, 6966), durations(40, 78030, 78966), queue(1, LONE_AGE, LONE_AGE)
        ),
        row(NEW_MODEL, 10, 0, 1, durations(2, 5400, 6840), durations(1, 21600, 21600), queue(9, K_AGE, K_AGE)),
    ],
    GroupBy.week: [
        row(
            "2026-W10", 41, 38, 2, durations(40, 6030, 6966), durations(40, 78030, 78966), queue(1, LONE_AGE, LONE_AGE)
        ),
        row("2026-W11", 0, 0, 0, *NOTHING_YET),
        row("2026-W12", 10, 0, 1, durations(2, 5400, 6840), durations(1, 21600, 21600), queue(9, K_AGE, K_AGE)),
    ],
    GroupBy.action: [
        row("none", 1, 0, 0, durations(0, None, None), durations(0, None, None), queue(1, LONE_AGE, LONE_AGE)),
        # throttle: h020..h039 (first review 4860..6000 s, decision 76860..78000 s), two dismissed
        row("throttle", 20, 18, 2, durations(20, 5430, 5886), durations(20, 77430, 77886), queue(0, None, None)),
        row("review", 20, 20, 0, durations(20, 6630, 7086), durations(20, 78630, 79086), queue(0, None, None)),
        row("suspend", 10, 0, 1, durations(2, 5400, 6840), durations(1, 21600, 21600), queue(9, K_AGE, K_AGE)),
    ],
}
OVERALL = row(
    "all",
    51,
    38,
    3,
    durations(42, quantile([*HYDRA_FIRST, 3600, 7200], 0.5), quantile([*HYDRA_FIRST, 3600, 7200], 0.9)),
    durations(41, quantile([*HYDRA_DECISION, 21600], 0.5), quantile([*HYDRA_DECISION, 21600], 0.9)),
    queue(10, K_AGE, LONE_AGE),
)


def as_dicts(session: Session, group_by: GroupBy, who=ADMIN, **bounds) -> tuple[list[dict], dict]:
    """The report's groups and overall figures as plain dicts (:mod:`dataclasses` asdict)."""
    from dataclasses import asdict

    r = report(session, restrictions.hidden_from(session, who), group_by, as_of=AS_OF, **bounds)
    return [asdict(g) for g in r.groups], asdict(r.overall)


def approx(expected: object) -> object:
    """``expected`` with every float compared to 1e-9."""
    if isinstance(expected, dict):
        return {k: approx(v) for k, v in expected.items()}
    if isinstance(expected, list):
        return [approx(v) for v in expected]
    return pytest.approx(expected, rel=1e-9, abs=1e-12) if isinstance(expected, float) else expected


@pytest.fixture
def world(db: Session) -> Session:
    build_world(db)
    return db


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 10)
    assert low == 0 and high == pytest.approx(Z * Z / (10 + Z * Z)) and round(high, 4) == 0.2775
    assert [round(b, 4) for b in wilson_interval(5, 10)] == [0.2366, 0.7634]
    assert [round(b, 4) for b in wilson_interval(38, 40)] == [0.8350, 0.9862]
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="between 0 and trials"):
        wilson_interval(3, 2)


def test_quantiles_interpolate_between_ranks() -> None:
    assert quantile([], 0.5) is None
    assert quantile([3, 1, 2, 10], 0.5) == 2.5
    assert quantile([0, 10], 0.9) == 9
    assert quantile([7], 0.9) == 7


@pytest.mark.parametrize("group_by", list(GroupBy))
def test_figures_per_group_are_exactly_the_worlds(world: Session, group_by: GroupBy) -> None:
    groups, overall = as_dicts(world, group_by)
    assert groups == approx(EXPECTED[group_by])
    assert overall == approx(OVERALL)
    assert overall["precision"] == 38 / 41


def test_no_flags_between_the_bounds_give_empty_figures(world: Session) -> None:
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    groups, overall = as_dicts(world, GroupBy.week, since=since, until=until)
    assert groups == []
    assert overall == row("all", 0, 0, 0, *NOTHING_YET)


def test_bounds_select_flags_by_flag_time(world: Session) -> None:
    groups, overall = as_dicts(world, GroupBy.model, since=K_FLAGGED, until=K_FLAGGED + timedelta(seconds=1))
    assert groups == approx(EXPECTED[GroupBy.model][1:])
    assert (overall["flags"], overall["reviewed"]) == (10, 1)


def test_a_restricted_case_is_left_out_of_a_non_members_figures(world: Session) -> None:
    hydra = world.scalar(select(Case).where(Case.subject_id == "c-hydra"))
    restrictions.restrict(world, LEAD, hydra, ["analyst-user"], "insider")
    groups, overall = as_dicts(world, GroupBy.model, who=VIEWER)
    lone = row("m-2026.03", 1, 0, 0, durations(0, None, None), durations(0, None, None), queue(1, LONE_AGE, LONE_AGE))
    assert groups == approx([lone, EXPECTED[GroupBy.model][1]])
    assert (overall["flags"], overall["reviewed"], overall["confirmed"]) == (11, 1, 0)
    for member in (ANALYST, ADMIN, LEAD):
        assert list(as_dicts(world, GroupBy.model, who=member)) == approx([EXPECTED[GroupBy.model], OVERALL])


def test_unknown_model_and_reopened_cases(world: Session) -> None:
    """A record without a model version counts under 'unknown'; a case reopened (not final) decides nothing."""
    world.get(AccountRow, LONE).model_version = None
    k000 = world.scalar(select(Case).where(Case.subject_id == "acct-k000"))
    k000.status = "in_review"
    world.commit()
    groups, _ = as_dicts(world, GroupBy.model)
    assert [(g["key"], g["flags"], g["reviewed"]) for g in groups] == [
        ("m-2026.03", 40, 40),
        (NEW_MODEL, 10, 0),
        ("unknown", 1, 0),
    ]


# The same through the API, on SQLite and PostgreSQL.


@pytest.fixture
def world_api(api: Api) -> Api:
    with session_scope(api.url) as s:
        build_world(s)
    return api


def _aged(expected: list[dict], as_of: datetime) -> list[dict]:
    """``expected`` with its queue ages measured to ``as_of`` instead of :data:`AS_OF`."""
    shift = (as_of - AS_OF).total_seconds()
    out = []
    for g in expected:
        q = {k: (v + shift if k != "count" and v is not None else v) for k, v in g["queue"].items()}
        out.append(g | {"queue": q})
    return out


@pytest.mark.parametrize("group_by", list(GroupBy))
def test_the_endpoint_serves_the_figures(world_api: Api, group_by: GroupBy) -> None:
    r = world_api.client.get(f"/api/v1/precision?group_by={group_by}", headers=world_api.h("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    as_of = datetime.fromisoformat(body["as_of"])
    assert (body["group_by"], body["since"], body["until"]) == (group_by, None, None)
    assert body["groups"] == approx(_aged(EXPECTED[group_by], as_of))
    assert body["overall"] == approx(_aged([OVERALL], as_of)[0])


def test_the_endpoint_refuses_bad_bounds(world_api: Api) -> None:
    h = world_api.h("viewer")
    r = world_api.client.get("/api/v1/precision?since=2026-03-10T00:00:00Z&until=2026-03-01T00:00:00Z", headers=h)
    assert r.status_code == 422 and "since" in r.json()["detail"]
    r = world_api.client.get("/api/v1/precision?group_by=day", headers=h)
    assert r.status_code == 422 and "group_by" in r.text
    r = world_api.client.get("/api/v1/precision?since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z", headers=h)
    assert r.json()["groups"] == [] and r.json()["overall"]["precision"] is None


def _gauges(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_export_precision_per_model_over_what_the_token_sees(world_api: Api) -> None:
    r = world_api.client.get("/metrics", headers=world_api.h("admin"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    g = _gauges(r.text)
    old, new = (("model", "m-2026.03"),), (("model", NEW_MODEL),)
    assert g["distillguard_review_precision", old] == pytest.approx(0.95)
    assert (g["distillguard_review_precision_low", old], g["distillguard_review_precision_high", old]) == pytest.approx(
        wilson(38, 40)
    )
    assert g["distillguard_review_precision", new] == 0
    assert (g["distillguard_review_flags", old], g["distillguard_review_reviewed", new]) == (41, 1)
    assert g["distillguard_review_queue_size", ()] == 10
    assert g["distillguard_review_queue_age_seconds", (("quantile", "1.0"),)] > LONE_AGE
    with session_scope(world_api.url) as s:
        hydra = s.scalar(select(Case).where(Case.subject_id == "c-hydra"))
        restrictions.restrict(s, LEAD, hydra, ["analyst-user"], "insider")
    viewer = _gauges(world_api.client.get("/metrics", headers=world_api.h("viewer")).text)
    assert ("distillguard_review_precision", old) not in viewer  # the lone flag of m-2026.03 is not reviewed
    assert viewer["distillguard_review_flags", old] == 1


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(sqlite_url: str, broker: EmbeddedBroker) -> Iterator[tuple[Api, Clock]]:
    seed_world(sqlite_url)
    clock = Clock()
    for api in make_api(sqlite_url, broker.bootstrap, clock=clock, api_metrics_cache_seconds=30):
        yield api, clock


def test_metrics_are_cached_for_the_setting(clocked: tuple[Api, Clock]) -> None:
    api, clock = clocked
    flags = ("distillguard_review_flags", (("model", seed.MODEL),))
    assert _gauges(api.client.get("/metrics", headers=api.h("viewer")).text)[flags] == 51
    with session_scope(api.url) as s:
        s.get(AccountRow, LONE).flagged = False
    clock.now += 29
    assert _gauges(api.client.get("/metrics", headers=api.h("viewer")).text)[flags] == 51
    clock.now += 2
    assert _gauges(api.client.get("/metrics", headers=api.h("viewer")).text)[flags] == 50


def test_the_decision_that_counts_follows_the_labels_rule(world: Session) -> None:
    """acct-k000 dismissed by an analyst (its case) and confirmed by a lead (its cluster's case): the lead's counts,
    and its time is the lead's decision's."""
    cluster = Case(
        subject_type="cluster",
        subject_id="c-hydra-2",
        status="confirmed_attack",
        created_by="lead-user",
        created_at=K_FLAGGED + timedelta(minutes=30),
        decided_by="lead-user",
        decided_at=K_FLAGGED + timedelta(hours=3),
    )
    world.add(cluster)
    world.flush()
    world.add(
        AccountDecision(
            case_id=cluster.id,
            account_id="acct-k000",
            decision="confirmed_attack",
            decided_by="lead-user",
            decided_role="lead",
            decided_at=K_FLAGGED + timedelta(hours=3),
        )
    )
    world.commit()
    groups, _ = as_dicts(world, GroupBy.model)
    new = groups[1]
    assert (new["reviewed"], new["confirmed"], new["dismissed"]) == (1, 1, 0)
    assert new["decision"] == durations(1, 10800, 10800)
    assert new["first_review"] == durations(10, 1800, 1800)  # the cluster's case opened 30 min after every flag
