"""Top-10 boards: the most complained firms, products, issues and hot words, per period and district.

Served from the sorted sets ``alerts.boards.RedisBoards`` keeps (prefix
``app.state.boards_prefix``, default ``earlywarn``), as JSON for the console and for a
JSON data source on the district board (firm names are never Prometheus labels). A user
limited to districts reads those districts' boards only.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from alerts.boards import RedisBoards
from desk.auth import User
from desk.models import ERRORS
from desk.store import epoch
from desk.web import context, require
from detectors.boards import DIMENSIONS, SCOPES, TOP, period_of

router = APIRouter(prefix="/api", tags=["boards"], responses=ERRORS)
Viewer = Annotated[User, Depends(require("viewer"))]
KINDS = ("day", "week", "month", "quarter")
DEFAULT_PREFIX = "earlywarn"  # RedisBoards' default: where ingest counts


@router.get("/boards/{kind}/{scope}/{dimension}", operation_id="get_board",
            summary="One top-10 board with the change against the previous period")
def get_board(request: Request, user: Viewer, kind: str, scope: str, dimension: str,
              period: Annotated[str | None, Query(description="e.g. 2025-03-04, 2025-W10, 2025-03, 2025-Q1")] = None,
              at: Annotated[str | None, Query(description="RFC 3339: the period holding this time (default now)")] = None,
              n: Annotated[int, Query(ge=1, le=100)] = TOP) -> dict[str, Any]:
    if kind not in KINDS:
        raise HTTPException(404, f"kind {kind!r}: one of {', '.join(KINDS)}")
    if scope not in SCOPES:
        raise HTTPException(404, f"scope {scope!r}: 'city' or one of the 16 district codes")
    if dimension not in DIMENSIONS:
        raise HTTPException(404, f"dimension {dimension!r}: one of {', '.join(DIMENSIONS)}")
    if user.districts and scope not in user.districts:
        raise HTTPException(403, "只能查看本辖区的排行")
    if period is None:
        try:
            ts = epoch(at) if at else time.time()
        except ValueError:
            raise HTTPException(422, f"at={at!r}: expected RFC 3339 (2025-03-04T09:00:00+08:00)") from None
        period = period_of(ts, kind)
    boards = RedisBoards(context(request).store.r, getattr(request.app.state, "boards_prefix", DEFAULT_PREFIX))
    try:
        return boards.board(kind, period, scope, dimension, n)
    except ValueError as exc:  # a period id that does not parse
        raise HTTPException(422, str(exc)) from None
