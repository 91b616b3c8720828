"""Request and response bodies of overrides."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from distillguard.api.detections.schemas import LadderFields
from distillguard.api.inputs import Text
from distillguard.detector.records import Action, SubjectKind

MAX_REASON = 2000  # characters, as every other reason of the review service


class OverrideBody(BaseModel):
    """Apply ``action`` instead of the detector's recommendation, saying why. Analysts override up to ``review``;
    ``suspend`` and ``takedown`` (clusters only) need a lead."""

    model_config = ConfigDict(extra="forbid")
    action: Action
    reason: Text = Field(
        min_length=1, max_length=MAX_REASON, description="Why this rung rather than the recommended one."
    )


class OverrideState(LadderFields):
    """An account or cluster on the ladder after a change of its override; ``changed`` is false when the request
    changed nothing (a retry)."""

    kind: SubjectKind
    id: str
    changed: bool
