"""Similar cases (类案推送): past alerts like an alert and how they were handled; tickets and past tickets like them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from desk.actions import Refused
from desk.auth import User
from desk.models import ERRORS, SimilarAlert, SimilarTicket, TicketDisplay
from desk.web import context, require

router = APIRouter(prefix="/api", tags=["similar cases"], responses=ERRORS)
Viewer = Annotated[User, Depends(require("viewer"))]


def _answer(do: Any) -> Any:
    try:
        return do()
    except Refused as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/alerts/{alert_id}/similar", response_model=list[SimilarAlert], operation_id="similar_alerts")
def similar_alerts(alert_id: str, user: Viewer, request: Request,
                   k: Annotated[int, Query(ge=1, le=50)] = 5) -> list[Any]:
    """The past alerts most like this one (text, firm, product, issue; MinHash), with how each was handled."""
    return _answer(lambda: context(request).similar.for_alert(user, alert_id, k))


@router.get("/tickets/{ticket_id}", response_model=TicketDisplay, operation_id="get_ticket")
def get_ticket(ticket_id: str, user: Viewer, request: Request) -> Any:
    """A ticket's display fields (narrative masked, complainant a pseudonym), while the desk keeps them."""
    return _answer(lambda: context(request).similar.ticket(user, ticket_id))


@router.get("/tickets/{ticket_id}/similar", response_model=list[SimilarTicket], operation_id="similar_tickets")
def similar_tickets(ticket_id: str, user: Viewer, request: Request,
                    k: Annotated[int, Query(ge=1, le=50)] = 5) -> list[Any]:
    """The past tickets most like this one, among the tickets the desk keeps."""
    return _answer(lambda: context(request).similar.for_ticket(user, ticket_id, k))
