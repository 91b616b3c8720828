"""STIX 2.1 export of confirmed clusters."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.orm import Session

from distillguard.api.auth.service import Principal
from distillguard.api.deps import analyst, get_session
from distillguard.api.errors import COMMON, CONFLICT, NOT_FOUND
from distillguard.api.restrictions.service import check_subject
from distillguard.api.sharing.service import cluster_bundle
from distillguard.detector.records import SubjectKind

router = APIRouter(prefix="/api/v1", tags=["sharing"], responses=COMMON | NOT_FOUND | CONFLICT)
STIX_MEDIA = "application/stix+json;version=2.1"


@router.get(
    "/clusters/{cluster_id}/stix",
    summary="STIX 2.1 bundle of a confirmed cluster's indicators",
    responses={
        200: {
            "description": "A STIX 2.1 bundle",
            "content": {
                STIX_MEDIA: {
                    "schema": {
                        "type": "object",
                        "required": ["type", "id", "objects"],
                        "properties": {
                            "type": {"type": "string", "enum": ["bundle"]},
                            "id": {"type": "string"},
                            "objects": {"type": "array", "items": {"type": "object"}},
                        },
                    }
                }
            },
        }
    },
)
def stix(cluster_id: str, session: Session = Depends(get_session), who: Principal = Depends(analyst)) -> Response:
    """The cluster's shared indicators (IPs, subnets, ASNs, client fingerprints, cards, templates) as STIX
    indicators of a campaign, for exchange with other providers. Only clusters confirmed as attacks, and only to
    those who see them (a restricted case's cluster is missing to everyone else)."""
    check_subject(session, who, SubjectKind.cluster, cluster_id)
    return Response(cluster_bundle(session, cluster_id).serialize(), media_type=STIX_MEDIA)
