"""``earlywarn notify``: alert events from the ``alerts`` topic to the people on duty.

A pipeline of small stages, after Prometheus Alertmanager's (``dispatch/route.go``,
``notify/notify.go``, ``silence/``, ``inhibit/``), each one idea in one module:

    service     Kafka consumer group: an event is stored in Redis (its alert state and the
                groups its routes put it in), then its offset is committed
    tickets     a second group, on the tickets topic: keyword subscriptions matched, the
                matches queued in Redis (subscriptions: digests), then the offsets committed
    routing     the routing file: a tree of routes matched top-down with ``continue``,
                receivers by name, inhibition rules; errors name the line
    pipeline    a due group: inhibit -> silence -> ack -> dedup (what changed, what is
                due for a repeat) -> one notification a receiver, into the outbox
    silences    silences (matchers, who, why, until) and acknowledgements, in Redis
    outbox      Redis Streams a receiver, a consumer group, retries with backoff and
                jitter, a dead-letter stream, idempotency keys: at-least-once, deduplicated
    receivers   console, JSON webhook, Alertmanager v4, WeCom, DingTalk, e-mail
    metrics     prometheus-client, its own registry, bounded labels
    config      the environment, read once
"""
