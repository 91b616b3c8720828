"""Who may see and decide what: every route of the app x every role, as a table reviewed by hand.

Refusals say why and change nothing; no response carries what its role may not see (prompt text, token secrets,
hashes or other users' token prefixes); a case assigned to someone is theirs to change (any analyst may comment);
and after the whole run the audit log holds every earlier record unchanged plus exactly one record per change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple
from urllib.parse import parse_qs, quote, urlsplit

import msgspec
import pytest
from fastapi.routing import iter_route_contexts
from httpx import Response

from distillguard.api.auth.service import Principal, create_token
from distillguard.api.cases import service as cases
from distillguard.api.database import session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.api.overrides import service as overrides
from distillguard.api.restrictions import service as restrictions
from distillguard.api.webhooks import service as webhooks
from distillguard.api.webhooks.events import Event, EventType
from distillguard.detector.records import SubjectKind
from tests.api import seed
from tests.api.conftest import ORIGIN, Api
from tests.api.state import snapshot

OK, SIGN_IN, REFUSED = "ok", "sign-in", "refused"  # SIGN_IN / REFUSED: console redirects (to sign-in / back, why)
ROLES = ("none", "viewer", "analyst", "lead", "admin")

# What each role gets from each route (a variant is a parameter that changes who may call it). Written by hand, not
# read from the code: a route missing here fails test_every_route_of_the_app_is_in_the_matrix.
MATRIX: dict[tuple[str, str, str], tuple[object, object, object, object, object]] = {
    # method, path, variant                                              none     viewer   analyst  lead  admin
    ("GET", "/health", ""): (OK, OK, OK, OK, OK),
    ("GET", "/openapi.json", ""): (OK, OK, OK, OK, OK),
    ("HEAD", "/openapi.json", ""): (OK, OK, OK, OK, OK),
    ("GET", "/docs", ""): (OK, OK, OK, OK, OK),
    ("HEAD", "/docs", ""): (OK, OK, OK, OK, OK),
    ("GET", "/docs/assets/{path}", ""): (OK, OK, OK, OK, OK),
    ("GET", "/console/static/{path}", ""): (OK, OK, OK, OK, OK),
    ("GET", "/api/v1/detections", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/detections", "indicator_kind=template"): (401, 403, OK, OK, OK),
    ("GET", "/api/v1/detections/export", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/detections/export", "indicator_kind=template"): (401, 403, OK, OK, OK),
    ("GET", "/api/v1/detections/export", "redact=false"): (401, 403, OK, OK, OK),
    ("GET", "/api/v1/detections/counts", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/detections/counts", "indicator_kind=template"): (401, 403, OK, OK, OK),
    ("GET", "/api/v1/clusters/{cluster_id}", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/clusters/{cluster_id}", "redact=false"): (401, 403, OK, OK, OK),
    ("GET", "/api/v1/accounts/{account_id}", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/accounts/{account_id}", "redact=false"): (401, 403, OK, OK, OK),
    ("GET", "/api/v1/clusters/{cluster_id}/stix", ""): (401, 403, OK, OK, OK),
    ("GET", "/api/v1/cases", ""): (401, OK, OK, OK, OK),
    ("POST", "/api/v1/cases", ""): (401, 403, OK, OK, OK),
    ("GET", "/api/v1/cases/{case_id}", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/cases/{case_id}/export", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/cases/{case_id}/export", "redact=false"): (401, 403, OK, OK, OK),
    ("POST", "/api/v1/cases/{case_id}/assign", ""): (401, 403, OK, OK, OK),
    ("POST", "/api/v1/cases/{case_id}/comments", ""): (401, 403, OK, OK, OK),
    ("POST", "/api/v1/cases/{case_id}/decisions", ""): (401, 403, OK, OK, OK),
    ("POST", "/api/v1/cases/{case_id}/transition", ""): (401, 403, OK, OK, OK),
    ("POST", "/api/v1/cases/{case_id}/transition", "confirm"): (401, 403, 403, OK, OK),
    ("PUT", "/api/v1/cases/{case_id}/restriction", ""): (401, 403, 403, OK, OK),
    ("PUT", "/api/v1/cases/{case_id}/restriction", "own case"): (401, 403, OK, OK, OK),
    ("DELETE", "/api/v1/cases/{case_id}/restriction", ""): (401, 403, 403, OK, OK),
    ("DELETE", "/api/v1/cases/{case_id}/restriction", "own case"): (401, 403, OK, OK, OK),
    ("POST", "/api/v1/bulk/cases", ""): (401, 403, OK, OK, OK),
    ("PUT", "/api/v1/accounts/{account_id}/override", ""): (401, 403, OK, OK, OK),
    ("PUT", "/api/v1/accounts/{account_id}/override", "suspend"): (401, 403, 403, OK, OK),
    ("DELETE", "/api/v1/accounts/{account_id}/override", ""): (401, 403, OK, OK, OK),
    ("DELETE", "/api/v1/accounts/{account_id}/override", "suspended"): (401, 403, 403, OK, OK),
    ("PUT", "/api/v1/clusters/{cluster_id}/override", ""): (401, 403, OK, OK, OK),
    ("PUT", "/api/v1/clusters/{cluster_id}/override", "takedown"): (401, 403, 403, OK, OK),
    ("DELETE", "/api/v1/clusters/{cluster_id}/override", ""): (401, 403, OK, OK, OK),
    ("DELETE", "/api/v1/clusters/{cluster_id}/override", "taken down"): (401, 403, 403, OK, OK),
    ("GET", "/api/v1/audit", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/precision", ""): (401, OK, OK, OK, OK),
    ("GET", "/metrics", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/enforcement/pending", ""): (401, OK, OK, OK, OK),
    ("POST", "/api/v1/enforcement/dispatch", ""): (401, 403, 403, OK, OK),
    ("GET", "/api/v1/me", ""): (401, OK, OK, OK, OK),
    ("GET", "/api/v1/tokens", ""): (401, 403, 403, 403, OK),
    ("POST", "/api/v1/tokens", ""): (401, 403, 403, 403, OK),
    ("POST", "/api/v1/tokens/{token_id}/revoke", ""): (401, 403, 403, 403, OK),
    ("GET", "/api/v1/webhooks", ""): (401, 403, 403, 403, OK),
    ("POST", "/api/v1/webhooks", ""): (401, 403, 403, 403, OK),
    ("GET", "/api/v1/webhooks/{webhook_id}", ""): (401, 403, 403, 403, OK),
    ("PATCH", "/api/v1/webhooks/{webhook_id}", ""): (401, 403, 403, 403, OK),
    ("DELETE", "/api/v1/webhooks/{webhook_id}", ""): (401, 403, 403, 403, OK),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries", ""): (401, 403, 403, 403, OK),
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", ""): (401, 403, 403, 403, OK),
    ("GET", "/console/login", ""): (OK, OK, OK, OK, OK),
    ("POST", "/console/login", ""): (SIGN_IN, OK, OK, OK, OK),
    ("POST", "/console/logout", ""): (OK, OK, OK, OK, OK),
    ("GET", "/console", ""): (SIGN_IN, OK, OK, OK, OK),
    ("GET", "/console/clusters/{cluster_id}", ""): (SIGN_IN, OK, OK, OK, OK),
    ("GET", "/console/accounts/{account_id}", ""): (SIGN_IN, OK, OK, OK, OK),
    ("GET", "/console/export", ""): (SIGN_IN, OK, OK, OK, OK),
    ("GET", "/console/cases/{case_id}/export", ""): (SIGN_IN, OK, OK, OK, OK),
    ("GET", "/console/policy", ""): (SIGN_IN, OK, OK, OK, OK),
    ("GET", "/console/precision", ""): (SIGN_IN, OK, OK, OK, OK),
    ("POST", "/console/clusters/{cluster_id}/case", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/cases/{case_id}/transition", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/cases/{case_id}/transition", "confirm"): (SIGN_IN, REFUSED, REFUSED, OK, OK),
    ("POST", "/console/cases/{case_id}/comment", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/cases/{case_id}/decisions", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/clusters/{cluster_id}/override", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/clusters/{cluster_id}/override", "takedown"): (SIGN_IN, REFUSED, REFUSED, OK, OK),
    ("POST", "/console/clusters/{cluster_id}/override/clear", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/clusters/{cluster_id}/override/clear", "taken down"): (SIGN_IN, REFUSED, REFUSED, OK, OK),
    ("POST", "/console/accounts/{account_id}/case", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/accounts/{account_id}/override", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/accounts/{account_id}/override", "suspend"): (SIGN_IN, REFUSED, REFUSED, OK, OK),
    ("POST", "/console/accounts/{account_id}/override/clear", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/accounts/{account_id}/override/clear", "suspended"): (SIGN_IN, REFUSED, REFUSED, OK, OK),
    ("GET", "/console/webhooks", ""): (SIGN_IN, REFUSED, REFUSED, REFUSED, OK),
    ("POST", "/console/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", ""): (
        SIGN_IN,
        REFUSED,
        REFUSED,
        REFUSED,
        OK,
    ),
    ("POST", "/console/bulk/confirm", ""): (SIGN_IN, REFUSED, OK, OK, OK),
    ("POST", "/console/bulk", ""): (SIGN_IN, REFUSED, OK, OK, OK),
}

# Routes whose success is a change: exactly one audit record with this action, by the caller.
AUDITED = {
    ("POST", "/api/v1/cases"): "case.open",
    ("POST", "/api/v1/cases/{case_id}/assign"): "case.assign",
    ("POST", "/api/v1/cases/{case_id}/comments"): "case.comment",
    ("POST", "/api/v1/cases/{case_id}/decisions"): "case.decide_accounts",
    ("POST", "/api/v1/cases/{case_id}/transition"): "case.transition",
    ("PUT", "/api/v1/cases/{case_id}/restriction"): "case.restrict",
    ("DELETE", "/api/v1/cases/{case_id}/restriction"): "case.unrestrict",
    ("POST", "/api/v1/bulk/cases"): "case.open",  # one record per item: the matrix sends one
    ("POST", "/console/bulk"): "case.open",
    ("POST", "/api/v1/tokens"): "token.create",
    ("POST", "/api/v1/enforcement/dispatch"): "enforcement.dispatch",
    ("POST", "/api/v1/tokens/{token_id}/revoke"): "token.revoke",
    ("POST", "/console/clusters/{cluster_id}/case"): "case.open",
    ("POST", "/console/cases/{case_id}/transition"): "case.transition",
    ("POST", "/console/cases/{case_id}/comment"): "case.comment",
    ("POST", "/console/cases/{case_id}/decisions"): "case.decide_accounts",
    ("PUT", "/api/v1/accounts/{account_id}/override"): "override.set",
    ("DELETE", "/api/v1/accounts/{account_id}/override"): "override.clear",
    ("PUT", "/api/v1/clusters/{cluster_id}/override"): "override.set",
    ("DELETE", "/api/v1/clusters/{cluster_id}/override"): "override.clear",
    ("POST", "/console/clusters/{cluster_id}/override"): "override.set",
    ("POST", "/console/clusters/{cluster_id}/override/clear"): "override.clear",
    ("POST", "/console/accounts/{account_id}/case"): "case.open",
    ("POST", "/console/accounts/{account_id}/override"): "override.set",
    ("POST", "/console/accounts/{account_id}/override/clear"): "override.clear",
    ("POST", "/api/v1/webhooks"): "webhook.create",
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): "webhook.update",
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): "webhook.delete",
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): "webhook.redeliver",
    ("POST", "/console/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): "webhook.redeliver",
}
# Routes whose success changes only delivery state. Every other route changes nothing.
DELIVERY: dict[tuple[str, str], str] = {
    ("POST", "/console/login"): "console_sessions",  # opens a session
    ("POST", "/console/logout"): "console_sessions",  # ends it
}

PROMPTS = sorted({p for v in seed.build()[0] for p in v.sample_prompts})
SETUP = Principal(name="setup", role="admin", token_id=0)


class Req(NamedTuple):
    """A concrete request of a matrix row; ``entity`` is the audit entity id a success records (when known)."""

    url: str
    json: dict | None = None
    data: dict | None = None
    expect: int = 200
    entity: str | None = None


CONFIRMED = "c-hydra-2"  # the cluster whose case the matrix confirms (its accounts are not fresh: some are overridden)
ACCOUNT, CLUSTER = SubjectKind.account, SubjectKind.cluster
BY_TEMPLATE = "indicator=Homework%204%2C%20question%202%3A%20solve%20step%20by%20step.&indicator_kind=template"


@dataclass
class World:
    """The seeded app plus fresh subjects, cases and tokens made on demand by a setup actor (audited as "setup")."""

    api: Api
    secrets: list[str] = field(default_factory=list)
    setup_changes: int = 0
    confirmed: int = 0
    _accounts: list[str] = field(default_factory=list)
    _clusters: int = 0

    def __post_init__(self) -> None:
        verdicts, clusters = seed.build()
        # cluster() copies the last cluster, and c-hydra-2 gets a confirmed case: their accounts are not fresh
        taken = {a for c in clusters if c.cluster_id in (clusters[-1].cluster_id, CONFIRMED) for a in c.members}
        self._accounts = [v.account_id for v in reversed(verdicts) if v.account_id not in taken]
        self.secrets = list(self.api.tokens.values())

    def account(self) -> str:
        """An account nobody opened a case on yet."""
        return self._accounts.pop()

    def cluster(self) -> str:
        """A new cluster without a case."""
        self._clusters += 1
        cid = f"c-fresh-{self._clusters}"
        _, clusters = seed.build()
        with session_scope(self.api.url) as s:
            upsert_detections(s, [], [msgspec.structs.replace(clusters[-1], cluster_id=cid)])
        return cid

    def case(self, assignee: str | None = None, status: str = "open") -> tuple[int, str]:
        """(id, account) of a new case on a fresh account, with ``assignee``, moved to ``status`` (open or in_review)."""
        account = self.account()
        with session_scope(self.api.url) as s:
            case = cases.open_case(s, SETUP, "account", account, "setup", assignee)
            self.setup_changes += 1
            if status == "in_review":
                cases.transition(s, SETUP, case, "in_review", None)
                self.setup_changes += 1
            return case.id, account

    def restricted_case(self, role: str, own: bool, restricted: bool) -> int:
        """A new case on a new cluster (created by ``role``'s token when ``own``; else by the setup actor),
        restricted to every role's token when ``restricted``, so that each may find it. (A restricted case on an
        account would hide that account's whole cluster, and with it fresh accounts of other rows.)"""
        cluster = self.cluster()
        with session_scope(self.api.url) as s:
            case = cases.open_case(s, SETUP, "cluster", cluster, "setup")
            case_id = case.id
            self.setup_changes += 1
            if own:  # as if that token had opened it: the setup actor's records stay the only ones
                case.created_by = f"{role}-user"
            if restricted:
                restrictions.restrict(s, SETUP, case, [f"{r}-user" for r in ROLES[1:]], "setup")
                self.setup_changes += 1
        return case_id

    def token(self) -> int:
        """A new viewer token (its secret is remembered: no response may show it)."""
        with session_scope(self.api.url) as s:
            row, secret = create_token(s, f"spare-{len(self.secrets)}", "viewer", actor=SETUP.name)
        self.setup_changes += 1
        self.secrets.append(secret)
        return row.id

    def override(self, kind: SubjectKind, subject: str, action: str) -> None:
        """``subject`` overridden to ``action`` (by the setup actor, who may set any rung)."""
        with session_scope(self.api.url) as s:
            if overrides.set_override(s, SETUP, kind, subject, action, "setup"):  # not when it is already set
                self.setup_changes += 1

    def webhook(self) -> int:
        """A new webhook subscription (enabled, to a host that never answers; no dispatcher runs here)."""
        with session_scope(self.api.url) as s:
            sub = webhooks.create(s, SETUP, "https://hooks.invalid/dg", ["cluster.flagged"], "json", None, True)
        self.setup_changes += 1
        self.secrets.append(sub.secret)
        return sub.id

    def delivery(self) -> tuple[int, str]:
        """(webhook id, delivery id) of a delivery queued for a new subscription."""
        webhook_id = self.webhook()
        with session_scope(self.api.url) as s:
            data = {"cluster_id": f"c-hook-{webhook_id}", "size": 2, "score": 0.9, "probability": 0.9}
            data |= {"action": "review", "flagged_at": None, "reasons": []}
            webhooks.enqueue(s, Event(EventType.cluster_flagged, data["cluster_id"], data))
            (delivery,) = webhooks.deliveries(s, webhook_id)[0]
        return webhook_id, delivery.id

    def confirmed_cluster_case(self, cluster_id: str) -> int:
        """``cluster_id``'s case, confirmed as an attack (its enforcement events pending)."""
        with session_scope(self.api.url) as s:
            case = cases.open_case(s, SETUP, "cluster", cluster_id, "setup")
            cases.transition(s, SETUP, case, "in_review", None)
            cases.transition(s, SETUP, case, "confirmed_attack", "setup: shared card and proxy IPs")
        self.setup_changes += 3
        return case.id


def _case_call(
    tail: str, body: dict, *, form: bool = False, expect: int = 200, status: str = "open", tick: bool = False
) -> Callable[[World, str], Req]:
    """A request to a new case (on a fresh account, unassigned); ``tick``: the console form ticks that account."""

    def build(w: World, _role: str) -> Req:
        case_id, account = w.case(status=status)
        body_ = body | {"account_ids": [account]} if tick else body
        prefix = "/console/cases" if form else "/api/v1/cases"
        return Req(
            f"{prefix}/{case_id}/{tail}",
            data=body_ if form else None,
            json=None if form else body_,
            expect=303 if form else expect,
            entity=str(case_id),
        )

    return build


def _url(url: str) -> Callable[[World, str], Req]:
    return lambda _w, _role: Req(url)


def _override(kind: SubjectKind, action: str, account: str = "", form: bool = False) -> Callable[[World, str], Req]:
    """A request overriding ``account`` (an account's; else a new cluster) to ``action``, its reason naming the
    role (so that each role's request is a change)."""

    def build(w: World, role: str) -> Req:
        subject = account or w.cluster()
        body = {"action": action, "reason": f"triage by {role}"}
        if form:
            return Req(f"/console/{kind}s/{subject}/override", data=body, expect=303, entity=subject)
        return Req(f"/api/v1/{kind}s/{subject}/override", json=body, entity=subject)

    return build


def _cleared(kind: SubjectKind, action: str, account: str = "", form: bool = False) -> Callable[[World, str], Req]:
    """A request clearing the override to ``action`` of ``account`` (an account's; else a new cluster), set first."""

    def build(w: World, _role: str) -> Req:
        subject = account or w.cluster()
        w.override(kind, subject, action)
        if form:
            return Req(f"/console/{kind}s/{subject}/override/clear", data={}, expect=303, entity=subject)
        return Req(f"/api/v1/{kind}s/{subject}/override", entity=subject)

    return build


def _webhook(tail: str = "", json: dict | None = None, expect: int = 200) -> Callable[[World, str], Req]:
    """A request to a new webhook subscription (``tail`` after its URL)."""

    def build(w: World, _role: str) -> Req:
        webhook_id = w.webhook()
        return Req(f"/api/v1/webhooks/{webhook_id}{tail}", json=json, expect=expect, entity=str(webhook_id))

    return build


def _restriction(restricted: bool, own: bool) -> Callable[[World, str], Req]:
    """A request restricting (or, ``restricted``, lifting the restriction of) a new case, ``own``: opened by the
    caller."""

    def build(w: World, role: str) -> Req:
        case_id = w.restricted_case(role, own, restricted)
        body = None if restricted else {"members": ["viewer-user"], "reason": f"by {role}"}
        return Req(f"/api/v1/cases/{case_id}/restriction", json=body, entity=str(case_id))

    return build


def _redeliver(form: bool = False) -> Callable[[World, str], Req]:
    """Redelivering a new delivery, through the API or the console."""

    def build(w: World, _role: str) -> Req:
        webhook_id, delivery_id = w.delivery()
        path = f"/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"
        if form:
            return Req("/console" + path, data={}, expect=303, entity=str(webhook_id))
        return Req("/api/v1" + path, entity=str(webhook_id))

    return build


def _bulk(form: bool) -> Callable[[World, str], Req]:
    """A bulk request opening a case on one new cluster (through the console form, confirmed, when ``form``)."""

    def build(w: World, _role: str) -> Req:
        if form:
            return Req("/console/bulk", data={"kind": "cluster", "action": "open", "subject": w.cluster()}, expect=303)
        body = {"action": "open", "subjects": [{"kind": "cluster", "id": w.cluster()}]}
        return Req("/api/v1/bulk/cases", json=body)

    return build


def _revoke(w: World, _role: str) -> Req:
    token_id = w.token()
    return Req(f"/api/v1/tokens/{token_id}/revoke", entity=str(token_id))


REQUESTS: dict[tuple[str, str, str], Callable[[World, str], Req]] = {
    ("GET", "/health", ""): _url("/health"),
    ("GET", "/openapi.json", ""): _url("/openapi.json"),
    ("HEAD", "/openapi.json", ""): _url("/openapi.json"),
    ("GET", "/docs", ""): _url("/docs"),
    ("HEAD", "/docs", ""): _url("/docs"),
    ("GET", "/docs/assets/{path}", ""): _url("/docs/assets/swagger-ui.css"),
    ("GET", "/console/static/{path}", ""): _url("/console/static/console.css"),
    ("GET", "/api/v1/detections", ""): _url("/api/v1/detections?kind=account&limit=200"),
    ("GET", "/api/v1/detections", "indicator_kind=template"): _url(f"/api/v1/detections?{BY_TEMPLATE}"),
    ("GET", "/api/v1/detections/export", ""): _url("/api/v1/detections/export?kind=account&format=csv"),
    ("GET", "/api/v1/detections/export", "indicator_kind=template"): _url(
        f"/api/v1/detections/export?format=jsonl&{BY_TEMPLATE}"
    ),
    ("GET", "/api/v1/detections/export", "redact=false"): _url("/api/v1/detections/export?format=jsonl&redact=false"),
    ("GET", "/api/v1/detections/counts", ""): _url("/api/v1/detections/counts"),
    ("GET", "/api/v1/detections/counts", "indicator_kind=template"): _url(f"/api/v1/detections/counts?{BY_TEMPLATE}"),
    ("GET", "/api/v1/clusters/{cluster_id}", ""): _url("/api/v1/clusters/c-hydra"),
    ("GET", "/api/v1/clusters/{cluster_id}", "redact=false"): _url("/api/v1/clusters/c-hydra?redact=false"),
    ("GET", "/api/v1/accounts/{account_id}", ""): _url("/api/v1/accounts/acct-h001"),
    ("GET", "/api/v1/accounts/{account_id}", "redact=false"): _url("/api/v1/accounts/acct-h001?redact=false"),
    ("GET", "/api/v1/clusters/{cluster_id}/stix", ""): _url("/api/v1/clusters/c-hydra-2/stix"),
    ("GET", "/api/v1/cases", ""): _url("/api/v1/cases"),
    ("POST", "/api/v1/cases", ""): lambda w, _r: Req(
        "/api/v1/cases", expect=201, json={"subject_type": "account", "subject_id": w.account()}
    ),
    ("GET", "/api/v1/cases/{case_id}", ""): lambda w, _r: Req(f"/api/v1/cases/{w.confirmed}"),
    ("GET", "/api/v1/cases/{case_id}/export", ""): lambda w, _r: Req(f"/api/v1/cases/{w.confirmed}/export?format=csv"),
    ("GET", "/api/v1/cases/{case_id}/export", "redact=false"): lambda w, _r: Req(
        f"/api/v1/cases/{w.confirmed}/export?format=jsonl&redact=false"
    ),
    ("POST", "/api/v1/cases/{case_id}/assign", ""): _case_call(
        "assign", {"assignee": "analyst-user", "reason": "rota"}
    ),
    ("POST", "/api/v1/cases/{case_id}/comments", ""): _case_call("comments", {"body": "seen"}, expect=201),
    ("POST", "/api/v1/cases/{case_id}/decisions", ""): _case_call("decisions", {"decision": "dismissed"}),
    ("POST", "/api/v1/cases/{case_id}/transition", ""): _case_call("transition", {"status": "in_review"}),
    ("POST", "/api/v1/cases/{case_id}/transition", "confirm"): _case_call(
        "transition", {"status": "confirmed_attack", "reason": "proxy IPs"}, status="in_review"
    ),
    ("PUT", "/api/v1/cases/{case_id}/restriction", ""): _restriction(restricted=False, own=False),
    ("PUT", "/api/v1/cases/{case_id}/restriction", "own case"): _restriction(restricted=False, own=True),
    ("DELETE", "/api/v1/cases/{case_id}/restriction", ""): _restriction(restricted=True, own=False),
    ("DELETE", "/api/v1/cases/{case_id}/restriction", "own case"): _restriction(restricted=True, own=True),
    ("POST", "/api/v1/bulk/cases", ""): _bulk(form=False),
    ("POST", "/console/bulk/confirm", ""): lambda w, _r: Req(
        "/console/bulk/confirm", data={"kind": "account", "action": "dismiss", "subject": ["acct-s000", "acct-s001"]}
    ),
    ("POST", "/console/bulk", ""): _bulk(form=True),
    ("PUT", "/api/v1/accounts/{account_id}/override", ""): _override(ACCOUNT, "watch", "acct-k003"),
    ("PUT", "/api/v1/accounts/{account_id}/override", "suspend"): _override(ACCOUNT, "suspend", "acct-k004"),
    ("DELETE", "/api/v1/accounts/{account_id}/override", ""): _cleared(ACCOUNT, "throttle", "acct-k005"),
    ("DELETE", "/api/v1/accounts/{account_id}/override", "suspended"): _cleared(ACCOUNT, "suspend", "acct-k006"),
    ("PUT", "/api/v1/clusters/{cluster_id}/override", ""): _override(CLUSTER, "review"),
    ("PUT", "/api/v1/clusters/{cluster_id}/override", "takedown"): _override(CLUSTER, "takedown"),
    ("DELETE", "/api/v1/clusters/{cluster_id}/override", ""): _cleared(CLUSTER, "none"),
    ("DELETE", "/api/v1/clusters/{cluster_id}/override", "taken down"): _cleared(CLUSTER, "takedown"),
    ("GET", "/api/v1/audit", ""): _url("/api/v1/audit?limit=500"),
    ("GET", "/api/v1/precision", ""): _url("/api/v1/precision?group_by=week"),
    ("GET", "/metrics", ""): _url("/metrics"),
    ("GET", "/api/v1/enforcement/pending", ""): _url("/api/v1/enforcement/pending"),
    ("POST", "/api/v1/enforcement/dispatch", ""): _url("/api/v1/enforcement/dispatch"),
    ("GET", "/api/v1/me", ""): _url("/api/v1/me"),
    ("GET", "/api/v1/tokens", ""): _url("/api/v1/tokens"),
    ("POST", "/api/v1/tokens", ""): lambda _w, role: Req(
        "/api/v1/tokens", json={"name": f"by-{role}", "role": "viewer"}, expect=201
    ),
    ("POST", "/api/v1/tokens/{token_id}/revoke", ""): _revoke,
    ("GET", "/api/v1/webhooks", ""): _url("/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks", ""): lambda _w, role: Req(
        "/api/v1/webhooks", json={"url": f"https://{role}.invalid/", "events": ["case.opened"]}, expect=201
    ),
    ("GET", "/api/v1/webhooks/{webhook_id}", ""): _webhook(),
    ("PATCH", "/api/v1/webhooks/{webhook_id}", ""): _webhook(json={"enabled": False}),
    ("DELETE", "/api/v1/webhooks/{webhook_id}", ""): _webhook(expect=204),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries", ""): _webhook("/deliveries"),
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", ""): _redeliver(),
    ("GET", "/console/login", ""): _url("/console/login"),
    ("POST", "/console/login", ""): lambda w, role: Req(
        "/console/login", data={"token": w.api.tokens[role] if role != "none" else "dg_unknown"}, expect=303
    ),
    ("POST", "/console/logout", ""): lambda _w, _r: Req("/console/logout", expect=303),
    ("GET", "/console", ""): _url("/console"),
    ("GET", "/console/clusters/{cluster_id}", ""): _url("/console/clusters/c-hydra"),
    ("GET", "/console/accounts/{account_id}", ""): _url("/console/accounts/acct-h001"),
    ("GET", "/console/export", ""): _url("/console/export?kind=account&format=jsonl&flagged=true&q=acct-h"),
    ("GET", "/console/cases/{case_id}/export", ""): lambda w, _r: Req(
        f"/console/cases/{w.confirmed}/export?format=csv"
    ),
    ("GET", "/console/policy", ""): _url("/console/policy"),
    ("GET", "/console/precision", ""): _url("/console/precision"),
    ("POST", "/console/clusters/{cluster_id}/case", ""): lambda w, _r: Req(
        f"/console/clusters/{w.cluster()}/case", data={"reason": "triage"}, expect=303
    ),
    ("POST", "/console/cases/{case_id}/transition", ""): _case_call("transition", {"status": "in_review"}, form=True),
    ("POST", "/console/cases/{case_id}/transition", "confirm"): _case_call(
        "transition", {"status": "confirmed_attack", "reason": "proxy IPs"}, form=True, status="in_review"
    ),
    ("POST", "/console/cases/{case_id}/comment", ""): _case_call("comment", {"body": "seen"}, form=True),
    ("POST", "/console/cases/{case_id}/decisions", ""): _case_call(
        "decisions", {"decision": "dismissed"}, form=True, tick=True
    ),
    ("POST", "/console/clusters/{cluster_id}/override", ""): _override(CLUSTER, "challenge", form=True),
    ("POST", "/console/clusters/{cluster_id}/override", "takedown"): _override(CLUSTER, "takedown", form=True),
    ("POST", "/console/clusters/{cluster_id}/override/clear", ""): _cleared(CLUSTER, "watch", form=True),
    ("POST", "/console/clusters/{cluster_id}/override/clear", "taken down"): _cleared(CLUSTER, "takedown", form=True),
    ("POST", "/console/accounts/{account_id}/case", ""): lambda w, _r: Req(
        f"/console/accounts/{w.account()}/case", data={"reason": "lone harvester"}, expect=303
    ),
    ("POST", "/console/accounts/{account_id}/override", ""): _override(ACCOUNT, "watch", "acct-k007", form=True),
    ("POST", "/console/accounts/{account_id}/override", "suspend"): _override(
        ACCOUNT, "suspend", "acct-k008", form=True
    ),
    ("POST", "/console/accounts/{account_id}/override/clear", ""): _cleared(
        ACCOUNT, "throttle", "acct-k009", form=True
    ),
    ("POST", "/console/accounts/{account_id}/override/clear", "suspended"): _cleared(
        ACCOUNT, "suspend", "acct-k002", form=True
    ),
    ("GET", "/console/webhooks", ""): _url("/console/webhooks"),
    ("POST", "/console/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", ""): _redeliver(form=True),
}


def _throwaway_console(api: Api, role: str) -> tuple[dict[str, str], str]:
    """A console session of ``role`` other than its kept one (signing out must not end that one)."""
    kept = api.consoles.pop(role, None)
    fresh = api.console(role)
    api.consoles.pop(role)
    if kept is not None:
        api.consoles[role] = kept
    return fresh


def send(api: Api, method: str, path: str, role: str, req: Req) -> Response:
    """``req`` as ``role`` ("none": no credentials): the API by bearer token, the console by its session cookie
    (posts from this origin with the session's CSRF token)."""
    headers: dict[str, str] = {}
    data = req.data
    if path.startswith("/console"):
        headers = {"Origin": ORIGIN}
        if role != "none":
            headers, csrf = _throwaway_console(api, role) if path == "/console/logout" else api.console(role)
            if method == "POST":
                data = (data or {}) | {"csrf": csrf}
    elif role != "none":
        headers = {"Authorization": f"Bearer {api.tokens[role]}"}
    try:
        return api.client.request(method, req.url, json=req.json, data=data, headers=headers, follow_redirects=False)
    finally:
        api.client.cookies.clear()  # a console sign-in must not carry over to the next request


def check_outcome(r: Response, expected: object, role: str, req: Req) -> None:
    """The response is ``expected``, and a refusal says why (the caller's role and a higher one it needs)."""
    where = r.headers.get("location", "")
    if expected == OK:
        assert r.status_code == req.expect, r.text[:300]
        assert "msg=" not in where, where
    elif expected == 401:
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["detail"].startswith("missing API token: send 'Authorization: Bearer <token>'")
    elif expected == 403:
        assert r.status_code == 403, r.text[:300]
        detail = r.json()["detail"]
        assert repr(role) in detail, detail
        assert any(repr(higher) in detail for higher in ROLES[ROLES.index(role) + 1 :]), detail
    elif expected == SIGN_IN:
        assert r.status_code == 303 and where.startswith("/console/login"), (r.status_code, where)
    else:
        assert expected == REFUSED and r.status_code == 303, (r.status_code, r.text[:300])
        why = parse_qs(urlsplit(where).query)["msg"][0]
        assert repr(role) in why, why


def check_no_leaks(r: Response, role: str, secrets: list[str], tokens: list[dict]) -> None:
    """No secret or hash of any token; no other token's prefix but to admins; no prompt text to viewers."""
    body = r.text
    assert not [s for s in secrets if s in body]
    assert not [t["name"] for t in tokens if t["token_hash"] in body]
    if role != "admin":
        assert not [t["name"] for t in tokens if t["prefix"] in body]
    if role in ("none", "viewer"):
        assert not [p for p in PROMPTS if p in body]


def test_every_route_of_the_app_is_in_the_matrix(sqlite_api: Api) -> None:
    """A new endpoint fails here until someone decides, in MATRIX, who may call it."""
    routes = set()
    for route in iter_route_contexts(sqlite_api.client.app.routes):
        methods = route.methods or {"GET"}  # a mount (static files) serves GET
        path = route.path if route.methods else route.path + "/{path}"
        routes |= {(m, path) for m in methods}
    listed = {(m, p) for m, p, _ in MATRIX}
    assert routes - listed == set(), "routes nobody reviewed: add them to MATRIX"
    assert listed - routes == set(), "MATRIX lists routes the app no longer has"
    assert set(REQUESTS) == set(MATRIX)
    assert set(AUDITED) | set(DELIVERY) <= listed


def test_authorization_matrix(api: Api) -> None:
    """Every row x every role: the expected outcome; refusals change nothing; successful changes write exactly one
    audit record by the caller; reads change nothing; no response leaks. Then the audit log as a whole. On both
    dialects: the audit log must hold on the production database too."""
    w = World(api)
    w.confirmed = w.confirmed_cluster_case(CONFIRMED)  # decisions, pending enforcement events, a STIX bundle
    for role in ROLES[1:]:
        api.console(role)  # each role's console session, opened before the changes are counted
    start, setup_before = snapshot(w.api.url)["audit_events"], w.setup_changes
    made: list[tuple[str, str, str | None]] = []
    for (method, path, variant), outcomes in MATRIX.items():
        for role, expected in zip(ROLES, outcomes, strict=True):
            req = REQUESTS[method, path, variant](w, role)
            before = snapshot(w.api.url)
            r = send(w.api, method, path, role, req)
            after = snapshot(w.api.url)
            label = f"{method} {path} {variant} as {role}"
            check_outcome(r, expected, role, req)
            check_no_leaks(r, role, w.secrets, after["api_tokens"])
            new = after["audit_events"][len(before["audit_events"]) :]
            assert after["audit_events"][: len(before["audit_events"])] == before["audit_events"], label
            if expected != OK:
                assert after == before, f"refused {label} changed the database"
            elif (method, path) in AUDITED:
                actor = f"{role}-user"
                assert [(e["actor"], e["action"]) for e in new] == [(actor, AUDITED[method, path])], label
                assert req.entity in (None, new[0]["entity_id"]), label
                made.append((actor, AUDITED[method, path], new[0]["entity_id"]))
            elif (method, path) in DELIVERY:
                changed = {t for t in after if after[t] != before[t]}
                assert changed <= {DELIVERY[method, path]}, (label, changed)
            else:
                assert after == before, f"{label} changed the database"

    end = snapshot(w.api.url)["audit_events"]
    assert end[: len(start)] == start  # append-only: nothing recorded before the run changed
    ids = [e["id"] for e in end]
    assert ids == sorted(set(ids))
    run = end[len(start) :]
    assert [(e["actor"], e["action"], e["entity_id"]) for e in run if e["actor"] != SETUP.name] == made
    assert sum(e["actor"] == SETUP.name for e in run) == w.setup_changes - setup_before
    assert len(made) == sum(o == OK for (m, p, _), row in MATRIX.items() if (m, p) in AUDITED for o in row)


# A case assigned to analyst-2: what each token may do with it (comments are open to every analyst).
ACTORS = ("analyst-user", "analyst-2", "lead-user", "admin-user")
WHOSE_CASE: dict[str, tuple[tuple[object, ...], str, dict]] = {
    #              analyst-user analyst-2 lead-user admin-user  path tail     body
    "comment": ((OK, OK, OK, OK), "comments", {"body": "I saw this too"}),
    "transition": ((403, OK, OK, OK), "transition", {"status": "escalated"}),
    "decide": ((403, OK, OK, OK), "decisions", {"decision": "dismissed", "reason": "x"}),
    "take": ((403, OK, OK, OK), "assign", {"assignee": "analyst-user"}),
    "unassign": ((403, OK, OK, OK), "assign", {"assignee": None}),
}
CONSOLE_WHOSE_CASE: dict[str, tuple[tuple[object, ...], str, dict]] = {
    "comment": ((OK, OK, OK, OK), "comment", {"body": "I saw this too"}),
    "transition": ((REFUSED, OK, OK, OK), "transition", {"status": "escalated"}),
    "decide": ((REFUSED, OK, OK, OK), "decisions", {"decision": "dismissed"}),
}


@pytest.fixture
def whose(sqlite_api: Api) -> World:
    """The world with a second analyst token, "analyst-2"."""
    w = World(sqlite_api)
    with session_scope(w.api.url) as s:
        w.api.tokens["analyst-2"] = create_token(s, "analyst-2", "analyst")[1]
    for role in ("analyst", "lead", "admin"):
        w.api.tokens[f"{role}-user"] = w.api.tokens[role]
    return w


def _as(w: World, actor: str, method: str, url: str, **kw: object) -> Response:
    if url.startswith("/console"):
        headers, csrf = w.api.console(actor)
        if "data" in kw:
            kw["data"] = kw["data"] | {"csrf": csrf}  # type: ignore[operator]
    else:
        headers = {"Authorization": f"Bearer {w.api.tokens[actor]}"}
    r = w.api.client.request(method, url, headers=headers, follow_redirects=False, **kw)
    w.api.client.cookies.clear()
    return r


@pytest.mark.parametrize("surface", ["api", "console"])
def test_a_case_assigned_to_someone_is_theirs_to_change(whose: World, surface: str) -> None:
    """Only the assignee, leads and admins change an assigned case; any analyst comments. A refusal names the
    assignee and changes nothing; a change writes one audit record by its actor."""
    table = WHOSE_CASE if surface == "api" else CONSOLE_WHOSE_CASE
    for op, (outcomes, tail, body) in table.items():
        for actor, expected in zip(ACTORS, outcomes, strict=True):
            case_id, account = whose.case(assignee="analyst-2", status="in_review")
            before = snapshot(whose.api.url)
            if surface == "api":
                r = _as(whose, actor, "POST", f"/api/v1/cases/{case_id}/{tail}", json=body)
            else:
                form = body | ({"account_ids": [account]} if op == "decide" else {})
                r = _as(whose, actor, "POST", f"/console/cases/{case_id}/{tail}", data=form)
            after = snapshot(whose.api.url)
            label = f"{surface} {op} by {actor}"
            if expected == OK:
                done = r.status_code in (200, 201) if surface == "api" else "msg=" not in r.headers["location"]
                assert done, (label, r.status_code, r.headers.get("location"), r.text[:300])
                new = after["audit_events"][len(before["audit_events"]) :]
                assert [(e["actor"], e["entity_id"]) for e in new] == [(actor, str(case_id))], label
                continue
            why = r.json()["detail"] if expected == 403 else parse_qs(urlsplit(r.headers["location"]).query)["msg"][0]
            assert r.status_code == (403 if expected == 403 else 303), label
            assert f"case {case_id} is assigned to 'analyst-2'" in why and "'analyst-user'" in why, why
            assert after == before, f"refused {label} changed the database"


def test_an_analyst_takes_or_hands_over_an_unassigned_case(whose: World) -> None:
    """Unassigned cases are anyone's: an analyst takes one or hands it over, and a handed-over case is no longer theirs
    until its new owner unassigns it."""
    case_id, _ = whose.case(status="in_review")

    def act(actor: str, tail: str, body: dict) -> int:
        return _as(whose, actor, "POST", f"/api/v1/cases/{case_id}/{tail}", json=body).status_code

    assert act("analyst-user", "assign", {"assignee": "analyst-2", "reason": "her shift"}) == 200
    assert act("analyst-user", "transition", {"status": "escalated"}) == 403
    assert act("analyst-user", "assign", {"assignee": "analyst-user"}) == 403
    assert act("analyst-2", "assign", {"assignee": None, "reason": "back to the pool"}) == 200
    assert act("analyst-user", "assign", {"assignee": "analyst-user"}) == 200
    assert act("analyst-2", "transition", {"status": "escalated"}) == 403
    assert act("analyst-user", "transition", {"status": "escalated"}) == 200
    audit = whose.api.client.get(
        "/api/v1/audit",
        params={"entity_type": "case", "entity_id": case_id},
        headers={"Authorization": f"Bearer {whose.api.tokens['viewer']}"},
    ).json()
    assert [(e["actor"], e["action"], e["details"].get("after")) for e in audit][2:] == [
        ("analyst-user", "case.assign", "analyst-2"),
        ("analyst-2", "case.assign", None),
        ("analyst-user", "case.assign", "analyst-user"),
        ("analyst-user", "case.transition", "escalated"),
    ]


def test_the_console_offers_no_moves_on_someone_elses_case(whose: World) -> None:
    """The cluster page disables status buttons and hides bulk decisions for an analyst who may not change the case."""
    with session_scope(whose.api.url) as s:
        case = cases.open_case(s, SETUP, "cluster", "c-uni", "setup", "analyst-2")
        cases.transition(s, SETUP, case, "in_review", None)
    mine = _as(whose, "analyst-2", "GET", "/console/clusters/c-uni").text
    theirs = _as(whose, "analyst-user", "GET", "/console/clusters/c-uni").text
    assert 'title="assigned to analyst-2"' not in mine and 'id="dismiss-selected"' in mine
    assert 'title="assigned to analyst-2"' in theirs and 'id="dismiss-selected"' not in theirs


def test_prompt_templates_among_indicators_are_redacted_for_viewers(whose: World) -> None:
    """A prompt template shared by a cluster is prompt text: viewers (and redacted views) see its size class only."""
    template = "Homework 4, question 2: solve step by step."
    viewer = {"Authorization": f"Bearer {whose.api.tokens['viewer']}"}
    api = whose.api.client.get("/api/v1/clusters/c-uni", headers=viewer).json()
    assert api["shared_indicators"]["template"] == ["[redacted: short]"]
    page = whose.api.client.get("/console/clusters/c-uni", headers=whose.api.console("viewer")[0])
    whose.api.client.cookies.clear()
    assert template not in page.text
    analyst = {"Authorization": f"Bearer {whose.api.tokens['analyst']}"}
    clear = whose.api.client.get("/api/v1/clusters/c-uni", params={"redact": False}, headers=analyst).json()
    assert clear["shared_indicators"]["template"] == [template]


# A restricted case on SECRET_CLUSTER (confirmed, so that every route has something to show), seen by the viewer.
SECRET_CLUSTER, SECRET_ACCOUNT = CONFIRMED, "acct-k001"
MISSING = {"case_id": "2000000000", "cluster_id": "c-missing", "account_id": "acct-missing"}
NAMED = ("case_id", "cluster_id", "account_id")  # the path parameters a restriction hides
# A valid body of each route that takes one (so that the answer is the route's, not the body's validation).
BODIES: dict[tuple[str, str], dict] = {
    ("POST", "/api/v1/cases/{case_id}/assign"): {"assignee": None},
    ("POST", "/api/v1/cases/{case_id}/comments"): {"body": "anyone?"},
    ("POST", "/api/v1/cases/{case_id}/decisions"): {"decision": "dismissed"},
    ("POST", "/api/v1/cases/{case_id}/transition"): {"status": "in_review"},
    ("PUT", "/api/v1/cases/{case_id}/restriction"): {"members": []},
    ("PUT", "/api/v1/accounts/{account_id}/override"): {"action": "watch", "reason": "r"},
    ("PUT", "/api/v1/clusters/{cluster_id}/override"): {"action": "watch", "reason": "r"},
    ("POST", "/console/cases/{case_id}/transition"): {"status": "in_review"},
    ("POST", "/console/cases/{case_id}/comment"): {"body": "anyone?"},
    ("POST", "/console/cases/{case_id}/decisions"): {"decision": "dismissed", "account_ids": [SECRET_ACCOUNT]},
    ("POST", "/console/clusters/{cluster_id}/override"): {"action": "watch", "reason": "r"},
    ("POST", "/console/accounts/{account_id}/override"): {"action": "watch", "reason": "r"},
    ("POST", "/console/clusters/{cluster_id}/case"): {"reason": "r"},
    ("POST", "/console/accounts/{account_id}/case"): {"reason": "r"},
}


def _masked(r: Response, ids: dict[str, str]) -> tuple[int, str, str]:
    """Status, location and body of ``r`` with the ids it was asked about masked."""
    texts = [r.headers.get("location", ""), r.text]
    for key, value in ids.items():
        shown = (f"case {value}", f"/cases/{value}/") if key == "case_id" else (value, quote(value, safe=""))
        for form in shown:
            texts = [t.replace(form, f"<{key}>") for t in texts]
    return r.status_code, texts[0], texts[1]


def _ask(api: Api, method: str, path: str, role: str, ids: dict[str, str]) -> Response:
    """``method`` ``path`` about ``ids`` as ``role``, with the route's body (:data:`BODIES`)."""
    body = BODIES.get((method, path))
    form = path.startswith("/console")
    url = path.format(**{n: quote(v, safe="") for n, v in ids.items()})
    return send(api, method, path, role, Req(url, json=None if form else body, data=body if form else None))


def test_a_restricted_case_is_missing_to_non_members_on_every_route(sqlite_api: Api) -> None:
    """Every route of the matrix naming a case, a cluster or an account, as every role: to a non-member the restricted
    case and its subjects answer exactly as unknown ids (status, redirect and body) and nothing changes; members and
    admins read them."""
    w = World(sqlite_api)
    case_id = w.confirmed_cluster_case(SECRET_CLUSTER)
    with session_scope(w.api.url) as s:
        restrictions.restrict(s, SETUP, cases.get_case(s, case_id), ["viewer-user"], "insider")
    secret = {"case_id": str(case_id), "cluster_id": SECRET_CLUSTER, "account_id": SECRET_ACCOUNT}
    for role in ROLES[1:]:
        w.api.console(role)  # each role's console session, opened before the database is compared
    routes = sorted({(m, p) for m, p, _ in MATRIX if any(f"{{{n}}}" in p for n in NAMED)})
    assert len(routes) > len(NAMED)
    for method, path in routes:
        ask = partial(_ask, w.api, method, path)
        for role in ("viewer", "analyst", "lead", "admin"):
            member = role in ("viewer", "admin")
            label = f"{method} {path} as {role}"
            if member:  # reads only: a member's change (lifting the restriction) would spoil the rows after it
                if method == "GET":
                    allowed = MATRIX[method, path, ""][ROLES.index(role)] == OK
                    assert ask(role, secret).status_code == (200 if allowed else 403), label
                continue
            before = snapshot(w.api.url)
            r = ask(role, secret)
            assert snapshot(w.api.url) == before, f"{label} changed the database"
            assert _masked(r, secret) == _masked(ask(role, MISSING), MISSING), label
