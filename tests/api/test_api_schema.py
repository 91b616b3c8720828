"""Property-based run of schemathesis over the OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy import select

from distillguard.api.auth.models import ApiToken
from distillguard.api.auth.service import hash_token
from distillguard.api.database import session_scope
from distillguard.api.webhooks.models import Delivery
from tests.api.conftest import Api
from tests.api.schema_checks import CHECKS

EXAMPLES = 10
FUZZ_TOKEN = "dg_schemathesis-admin-token"


@pytest.fixture
def st_schema(sqlite_api: Api) -> tuple[schemathesis.BaseSchema, dict[str, list]]:
    """The app's OpenAPI schema, with an admin token whose id the fuzzer will not guess, and the ids that exist
    (:data:`REAL_IDS`, a webhook and its deliveries of the two cases opened here)."""
    with session_scope(sqlite_api.url) as s:
        s.add(
            ApiToken(
                id=987_654_321, name="fuzzer", role="admin", prefix=FUZZ_TOKEN[:10], token_hash=hash_token(FUZZ_TOKEN)
            )
        )
    hook = {"url": "https://hooks.invalid/", "events": ["case.opened"]}
    webhook_id = sqlite_api.client.post("/api/v1/webhooks", json=hook, headers=sqlite_api.h("admin")).json()["id"]
    for cluster in ("c-uni", "c-hydra-2"):
        r = sqlite_api.client.post(
            "/api/v1/cases", json={"subject_type": "cluster", "subject_id": cluster}, headers=sqlite_api.h("analyst")
        )
        assert r.status_code == 201
    with session_scope(sqlite_api.url) as s:
        deliveries = list(s.scalars(select(Delivery.id)))
    real = REAL_IDS | {"webhook_id": [webhook_id], "delivery_id": deliveries}
    return schemathesis.openapi.from_asgi("/openapi.json", sqlite_api.client.app), real


# half the generated requests use ids that exist, so the fuzzer reaches past the 404s
REAL_IDS = {
    "cluster_id": ["c-hydra", "c-uni", "c-hydra-2"],
    "account_id": ["acct-h000", "acct-u001"],
    "case_id": [1, 2],
    "token_id": [1, 2],
}


def test_api_conforms_to_its_openapi(st_schema: tuple[schemathesis.BaseSchema, dict[str, list]]) -> None:
    """Every operation, a few valid and a few invalid generated requests each, as an admin (reaches every endpoint)."""
    schema, real_ids = st_schema
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 18
    assert {"/api/v1/precision", "/metrics"} <= {op.path for op in operations}  # field precision (api/precision/)
    for op, mode in [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]:

        @given(case=op.as_strategy(generation_mode=mode), real=st.booleans(), pick=st.integers(0, 2))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case, real: bool, pick: int) -> None:
            if real and case.path_parameters:
                case.path_parameters = {k: real_ids[k][pick % len(real_ids[k])] for k in case.path_parameters}
            case.call_and_validate(headers={"Authorization": f"Bearer {FUZZ_TOKEN}"}, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid request
