"""Every review-service table, imported together (for Alembic and ``Base.metadata``)."""

from distillguard.api.audit.models import AuditEvent
from distillguard.api.auth.models import ApiToken
from distillguard.api.cases.models import AccountDecision, Case, CaseComment
from distillguard.api.detections.models import AccountModel, AccountRow, ClusterIndicator, ClusterRow, DetectionsEpoch
from distillguard.api.enforcement.models import OutboxEvent
from distillguard.api.overrides.models import ActionOverride
from distillguard.api.restrictions.models import CaseMember, CaseRestriction
from distillguard.api.webhooks.models import Delivery, Subscription

__all__ = [
    "AccountDecision",
    "AccountModel",
    "AccountRow",
    "ActionOverride",
    "ApiToken",
    "AuditEvent",
    "Case",
    "CaseComment",
    "CaseMember",
    "CaseRestriction",
    "ClusterIndicator",
    "ClusterRow",
    "Delivery",
    "DetectionsEpoch",
    "OutboxEvent",
    "Subscription",
]
