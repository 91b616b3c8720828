"""Request and response bodies of case restrictions."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from distillguard.api.inputs import Text

MAX_MEMBERS = 100  # names a restricted case lists
MAX_NAME = 128  # characters of a token name

Name = Annotated[Text, Field(min_length=1, max_length=MAX_NAME)]


class RestrictionBody(BaseModel):
    """Restrict a case to these token names (the caller stays a member), or replace its members."""

    model_config = ConfigDict(extra="forbid")
    members: list[Name] = Field(max_length=MAX_MEMBERS, description="Token names who may see the case (and admins).")
    reason: Text | None = Field(None, max_length=2000)


class RestrictionOut(BaseModel):
    """Who sees a case: ``members`` (and admins) when ``restricted``, everyone otherwise; ``changed`` is false when
    the request changed nothing."""

    case_id: int
    restricted: bool
    members: list[str]
    changed: bool
