"""The desk's Prometheus metrics; the registry is passed in so tests build their own.

Labels come from small closed sets: a route is its path template (``/api/alerts/{alert_id}``),
never a concrete id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class DeskMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("earlywarn_desk_requests_total", "HTTP requests answered, by route template, "
                                "method and status class", ["route", "method", "status"], registry=r)
        self.latency = Histogram("earlywarn_desk_request_seconds", "time to answer a request (streams excluded)",
                                 ["route"], registry=r,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.errors = Counter("earlywarn_desk_errors_total", "requests that failed with a server error", ["route"],
                              registry=r)
        self.logins = Counter("earlywarn_desk_logins_total", "console logins by outcome (ok, bad, throttled)",
                              ["outcome"], registry=r)
        self.actions = Counter("earlywarn_desk_actions_total", "writes staff made, by action", ["action"], registry=r)
        self.events = Counter("earlywarn_desk_events_total", "alert events the store read, by outcome "
                              "(new, duplicate, invalid)", ["outcome"], registry=r)
        self.results = Counter("earlywarn_desk_inspection_results_total", "inspection results read, by outcome "
                               "(attached, or the dead-letter reason)", ["outcome"], registry=r)
        self.verdicts = Gauge("earlywarn_desk_verdicts", "alerts staff marked, by type and verdict "
                              "(true, false, duplicate); set at each scrape", ["type", "verdict"], registry=r)
        self.staff_precision = Gauge("earlywarn_desk_staff_precision", "precision as staff see it: true / "
                                     "(true + false) over marked alerts, by type", ["type"], registry=r)
        self.alerts = Gauge("earlywarn_desk_alerts", "alerts the store holds", registry=r)
        self.streams = Gauge("earlywarn_desk_live_streams", "open server-sent-event streams", registry=r)
        self.redis_errors = Counter("earlywarn_redis_errors_total", "Redis operations of the alerts consumer that "
                                    "failed, by operation (each retry counts)", ["operation"], registry=r)
        self.redis_up = Gauge("earlywarn_redis_up", "1 when Redis answered the alerts consumer's last operation, "
                              "0 while it does not (the consumer waits and catches up)", registry=r)
