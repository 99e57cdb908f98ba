"""Inspection tasks (contract v1) made from an alert on request: 一键生成现场检查任务."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from desk.actions import Refused
from desk.auth import User
from desk.models import ERRORS, TaskIn, TaskRecord
from desk.routers.actions import acting
from desk.web import context, require

router = APIRouter(prefix="/api/alerts/{alert_id}/tasks", tags=["tasks"], responses=ERRORS)


@router.post("", response_model=TaskRecord, status_code=201, operation_id="create_inspection_task")
def create_task(alert_id: str, body: TaskIn, user: Annotated[User, Depends(require("officer"))],
                request: Request) -> dict[str, Any]:
    """Draft an inspection task from the alert's current state and publish it (key = task_id)."""
    return acting(request, "inspection_task", lambda: context(request).desk.create_task(user, alert_id, body.note))


@router.get("", response_model=list[TaskRecord], operation_id="list_inspection_tasks")
def list_tasks(alert_id: str, user: Annotated[User, Depends(require("viewer"))], request: Request) -> list[Any]:
    try:
        return context(request).desk.tasks(user, alert_id)
    except Refused as exc:
        raise HTTPException(exc.status, str(exc)) from None
