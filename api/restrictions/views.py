"""Restriction endpoints: restrict a case to named members (or change them), lift the restriction."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.deps import analyst, get_session
from distillguard.api.errors import BODY, COMMON, NOT_FOUND, RowId
from distillguard.api.restrictions import service
from distillguard.api.restrictions.schemas import RestrictionBody, RestrictionOut

router = APIRouter(prefix="/api/v1/cases", tags=["cases"], responses=COMMON | NOT_FOUND)


def _out(session: Session, case_id: int, changed: bool) -> dict:
    names = service.members(session, case_id)
    return {"case_id": case_id, "restricted": names is not None, "members": names or [], "changed": changed}


@router.put(
    "/{case_id}/restriction", response_model=RestrictionOut, responses=BODY, summary="Restrict a case to named members"
)
def put_restriction(
    case_id: RowId, body: RestrictionBody, session: Session = Depends(get_session), who: Principal = Depends(analyst)
) -> dict:
    """Only ``members`` (token names; the caller stays one) and admins see the case and its subjects from now on;
    to everybody else they do not exist (404, absent from lists and counts). Replaces the members of a restricted
    case. For the case's creator, leads and admins. Audited as ``case.restrict``."""
    case = service.visible_case(session, who, case_id)
    changed = service.restrict(session, who, case, body.members, body.reason)
    return _out(session, case_id, changed)


@router.delete("/{case_id}/restriction", response_model=RestrictionOut, summary="Lift a case's restriction")
def delete_restriction(
    case_id: RowId, session: Session = Depends(get_session), who: Principal = Depends(analyst)
) -> dict:
    """Everyone sees the case again. For the case's creator, leads and admins among its members. Audited as
    ``case.unrestrict``; lifting none changes nothing."""
    case = service.visible_case(session, who, case_id)
    changed = service.unrestrict(session, who, case, None)
    return _out(session, case_id, changed)
