"""Code vulture reports as unused that is used: called by a framework, read by a serializer, or public API.

Listed in ``[tool.vulture] paths`` (pyproject.toml), so ``make lint`` counts these names as used. The file is
read by vulture, never imported. Top-level objects are imported (a rename breaks this file loudly); methods,
nested functions and names vulture only knows by their spelling are attributes of ``_``. Before adding a
name, check it really is used; remove what is dead instead.
"""

# Bare names and attributes are how a vulture whitelist says "used".
# ruff: noqa: B018

from distillguard.api.app import Health, health
from distillguard.api.audit.views import list_audit
from distillguard.api.auth.views import me
from distillguard.api.bulk.views import bulk_cases
from distillguard.api.cases.models import AccountDecision, Case, CaseComment
from distillguard.api.cases.schemas import (
    AccountDecisionOut,
    CaseAccountExport,
    CaseDetail,
    CaseOut,
    CommentOut,
    EnforcementOut,
    TransitionOut,
)
from distillguard.api.cases.service import decision_labels
from distillguard.api.cases.views import add_comment, create_case, get_case_export
from distillguard.api.cases.views import decide as decide_case
from distillguard.api.console.precision import precision_page
from distillguard.api.console.views import (
    account_override,
    account_page,
    bulk_act,
    bulk_confirm,
    clear_account_override,
    cluster_page,
    console_case_export,
    console_export,
    login,
    login_page,
    logout,
    open_account_case,
    policy_page,
    queue_page,
)
from distillguard.api.console.views import decide as decide_in_console
from distillguard.api.console.webhooks import webhooks_page
from distillguard.api.detections.models import Reviewed
from distillguard.api.detections.pages import PageCache
from distillguard.api.detections.schemas import (
    AccountDetail,
    ClusterDetail,
    ClusterItem,
    HourCount,
    LadderFields,
    OverrideOut,
    QueuePage,
)
from distillguard.api.detections.service import _count_commit, _forget_bump
from distillguard.api.detections.sink import review_database_sink
from distillguard.api.detections.views import get_counts, get_export, get_queue
from distillguard.api.enforcement.models import OutboxEvent
from distillguard.api.overrides.views import (
    delete_account_override,
    delete_cluster_override,
    put_account_override,
    put_cluster_override,
)
from distillguard.api.restrictions.schemas import RestrictionOut
from distillguard.api.restrictions.views import delete_restriction, put_restriction
from distillguard.api.sharing.views import stix
from distillguard.api.types import UTCDateTime
from distillguard.api.webhooks.models import Delivery, Subscription
from distillguard.api.webhooks.schemas import DeliveryOut, WebhookOut
from distillguard.api.webhooks.signing import verify_signature
from distillguard.api.webhooks.views import (
    create_webhook,
    delete_webhook,
    get_webhook,
    list_deliveries,
    list_webhooks,
    update_webhook,
)
from distillguard.detector.evaluate import recall_at_fpr
from distillguard.detector.events import Event, encode_event, schema_text
from distillguard.detector.ingest.convert import PromptMode
from distillguard.detector.training import Snapshot as TrainingSnapshot
from distillguard.streams.gateways.litellm_proxy import simulated_key_auth
from distillguard.streams.snapshots import Snapshot as StreamSnapshot
from distillguard.streams.worker import _Rebalance


class _Names:
    """Any attribute: ``_.name`` marks ``name`` used."""

    def __getattr__(self, name: str) -> None:
        return None


_ = _Names()

# ---- FastAPI: route functions (registered by their decorators) and exception handlers (nested in install)
health
list_audit
me
create_case
add_comment
decide_case
login_page
login
logout
queue_page
cluster_page
policy_page
account_page
console_export
console_case_export
open_account_case
account_override
clear_account_override
decide_in_console
get_queue
get_counts
get_export
get_case_export
stix
put_account_override
list_webhooks
create_webhook
get_webhook
update_webhook
delete_webhook
list_deliveries
webhooks_page
precision_page
verify_signature  # public: what a webhook receiver calls (README's "Webhooks"; the tests' receiver)
delete_account_override
put_cluster_override
delete_cluster_override
put_restriction
delete_restriction
bulk_cases
bulk_confirm
bulk_act
_._service
_._http
_._invalid
_._data
_._busy
_._database

# ---- prometheus_client: a registry calls each collector's collect() on every scrape (api/precision/metrics.py)
_.collect

# ---- entry points named in pyproject.toml [project.entry-points]
_.commands  # distillguard.commands: the api and streams layers' CLI commands (api/cli.py, streams/cli.py)
review_database_sink  # distillguard.verdict_sinks: review-db
decision_labels  # distillguard.label_sources: what `train --with-decisions` learns from

# ---- SQLAlchemy: the column type's hooks, session event listeners, and columns written only through the ORM
UTCDateTime.impl
UTCDateTime.cache_ok
UTCDateTime.process_bind_param
UTCDateTime.process_result_value
_count_commit  # @event.listens_for(Session, "after_commit")
_forget_bump  # @event.listens_for(Session, "after_rollback")
Case.created_by
Case.updated_at
Case.decided_by
CaseComment.author
AccountDecision.decided_by
Reviewed.updated_at
OutboxEvent.attempts
OutboxEvent.last_error
Subscription.disabled_reason
Delivery.last_status_code
Delivery.last_attempt_at
Delivery.delivered_at

# ---- Pydantic: response fields read by the serializer
CaseDetail.restricted_to
RestrictionOut.restricted

# ---- Alembic: read by the migration runner from each revision module
_.revision
_.down_revision
_.branch_labels
_.depends_on
_.downgrade

# ---- pydantic: model configuration and response fields (read by the serializer and the OpenAPI schema)
_.model_config
Health.database
CommentOut.author
CaseOut.created_by
CaseOut.updated_at
CaseOut.decided_by
AccountDecisionOut.decided_by
EnforcementOut.attempts
EnforcementOut.last_error
CaseDetail.enforcement
TransitionOut.enforcement_sent
TransitionOut.enforcement_pending
ClusterItem.indicator_kinds
QueuePage.next_cursor
HourCount.requests
ClusterDetail.members_total
ClusterDetail.verification_paths
AccountDetail.decision_conflicts
LadderFields.applied_action
OverrideOut.by
CaseAccountExport.case_decision
WebhookOut.disabled_reason
DeliveryOut.last_status_code
DeliveryOut.last_attempt_at
DeliveryOut.delivered_at

# ---- msgspec records: fields of the event schema and of the worker's snapshot files (decoded, not read by name)
Event.schema_version
Event.conversation_id
Event.latency_ms
StreamSnapshot.taken_at
TrainingSnapshot.dataset  # which training day a snapshot was taken from (shown in its repr while debugging)

_.conditions  # Rung.conditions: called by the console's policy page (api/templates/policy.html)
_.action_basis  # the ladder's basis: a record field, its column and body field (served, stored, never read by name)
_.needs_confirmation  # EnforcementAction: read by the topic's consumers

# ---- module attribute protocol (PEP 562): the dg facade's lazy names
_.__getattr__
_.__dir__

# ---- pydantic validators (run by model_validate)
_._check  # Policy: the rules no policy file may break
_._path_compiles  # ingest mapping files (detector/ingest/mapping.py): FieldRule and MappingSpec
_._retention_comes_back_exactly  # Settings: a pydantic field validator
_._known_time
_._one_source_one_transform
_._event_fields
PromptMode.HASH  # a choice of `distillguard ingest --prompts`, chosen by its value

# ---- faust and aiokafka callbacks
_.consume  # @app.task in streams/app.py: the faust app runs it
_Rebalance.on_partitions_revoked  # ConsumerRebalanceListener
_Rebalance.on_partitions_assigned

# ---- public library API, used outside the paths vulture reads
recall_at_fpr  # notebooks/threshold_tuning.ipynb
encode_event  # documented round trip of parse_event; tests/test_events_fuzz.py, tests/fuzz/fuzz_parse_event.py
schema_text  # the published event JSON schema; tests/test_events.py checks the shared copy against it
PageCache.refreshed  # waiting for the background epoch read; tests/api/test_api_caching.py, instead of sleeping

# The LiteLLM callback: LiteLLM calls these methods by name with these keyword arguments; config.yaml names
# the instance, the proxy's custom_auth the key function; pydantic runs the settings validator.
_.async_log_success_event
_.async_log_failure_event
_.log_success_event
_.log_failure_event
_.response_obj
_.start_time
_.end_time
_._networks
simulated_key_auth  # litellm_proxy.LiteLLMProxy.config(): general_settings.custom_auth
