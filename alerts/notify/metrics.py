"""Notify's Prometheus metrics: an own registry, labels from small closed sets only.

``receiver`` is the receiver's kind (console, webhook, alertmanager, wecom, dingtalk,
email), never its configured name or an address; ``outcome`` is delivered, retried or
failed (dead-lettered).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RECEIVER_KINDS = ("console", "webhook", "alertmanager", "wecom", "dingtalk", "email")
OUTCOMES = ("delivered", "retried", "failed")
MUTED = ("inhibited", "silenced", "acked")


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.pushes = Counter("earlywarn_pushes", "Alert pushes to staff, by receiver and outcome",
                              ["receiver", "outcome"], registry=r)
        self.latency = Histogram("earlywarn_push_latency_seconds",
                                 "From a notification entering the outbox to its delivery", ["receiver"],
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600), registry=r)
        self.queue = Gauge("earlywarn_push_queue_depth", "Notifications in the outbox not yet delivered",
                           ["receiver"], registry=r)
        self.dead = Gauge("earlywarn_push_deadletters", "Notifications in the dead-letter stream", registry=r)
        self.events = Counter("earlywarn_notify_events", "Alert events consumed, by outcome (stored, invalid)",
                              ["outcome"], registry=r)
        self.tickets = Counter("earlywarn_notify_tickets", "Tickets read for keyword subscriptions, by outcome "
                               "(checked against them; invalid: what ingest dead-letters, skipped)", ["outcome"],
                               registry=r)
        self.muted = Counter("earlywarn_notify_muted", "Alert changes not told, by reason", ["reason"], registry=r)
        self.notifications = Counter("earlywarn_notify_notifications", "Notifications put into the outbox",
                                     registry=r)
        self.subscription_matches = Counter(
            "earlywarn_subscription_matches", "Keyword-subscription matches put into digests, by what matched "
            "(ticket, alert)", ["source"], registry=r)
        self.redis_errors = Counter(
            "earlywarn_redis_errors_total", "Redis operations that failed, by operation (each retry counts)",
            ["operation"], registry=r)
        self.redis_up = Gauge("earlywarn_redis_up", "1 when Redis answered notify's last operation, 0 while it "
                              "does not (notify waits: nothing is acknowledged on Kafka or skipped)", registry=r)
        self.subscription_digests = Counter("earlywarn_subscription_digests",
                                            "Keyword-subscription digests put into the outbox", registry=r)
        for source in ("ticket", "alert"):
            self.subscription_matches.labels(source)
        for kind in RECEIVER_KINDS:
            self.latency.labels(kind)
            self.queue.labels(kind)
            for outcome in OUTCOMES:
                self.pushes.labels(kind, outcome)
        for op in ("read", "write"):
            self.redis_errors.labels(op)
        for outcome in ("stored", "invalid"):
            self.events.labels(outcome)
        for outcome in ("checked", "invalid"):
            self.tickets.labels(outcome)
        for reason in MUTED:
            self.muted.labels(reason)
