"""Silences, in notify's storage: what the desk sets here, notify honours."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from desk.auth import User
from desk.models import ERRORS, Silence, SilenceIn
from desk.routers.actions import acting
from desk.web import context, require

router = APIRouter(prefix="/api/silences", tags=["silences"], responses={**ERRORS, 422: {}})


@router.get("", response_model=list[Silence], operation_id="list_silences")
def list_silences(user: Annotated[User, Depends(require("viewer"))], request: Request) -> list[dict[str, Any]]:
    """Active silences (a district officer sees those pinned to their districts)."""
    return context(request).desk.silences_for(user)


@router.post("", response_model=Silence, status_code=201, operation_id="create_silence")
def create_silence(body: SilenceIn, user: Annotated[User, Depends(require("officer"))],
                   request: Request) -> dict[str, Any]:
    """Mute what the matchers select for *minutes*; a district officer's must pin their district."""
    return acting(request, "silence", lambda: context(request).desk.silence(
        user, body.matchers, body.minutes, body.reason, body.alert_id))


@router.delete("/{silence_id}", response_model=Silence, operation_id="expire_silence")
def expire_silence(silence_id: str, user: Annotated[User, Depends(require("officer"))],
                   request: Request) -> dict[str, Any]:
    """End a silence now."""
    return acting(request, "silence_expire", lambda: context(request).desk.expire_silence(user, silence_id))
