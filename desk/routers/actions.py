"""Acting on one alert: acknowledge, assign, comment, judge (true / false / duplicate), clear a complainant's flag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request

from desk.actions import Refused
from desk.auth import User
from desk.models import (ERRORS, Ack, AckIn, AssignIn, Assignment, ClearFlagIn, Comment, CommentIn, ComplainantFlag,
                         Verdict, VerdictIn)
from desk.web import context, require

router = APIRouter(prefix="/api/alerts/{alert_id}", tags=["actions"], responses={**ERRORS, 422: {}})
Officer = Annotated[User, Depends(require("officer"))]
T = TypeVar("T")


def acting(request: Request, action: str, do: Callable[[], T]) -> T:
    """Run a desk action, answering its refusal as the HTTP error it names; count it."""
    try:
        result = do()
    except Refused as exc:
        raise HTTPException(exc.status, str(exc)) from None
    context(request).metrics.actions.labels(action).inc()
    return result


@router.post("/ack", response_model=Ack, operation_id="acknowledge_alert")
def acknowledge(alert_id: str, body: AckIn, user: Officer, request: Request) -> dict[str, Any]:
    """Acknowledge: notify sends no repeats or updates until the alert escalates."""
    return acting(request, "ack", lambda: context(request).desk.acknowledge(user, alert_id, body.reason))


@router.post("/assign", response_model=Assignment, operation_id="assign_alert")
def assign(alert_id: str, body: AssignIn, user: Officer, request: Request) -> dict[str, Any]:
    """Assign to a person or a district office."""
    return acting(request, "assign", lambda: context(request).desk.assign(user, alert_id, body.assignee, body.note))


@router.post("/comments", response_model=Comment, operation_id="comment_alert")
def comment(alert_id: str, body: CommentIn, user: Officer, request: Request) -> dict[str, Any]:
    return acting(request, "comment", lambda: context(request).desk.comment(user, alert_id, body.text))


@router.post("/verdict", response_model=Verdict, operation_id="judge_alert")
def judge(alert_id: str, body: VerdictIn, user: Officer, request: Request) -> dict[str, Any]:
    """Mark the alert true, false or a duplicate of another, with a reason."""
    return acting(request, "verdict",
                  lambda: context(request).desk.judge(user, alert_id, body.verdict, body.reason, body.duplicate_of))


@router.post("/complainants/{person}/clear", response_model=ComplainantFlag, operation_id="clear_complainant_flag")
def clear_flag(alert_id: str, person: str, body: ClearFlagIn, user: Officer, request: Request) -> dict[str, Any]:
    """Clear the abnormal-complainant flag of a person this alert names (due process): the flag
    goes, the clearing is recorded, and the engine judges the person afresh on later claims."""
    return acting(request, "clear_flag",
                  lambda: context(request).desk.clear_flag(user, alert_id, person, body.reason))
