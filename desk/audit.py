"""The audit log: every write the desk makes, with who, what, when, and before/after.

One Redis stream ``P:audit`` (never trimmed: it is the record) holds every entry; each
alert's entries are also kept in ``P:audit:alert:<id>`` (a list of the same JSON) so its
page shows what was done to it. An entry is written in the same transaction as the change
it records wherever the change is the desk's own; silences and acks live in notify's
storage and are written through its :class:`~alerts.notify.silences.Silences`, then
audited.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis


class Audit:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.r = client
        self.p = prefix

    def record(self, who: str, action: str, target: str, before: Any = None, after: Any = None,
               alert_id: str | None = None, pipe: redis.client.Pipeline | None = None) -> dict[str, Any]:
        """Write one entry, into *pipe* when given (the caller executes it)."""
        entry = {"at": time.time(), "who": who, "action": action, "target": target, "before": before, "after": after}
        raw = orjson.dumps(entry)
        p = pipe if pipe is not None else self.r.pipeline()
        p.xadd(f"{self.p}:audit", {"entry": raw})
        if alert_id:
            p.rpush(f"{self.p}:audit:alert:{alert_id}", raw)
        if pipe is None:
            p.execute()
        return entry

    def of_alert(self, alert_id: str) -> list[dict[str, Any]]:
        return [orjson.loads(x) for x in self.r.lrange(f"{self.p}:audit:alert:{alert_id}", 0, -1)]

    def recent(self, count: int = 100) -> list[dict[str, Any]]:
        return [{"id": i.decode(), **orjson.loads(f[b"entry"])}
                for i, f in self.r.xrevrange(f"{self.p}:audit", count=count)]
