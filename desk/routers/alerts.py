"""Alerts: the filtered list, one alert with its timeline and desk state, and the live feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from desk.actions import Refused
from desk.auth import User
from desk.models import ERRORS, AlertDetail, AlertPage
from desk.store import AlertQuery, epoch
from desk.web import context, require

router = APIRouter(prefix="/api", tags=["alerts"], responses=ERRORS)
Viewer = Annotated[User, Depends(require("viewer"))]


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v for raw in values or () for v in raw.split(",") if v)


def _time(text: str | None, name: str) -> float | None:
    if not text:
        return None
    try:
        return epoch(text)
    except ValueError:
        raise HTTPException(422, f"{name}={text!r}: expected RFC 3339 (2025-03-04T09:00:00+08:00)") from None


def query_of(user: User, type: list[str] | None = None, severity: list[str] | None = None,  # noqa: A002
             status: list[str] | None = None, district: list[str] | None = None, dimension: list[str] | None = None,
             since: str | None = None, until: str | None = None, q: str = "", subject: str = "") -> AlertQuery:
    """The store query a list request asks for, limited to what *user* may see."""
    return AlertQuery(type=_split(type), severity=_split(severity), status=_split(status),
                      district=_split(district), dimension=_split(dimension), since=_time(since, "since"),
                      until=_time(until, "until"), q=q, subject=subject, visible=user.visible)


@router.get("/alerts", response_model=AlertPage, operation_id="list_alerts")
def list_alerts(user: Viewer, request: Request,
                type: Annotated[list[str] | None, Query(description="alert types (repeat or comma-separate)")] = None,  # noqa: A002
                severity: Annotated[list[str] | None, Query()] = None,
                status: Annotated[list[str] | None, Query(description="open, update, resolved")] = None,
                district: Annotated[list[str] | None, Query(description="6-digit district codes")] = None,
                dimension: Annotated[list[str] | None, Query(description="subject dimension: firm, product, …")] = None,
                since: Annotated[str | None, Query(description="raised at or after (RFC 3339)")] = None,
                until: Annotated[str | None, Query(description="raised at or before (RFC 3339)")] = None,
                q: Annotated[str, Query(description="text in the label, key, summary or top terms")] = "",
                subject: Annotated[str, Query(description="text in the subject's label or key (firm, product)")] = "",
                offset: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """Alerts in their current state, newest ``raised_at`` first."""
    query = query_of(user, type, severity, status, district, dimension, since, until, q, subject)
    page = context(request).store.query(query, offset, limit)
    return {"total": page.total, "offset": offset, "limit": limit, "items": page.items}


@router.get("/alerts/{alert_id}", response_model=AlertDetail, operation_id="get_alert")
def get_alert(alert_id: str, user: Viewer, request: Request) -> dict[str, Any]:
    """One alert: current state, every event of its timeline, and what staff did."""
    try:
        return context(request).desk.detail(user, alert_id)
    except Refused as exc:
        raise HTTPException(exc.status, str(exc)) from None


async def live_events(request: Request, user: User, start: str | None = None,
                      heartbeat: float = 15.0) -> AsyncIterator[bytes]:
    """Server-sent events: each new alert event the user may see, ``id`` = the feed entry."""
    ctx = context(request)
    aredis = request.app.state.aredis
    last = start or await asyncio.to_thread(ctx.store.feed_tail)
    ctx.metrics.streams.inc()
    try:
        yield b"retry: 3000\n\n"
        while not await request.is_disconnected():
            got = await aredis.xread({ctx.store.feed: last}, count=100, block=int(heartbeat * 1000))
            if not got:
                yield b": keep-alive\n\n"
                continue
            for entry_id, fields in got[0][1]:
                last = entry_id.decode()
                district = fields[b"district"].decode()
                if user.sees(None if district == "-" else district):
                    yield b"id: " + entry_id + b"\nevent: alert\ndata: " + fields[b"event"] + b"\n\n"
    finally:
        ctx.metrics.streams.dec()


@router.get("/stream", operation_id="stream_alerts",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: alert`, `data:` an alert event (contract v1); resumes "
                                            "after `Last-Event-ID`"}})
async def stream(user: Viewer, request: Request) -> StreamingResponse:
    """New alert events as they are stored (server-sent events)."""
    return StreamingResponse(live_events(request, user, request.headers.get("last-event-id")),
                             media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})
