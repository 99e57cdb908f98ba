"""What a worker's web server shows beyond its own host: ``/metrics`` and ``/health``, nothing else.

In a container the server binds 0.0.0.0 so that Prometheus can scrape it, and Faust's own
pages came with it: ``/router/`` (which worker owns which partition), ``/table/`` and
``/stats/``, to anyone who could reach the port, with no authentication. Requests from
other hosts now get 403 for every path but the two a scraper and an orchestrator need;
from the loopback interface (the demo, the tests, an operator on the host) everything
answers as before.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

PUBLIC_PATHS = frozenset({"/metrics", "/health", "/health/live"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def from_loopback(remote: str | None) -> bool:
    """Whether a peer address is this host's loopback (127.0.0.0/8, ::1)."""
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:  # a Unix socket peer has no IP address: it is this host
        return True


@web.middleware
async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp middleware: paths other than ``PUBLIC_PATHS`` answer only to the loopback interface."""
    if request.path in PUBLIC_PATHS or from_loopback(request.remote):
        return await handler(request)
    return web.Response(status=403, text="forbidden: only /metrics and /health are served beyond this host\n")
