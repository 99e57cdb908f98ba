"""What every request goes through: who is asking, may they, and the response's headers.

- :func:`current_user`: a bearer token (API clients) or the signed session cookie (the
  console); neither gives 401 (the console's pages redirect to the login page instead).
- :func:`require` (role): the dependency every route declares. A cookie-authenticated
  write must also present the session's CSRF token, in the form field ``csrf`` or the
  ``X-CSRF-Token`` header (bearer requests carry no ambient credentials, so need none).
- :class:`Guard`: security headers on every response (a strict Content-Security-Policy:
  scripts and styles only from the desk itself), and request metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desk.actions import Desk
from desk.audit import Audit
from desk.auth import Auth, Session, User
from desk.metrics import DeskMetrics
from desk.similar import SimilarCases
from desk.settings import DeskSettings
from desk.store import AlertStore

COOKIE = "ewdesk"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                 b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


@dataclass(frozen=True)
class Context:
    settings: DeskSettings
    store: AlertStore
    auth: Auth
    audit: Audit
    desk: Desk
    metrics: DeskMetrics
    similar: SimilarCases


class NotLoggedIn(Exception):
    """No valid token or session: 401 for the API, the login page for the console."""


def context(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


def identify(request: Request) -> tuple[User, Session | None] | None:
    ctx = context(request)
    authz = request.headers.get("authorization")
    if authz:
        scheme, _, token = authz.partition(" ")
        user = ctx.auth.token_user(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        return (user, None) if user else None
    cookie = request.cookies.get(COOKIE)
    if cookie:
        session = ctx.auth.session(cookie)
        if session:
            return session.user, session
    return None


def current_user(request: Request) -> User:
    who = identify(request)
    if who is None:
        raise NotLoggedIn()
    request.state.user, request.state.session = who
    return who[0]


async def check_csrf(request: Request) -> None:
    session: Session | None = getattr(request.state, "session", None)
    if session is None or request.method in SAFE:
        return
    presented = request.headers.get("x-csrf-token")
    if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        presented = str((await request.form()).get("csrf") or "")
    if not context(request).auth.csrf_ok(session, presented):
        raise HTTPException(403, "CSRF 校验失败：请刷新页面后重试")


def require(role: str) -> Any:
    """The dependency a route declares: a logged-in user of at least *role* (and CSRF on writes)."""

    async def dependency(request: Request, user: User = Depends(current_user)) -> User:  # noqa: B008
        await check_csrf(request)
        if not user.may(role):
            raise HTTPException(403, f"需要{ {'viewer': '查看', 'officer': '处置', 'admin': '管理'}[role] }权限")
        return user

    return dependency


class Guard:
    """ASGI middleware: security headers on every HTTP response, and request metrics."""

    def __init__(self, app: ASGIApp, metrics: DeskMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]
        streaming = [False]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                streaming[0] = any(k.lower() == b"content-type" and v.startswith(b"text/event-stream")
                                   for k, v in headers)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = getattr(scope.get("route"), "path", None) or ("/static" if scope["path"].startswith("/static/")
                                                                 else "other")
            self.metrics.requests.labels(route, scope["method"], f"{status[0] // 100}xx").inc()
            if status[0] >= 500:
                self.metrics.errors.labels(route).inc()
            if not streaming[0]:
                self.metrics.latency.labels(route).observe(time.perf_counter() - started)
