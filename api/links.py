"""OpenAPI links of the review workflow: queue -> cluster or account evidence -> override of its action, or case ->
transition / decisions / comments / assignment. They tell clients (and schemathesis' stateful runs) which response
value feeds which call."""

from __future__ import annotations

from typing import NamedTuple

from fastapi import FastAPI


class Link(NamedTuple):
    """A link from ``source``'s ``status`` response to operation ``target`` ("METHOD /path")."""

    source: str
    status: int
    name: str
    target: str
    parameters: dict[str, str]
    body: dict | None = None


_CASE_OPERATIONS = {
    "case": "GET /api/v1/cases/{case_id}",
    "transition": "POST /api/v1/cases/{case_id}/transition",
    "decide": "POST /api/v1/cases/{case_id}/decisions",
    "comment": "POST /api/v1/cases/{case_id}/comments",
    "assign": "POST /api/v1/cases/{case_id}/assign",
}


def _to_case(source: str, status: int, case_id: str, *names: str) -> list[Link]:
    """Links from ``source`` to the case operations ``names``, the case id taken from ``case_id``."""
    return [Link(source, status, name, _CASE_OPERATIONS[name], {"path.case_id": case_id}) for name in names]


def _to_override(kind: str, subject: str) -> list[Link]:
    """Links from a ``kind``'s evidence to overriding its action (the id taken from ``subject``), and on to opening a
    case on it or clearing the override."""
    detail, override = f"/api/v1/{kind}s/{{{kind}_id}}", f"/api/v1/{kind}s/{{{kind}_id}}/override"
    param = f"path.{kind}_id"
    case = {"subject_type": "$response.body#/kind", "subject_id": "$response.body#/id"}
    return [
        Link(f"GET {detail}", 200, "override", f"PUT {override}", {param: subject}),
        Link(f"PUT {override}", 200, "openCase", "POST /api/v1/cases", {}, case),
        Link(f"PUT {override}", 200, "clearOverride", f"DELETE {override}", {param: "$response.body#/id"}),
        Link(f"DELETE {override}", 200, "evidence", f"GET {detail}", {param: "$response.body#/id"}),
    ]


LINKS: list[Link] = [
    Link(
        "GET /api/v1/detections",
        200,
        "cluster",
        "GET /api/v1/clusters/{cluster_id}",
        {"path.cluster_id": "$response.body#/items/0/cluster_id"},
    ),
    Link(
        "GET /api/v1/clusters/{cluster_id}",
        200,
        "openCase",
        "POST /api/v1/cases",
        {},
        {"subject_type": "cluster", "subject_id": "$response.body#/cluster_id"},
    ),
    Link(
        "GET /api/v1/clusters/{cluster_id}",
        200,
        "member",
        "GET /api/v1/accounts/{account_id}",
        {"path.account_id": "$response.body#/members/0/account_id"},
    ),
    Link(
        "GET /api/v1/clusters/{cluster_id}",
        200,
        "stix",
        "GET /api/v1/clusters/{cluster_id}/stix",
        {"path.cluster_id": "$response.body#/cluster_id"},
    ),
    *_to_override("cluster", "$response.body#/cluster_id"),
    *_to_override("account", "$response.body#/account_id"),
    Link(
        "GET /api/v1/accounts/{account_id}",
        200,
        "openCase",
        "POST /api/v1/cases",
        {},
        {"subject_type": "account", "subject_id": "$response.body#/account_id"},
    ),
    Link("GET /api/v1/cases", 200, "case", "GET /api/v1/cases/{case_id}", {"path.case_id": "$response.body#/0/id"}),
    *_to_case("POST /api/v1/cases", 201, "$response.body#/id", *_CASE_OPERATIONS),
    *_to_case("GET /api/v1/cases/{case_id}", 200, "$response.body#/id", "transition", "decide", "comment", "assign"),
    *_to_case("POST /api/v1/cases/{case_id}/transition", 200, "$response.body#/case/id", *_CASE_OPERATIONS),
    *_to_case("POST /api/v1/cases/{case_id}/decisions", 200, "$request.path.case_id", "case", "transition"),
    *_to_case("POST /api/v1/cases/{case_id}/comments", 201, "$request.path.case_id", "case"),
    *_to_case("POST /api/v1/cases/{case_id}/assign", 200, "$response.body#/id", "case", "transition"),
    Link(
        "POST /api/v1/tokens",
        201,
        "revoke",
        "POST /api/v1/tokens/{token_id}/revoke",
        {"path.token_id": "$response.body#/id"},
    ),
]


def add_links(spec: dict, links: list[Link] = LINKS) -> dict:
    """``spec`` with ``links`` added to its responses; KeyError naming the operation a link refers to but
    ``spec`` lacks (a renamed route must not silently drop its links)."""

    def operation(ref: str) -> dict:
        method, path = ref.split(" ", 1)
        try:
            return spec["paths"][path][method.lower()]
        except KeyError:
            raise KeyError(f"OpenAPI link refers to {ref}, which the API does not have") from None

    for link in links:
        target = operation(link.target)["operationId"]
        entry = (
            {"operationId": target}
            | ({"parameters": link.parameters} if link.parameters else {})
            | ({"requestBody": link.body} if link.body is not None else {})
        )
        response = operation(link.source)["responses"][str(link.status)]
        response.setdefault("links", {})[link.name] = entry
    return spec


def install(app: FastAPI) -> None:
    """Serve ``app``'s OpenAPI document with :data:`LINKS`."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
