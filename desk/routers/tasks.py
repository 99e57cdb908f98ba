"""Inspection tasks (contract v1) made from an alert on request (一键生成现场检查任务), and the results that came back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from desk.actions import Refused
from desk.auth import User
from desk.models import ERRORS, ResultRecord, TaskIn, TaskRecord
from desk.routers.actions import acting
from desk.web import context, require

router = APIRouter(prefix="/api/alerts/{alert_id}/tasks", tags=["tasks"], responses=ERRORS)
results_router = APIRouter(prefix="/api/alerts/{alert_id}/results", tags=["tasks"], responses=ERRORS)


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



@results_router.get("", response_model=list[ResultRecord], operation_id="list_inspection_results")
def list_results(alert_id: str, user: Annotated[User, Depends(require("viewer"))], request: Request) -> list[Any]:
    """What inspectors found (contract v1 results from ``inspection.results``), by visit time."""
    desk = context(request).desk
    try:
        desk.alert_for(user, alert_id)
    except Refused as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return desk.results.of_alert(alert_id)
