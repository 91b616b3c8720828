"""Token administration (admins) and "who am I"."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from distillguard.api.auth import service
from distillguard.api.auth.service import Principal
from distillguard.api.deps import admin, get_session, viewer
from distillguard.api.errors import BODY, COMMON, CONFLICT, NOT_FOUND, RowId, ServiceError
from distillguard.api.inputs import Text

router = APIRouter(prefix="/api/v1", tags=["auth"], responses=COMMON)


class TokenOut(BaseModel):
    """A token (never its secret)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class TokenCreate(BaseModel):
    """A new token."""

    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=128)
    role: str = Field(pattern="^(viewer|analyst|lead|admin)$")


class TokenCreated(TokenOut):
    """A new token with its secret (shown only now)."""

    token: str


class Me(BaseModel):
    """The calling token."""

    name: str
    role: str


@router.get("/me", response_model=Me, summary="The calling token's name and role")
def me(who: Principal = Depends(viewer)):
    """Name and role of the token used."""
    return {"name": who.name, "role": who.role}


@router.get("/tokens", response_model=list[TokenOut], summary="List tokens (admin)")
def list_tokens(session: Session = Depends(get_session), _who: Principal = Depends(admin)):
    """Every token, revoked ones included."""
    return service.list_tokens(session)


@router.post(
    "/tokens", response_model=TokenCreated, status_code=201, responses=BODY | CONFLICT, summary="Create a token (admin)"
)
def create_token(body: TokenCreate, session: Session = Depends(get_session), who: Principal = Depends(admin)):
    """A new token; the secret is in the response only. Names are unique among unrevoked tokens (409) and
    reserved names (``cli``, ``system``, ...) are refused (422)."""
    row, secret = service.create_token(session, body.name, body.role, actor=who)
    return TokenOut.model_validate(row).model_dump() | {"token": secret}


@router.post(
    "/tokens/{token_id}/revoke", response_model=TokenOut, responses=NOT_FOUND, summary="Revoke a token (admin)"
)
def revoke_token(
    token_id: RowId, request: Request, session: Session = Depends(get_session), who: Principal = Depends(admin)
):
    """Revoke a token; requests with it get 401 from now on (other API processes: within API_TOKEN_CACHE_SECONDS)."""
    row = service.revoke_token(session, token_id, actor=who)
    request.app.state.principals.forget(token_id)
    if row is None:
        raise ServiceError(404, f"no token {token_id}")
    return row
