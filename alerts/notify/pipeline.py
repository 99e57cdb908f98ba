"""Groups in Redis, and what a due group tells each receiver: the stages after Alertmanager's.

``ingest`` stores a batch of alert events: each event's current state (``active``, the
inhibition sources) and, for every route the tree gives it, its place in that route's
group (``group:<key>``, a hash), with the group's next flush in ``due`` (a sorted set).
A new group is flushed ``group_wait`` after its first event, and then at most every
``group_interval``. Storing an event again changes nothing, so a batch replayed after a
crash is harmless.

``flush_due`` runs each due group through the stages, in one Redis transaction per group
(WATCH on the group, so two ``notify`` processes never tell one change twice, and a crash
tells it on restart):

    inhibit   an active alert matching a rule's source mutes targets about the same thing
    silence   an active silence whose matchers select the alert mutes it
    ack       an acknowledged alert is told again only when it escalates past the ack
    dedup     only what changed since this group last told its receiver: new, update (status
              or severity changed), escalated (severity rose), resolved, or repeat (still
              open, severity at or above the route's repeat_severity, repeat_interval
              since last told)
    outbox    one notification (the changed alerts) onto the receiver's outbox stream,
              with an idempotency key per (alert_id, status, severity[, repeat n])

Where this differs from Alertmanager: earlywarn's events carry their own status (there is
no ``resolve_timeout``); a notification lists only the alerts that changed, not the whole
group; only episodes at or above ``repeat_severity`` are repeated; acknowledgements exist;
``update`` events at an unchanged severity are told once per (alert, status, severity);
inhibition can require shared evidence (``shared_evidence``), since a hot word names no
firm; a resolved alert that was never told because it was muted (inhibited, silenced or
acknowledged) is dropped silently, as Alertmanager does, but one that was never told
because it opened and resolved before its group was flushed (notify catching up after a
Redis outage, or a replay) is told, as resolved: staff hear of every episode.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from alerts.notify.labels import SEVERITY_RANK, labels_of
from alerts.notify.routing import Route, RoutingTree
from alerts.notify.silences import Silences


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """``<route path>:<receiver>:{label=value,...}``: stable while the routing file keeps its shape."""
    names = sorted(labels) if "..." in route.group_by else route.group_by
    return f"{route.path}:{route.receiver}:{{" + ",".join(f"{n}={labels.get(n, '')}" for n in names) + "}"


def outbox_key(prefix: str, receiver: str) -> str:
    return f"{prefix}:outbox:{receiver}"


@dataclass
class FlushStats:
    notifications: int = 0
    muted: dict[str, int] = field(default_factory=lambda: {"inhibited": 0, "silenced": 0, "acked": 0})


class Pipeline:
    def __init__(self, client: redis.Redis, prefix: str, tree: RoutingTree, silences: Silences,
                 remember_days: float = 30.0) -> None:
        self.r = client
        self.prefix = prefix
        self.tree = tree
        self.silences = silences
        self.remember = int(remember_days * 86400)

    def _group(self, gk: str) -> str:
        return f"{self.prefix}:group:{gk}"

    # ---- ingest ---------------------------------------------------------------------------

    def ingest(self, events: Iterable[Mapping[str, Any]], now: float | None = None) -> int:
        """Store *events* (alert contract v1) and schedule their groups; the number stored."""
        now = time.time() if now is None else now
        placed: list[tuple[str, Route, dict[str, str], Mapping[str, Any]]] = []
        for ev in events:
            labels = labels_of(ev)
            for route in self.tree.match(labels):
                placed.append((group_key(route, labels), route, labels, ev))
        if not placed:
            return 0
        reader = self.r.pipeline(transaction=False)
        for gk, *_ in placed:
            reader.hget(self._group(gk), "meta")
        metas = reader.execute()
        p = self.r.pipeline(transaction=True)
        for (gk, route, labels, ev), meta in zip(placed, metas, strict=True):
            key = self._group(gk)
            body = json.dumps(ev, ensure_ascii=False)
            if ev.get("status") == "resolved":
                p.hdel(f"{self.prefix}:active", ev["alert_id"])
            else:
                p.hset(f"{self.prefix}:active", ev["alert_id"], body)
            p.hset(key, f"e:{ev['alert_id']}", body)
            if meta is None:
                names = sorted(labels) if "..." in route.group_by else route.group_by
                p.hsetnx(key, "meta", json.dumps({"route": route.path, "receiver": route.receiver,
                                                  "labels": {n: labels.get(n, "") for n in names},
                                                  "last_flush": 0.0, "wait_until": now + route.group_wait},
                                                 ensure_ascii=False))
                when = now + route.group_wait
            else:
                m = json.loads(meta)
                when = max(now, m["last_flush"] + route.group_interval) if m["last_flush"] else m["wait_until"]
            p.zadd(f"{self.prefix}:due", {gk: when}, lt=True)
        p.execute()
        return len(placed)

    # ---- flush ----------------------------------------------------------------------------

    def flush_due(self, now: float | None = None, limit: int = 200) -> FlushStats:
        now = time.time() if now is None else now
        stats = FlushStats()
        due = [g.decode() for g in self.r.zrangebyscore(f"{self.prefix}:due", "-inf", now, start=0, num=limit)]
        if not due:
            return stats
        active = {k.decode(): json.loads(v) for k, v in self.r.hgetall(f"{self.prefix}:active").items()}
        sources = [(ev, labels_of(ev)) for ev in active.values()]
        silences = self.silences.active(now)
        for gk in due:
            try:
                self._flush(gk, now, sources, silences, stats)
            except redis.WatchError:
                continue  # the group changed meanwhile (a new event, another process): next tick
        return stats

    def _muted(self, ev: Mapping[str, Any], labels: Mapping[str, str], sources: list, silences: list) -> str | None:
        for rule in self.tree.inhibit_rules:
            if any(rule.mutes(ev, labels, s, sl) for s, sl in sources):
                return "inhibited"
        if self.silences.silencing(labels, silences) is not None:
            return "silenced"
        return None

    def _flush(self, gk: str, now: float, sources: list, silences: list, stats: FlushStats) -> None:
        key = self._group(gk)
        with self.r.pipeline(transaction=True) as p:
            p.watch(key)
            raw = {k.decode(): v for k, v in p.hgetall(key).items()}
            if "meta" not in raw:
                p.multi()
                p.zrem(f"{self.prefix}:due", gk)
                p.execute()
                return
            meta = json.loads(raw["meta"])
            route = self.tree.routes_by_path.get(meta["route"])
            spec = self.tree.receivers.get(meta["receiver"])
            if route is None or spec is None or route.receiver != spec.name:
                route = self.tree.root  # the routing file changed shape: its default takes the group
                spec = self.tree.receivers[route.receiver]
            events = {k[2:]: json.loads(v) for k, v in raw.items() if k.startswith("e:")}
            sent = {k[2:]: json.loads(v) for k, v in raw.items() if k.startswith("s:")}
            acks = self.silences.acks(sorted(events))
            changes: list[dict[str, Any]] = []
            keys: list[str] = []
            drop: list[str] = []
            told: dict[str, dict[str, Any]] = {}
            quiet: list[str] = []  # muted while open: its resolution, if never told, is not told either
            for aid, ev in sorted(events.items()):
                prev = sent.get(aid)
                status, sev = ev["status"], ev["severity"]
                muted = self._muted(ev, labels_of(ev), sources, silences)
                if status == "resolved":
                    drop.append(aid)
                    if muted or not spec.send_resolved or (prev is None and f"m:{aid}" in raw):
                        continue
                    change, n = "resolved", 0
                elif muted:
                    stats.muted[muted] += 1
                    quiet.append(aid)
                    continue
                elif prev is None:
                    change, n = "new", 0
                elif (prev["status"], prev["severity"]) != (status, sev):
                    rose = SEVERITY_RANK.get(sev, 0) > SEVERITY_RANK.get(prev["severity"], 0)
                    change, n = ("escalated" if rose else "update"), 0
                elif route.repeats(sev) and now >= prev["at"] + route.repeat_interval:
                    change, n = "repeat", prev["n"] + 1
                else:
                    continue
                ack = acks.get(aid)
                if change != "resolved" and ack is not None and ack.holds(sev):
                    stats.muted["acked"] += 1
                    quiet.append(aid)
                    continue
                changes.append({"change": change, "event": ev})
                keys.append(f"{aid}|{status}|{sev}" + (f"|r{n}" if n else ""))
                told[aid] = {"status": status, "severity": sev, "at": now, "n": n}
            p.multi()
            if changes:
                nid = hashlib.sha256("\n".join([spec.name, *keys]).encode()).hexdigest()[:24]
                note = {"id": nid, "receiver": spec.name, "group_key": gk, "group_labels": meta["labels"],
                        "status": "resolved" if all(c["change"] == "resolved" for c in changes) else "firing",
                        "alerts": changes, "keys": keys, "created_at": now}
                p.xadd(outbox_key(self.prefix, spec.name), {"note": json.dumps(note, ensure_ascii=False)})
                stats.notifications += 1
            for aid, state in told.items():
                if aid not in drop:
                    p.hset(key, f"s:{aid}", json.dumps(state))
            for aid in quiet:
                p.hset(key, f"m:{aid}", 1)
            if drop:
                p.hdel(key, *[f"{x}:{aid}" for aid in drop for x in ("e", "s", "m")])
            if len(drop) == len(events):
                p.delete(key)
                p.zrem(f"{self.prefix}:due", gk)
            else:
                meta["last_flush"] = now
                p.hset(key, "meta", json.dumps(meta, ensure_ascii=False))
                p.zadd(f"{self.prefix}:due", {gk: now + route.group_interval})
            p.execute()
