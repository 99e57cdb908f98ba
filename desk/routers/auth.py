"""Who am I, API tokens for myself, and (admins) the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from desk.auth import User
from desk.models import ERRORS, AuditEntry, Me, TokenIn, TokenOut
from desk.web import context, require

router = APIRouter(prefix="/api", tags=["auth"], responses=ERRORS)
Viewer = Annotated[User, Depends(require("viewer"))]


@router.get("/me", response_model=Me, operation_id="me")
def me(user: Viewer) -> dict[str, Any]:
    return {"name": user.name, "role": user.role, "districts": list(user.districts), "display": user.display}


@router.post("/tokens", response_model=TokenOut, status_code=201, operation_id="create_token")
def create_token(body: TokenIn, user: Viewer, request: Request) -> dict[str, str]:
    """A bearer token acting as the caller (shown once, stored hashed)."""
    ctx = context(request)
    token = ctx.auth.issue_token(user, body.label, body.days)
    ctx.audit.record(user.name, "token", f"user:{user.name}", None, {"label": body.label, "days": body.days})
    return {"token": token}


@router.get("/audit", response_model=list[AuditEntry], operation_id="audit_log")
def audit_log(user: Annotated[User, Depends(require("admin"))], request: Request,
              count: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """The newest audit entries (admins only)."""
    return context(request).audit.recent(count)
