"""Every review-service table, imported together (for Alembic and ``Base.metadata``)."""

from api.audit.models import AuditEvent
from api.auth.models import ApiToken
from api.cases.models import AccountDecision, Case, CaseComment
from api.detections.models import AccountModel, AccountRow, ClusterIndicator, ClusterRow, DetectionsEpoch
from api.enforcement.models import OutboxEvent

__all__ = ["AccountDecision", "AccountModel", "AccountRow", "ApiToken", "AuditEvent", "Case", "CaseComment",
           "ClusterIndicator", "ClusterRow", "DetectionsEpoch", "OutboxEvent"]
