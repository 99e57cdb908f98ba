"""The desk's FastAPI application: wiring only (routers, console, middleware, state)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis
import redis.asyncio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alerts.notify.silences import Silences
from alerts.redis_client import OUTAGE
from desk import console, feedback
from desk.actions import Desk, KafkaTaskPublisher, Publisher
from desk.audit import Audit
from desk.auth import Auth
from desk.consumer import AlertConsumer
from desk.metrics import DeskMetrics
from desk.results import ResultConsumer
from desk.routers import actions, alerts, auth, boards, silences, similar, tasks
from desk.settings import DeskSettings
from desk.similar import SimilarCases
from desk.store import AlertStore
from desk.tickets import TicketConsumer, TicketStore, pin_evidence
from desk.web import Context, Guard, NotLoggedIn

log = logging.getLogger("earlywarn.desk")
HERE = Path(__file__).resolve().parent


def create_app(settings: DeskSettings, client: redis.Redis | None = None, publisher: Publisher | None = None,
               metrics: DeskMetrics | None = None) -> FastAPI:
    """The desk. With ``settings.consume`` it also runs the alerts-topic consumer while it serves."""
    r = client or redis.Redis.from_url(settings.redis_url)
    metrics = metrics or DeskMetrics()
    store = AlertStore(r, settings.prefix, settings.feed_max)
    audit = Audit(r, settings.prefix)
    publisher = publisher or KafkaTaskPublisher(settings.broker, settings.topic_inspection)
    desk = Desk(store, Silences(r, settings.notify_prefix, settings.remember_days), audit, publisher,
                TicketStore(r, settings.prefix, settings.ticket_days))
    auth_ = Auth(r, settings.prefix, settings.secret, settings.session_minutes, settings.login_attempts,
                 settings.login_window_seconds, settings.hash_time_cost, settings.hash_memory_kib)
    ctx = Context(settings, store, auth_, audit, desk, metrics, SimilarCases(desk))
    consumer = AlertConsumer(settings, store, metrics, lambda events: pin_evidence(desk.tickets, events)) \
        if settings.consume else None
    results = ResultConsumer(settings, store, desk.results, metrics) if settings.consume else None
    tickets = TicketConsumer(settings, desk.tickets) if settings.consume and settings.ticket_days > 0 else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.aredis = redis.asyncio.Redis.from_url(settings.redis_url)
        for c in (consumer, results, tickets):
            if c is not None:
                c.start()
        try:
            yield
        finally:
            for c in (consumer, results, tickets):
                if c is not None:
                    c.close()
            close = getattr(publisher, "close", None)
            if close is not None:
                close()
            await app.state.aredis.aclose()

    app = FastAPI(title="earlywarn desk", version="1",
                  description="The duty desk: alerts with their evidence, and the actions staff take on them. "
                              "Authenticate with `Authorization: Bearer <token>` (`earlywarn desk-user token`).",
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.state.consumer = consumer
    app.state.results_consumer = results
    for module in (alerts, actions, tasks, silences, auth):
        app.include_router(module.router)
    app.include_router(tasks.results_router)
    app.include_router(similar.router)
    app.include_router(boards.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(Guard, metrics=metrics)

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "未登录：需要 Authorization: Bearer <token> 或登录会话"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse("/login", status_code=303)

    @app.get("/health", include_in_schema=False)
    def health() -> Response:
        failed = any(c is not None and c.failed is not None for c in (consumer, results, tickets))
        try:
            count = store.count()
        except OUTAGE:  # nothing to serve without Redis; the consumers wait for it and catch up
            return JSONResponse({"ok": False, "redis_up": False}, status_code=503)
        return JSONResponse({"ok": not failed, "alerts": count, "redis_up": True}, status_code=503 if failed else 200)

    @app.get("/metrics", include_in_schema=False)
    def metrics_page() -> Response:
        feedback.refresh(metrics, store)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
