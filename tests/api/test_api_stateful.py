"""Stateful schemathesis run over the API's OpenAPI links (queue -> cluster evidence -> case -> decisions and
transitions; cluster evidence -> override -> clearing it), as an admin, who may call everything: no 5xx and every
response as the schema documents it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode

from tests.api.conftest import Api
from tests.api.schema_checks import CHECKS
from tests.api.state import KEPT, restore, snapshot
from tests.fuzzing import budget

# the review workflow the links must carry a client through, each step answered with one of these at least once;
# a transition is reached with a real case id when it answers 200 or 409 (a move the case's status does not allow:
# which status the random walk asks for is luck, and derandomized walks favour the enum's first value)
WORKFLOW = [
    ("GET", "/api/v1/detections", {200}),
    ("GET", "/api/v1/clusters/{cluster_id}", {200}),
    ("POST", "/api/v1/cases", {201}),
    ("POST", "/api/v1/cases/{case_id}/decisions", {200}),
    ("POST", "/api/v1/cases/{case_id}/transition", {200, 409}),
    ("PUT", "/api/v1/clusters/{cluster_id}/override", {200}),
    ("DELETE", "/api/v1/clusters/{cluster_id}/override", {200}),
]


ISOLATED = "DG_STATEFUL_ISOLATED"


def test_stateful_run_over_the_openapi_links() -> None:
    """The walk below, in a fresh interpreter: after the other API tests in the same process, the same derandomized
    walk did not reach the decisions step in two clean-clone runs (and did alone); which earlier in-process state
    changes it is not found yet, so the walk does not depend on it."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::test_stateful_walk"],
        env={**os.environ, ISOLATED: "1"},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]


@pytest.mark.skipif(
    not os.environ.get(ISOLATED), reason="runs in its own process: test_stateful_run_over_the_openapi_links"
)
def test_stateful_walk(sqlite_api: Api) -> None:
    """Scenarios follow the links with values from earlier responses; requests are schema-valid (invalid ones are
    the stateless run's job), so they get past validation into the workflow."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", sqlite_api.client.app)
    schema.config.phases.stateful.inference.algorithms = []  # only the links the API documents, none inferred
    schema.config.phases.stateful.generation.modes = [GenerationMode.POSITIVE]
    headers = sqlite_api.h("admin")
    answered: set[tuple[str, str, int]] = set()
    statuses: list[int] = []  # of every request sent: the count and the 5xx the run reports
    seeded = snapshot(sqlite_api.url)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc] - a class built by schemathesis
        def setup(self) -> None:
            # every scenario starts from the seeded reviews: the same choices then meet the same answers (a case
            # left open by an earlier scenario made the replay of a walk diverge: FlakyStrategyDefinition). Tokens
            # too: a name an earlier scenario took is refused (409) while its token is active
            restore(sqlite_api.url, seeded, KEPT - {"api_tokens"})

        def get_call_kwargs(self, case) -> dict:
            return {"headers": headers}

        def after_call(self, response, case) -> None:
            super().after_call(response, case)
            answered.add((case.method.upper(), case.path, response.status_code))
            statuses.append(response.status_code)

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs=kwargs)

    # walks derandomized by the ci profile (random and 20 times longer under HYPOTHESIS_PROFILE=fuzz); a longer one
    # only when a workflow step was not reached
    for examples in (40, 80, 120):
        Workflow.run(
            settings=settings(
                max_examples=budget(examples),
                stateful_step_count=16,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
        )
        missed = [(m, p, codes) for m, p, codes in WORKFLOW if not any((m, p, c) in answered for c in codes)]
        if not missed:
            break
    print(f"{len(statuses):,} requests in the stateful walk, {sum(c >= 500 for c in statuses)} answered 5xx")
    assert missed == []
