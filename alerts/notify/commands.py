"""The command-line side of notify: ``earlywarn notify``, ``silence``, ``ack``, ``outbox``.

Kept here so ``earlywarn/cli.py`` only declares the arguments. Each returns an exit status;
usage and configuration problems raise :class:`NotifyCommandError` (status 2).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time


from alerts.notify.config import ConfigError, from_env
from alerts.notify.labels import SEVERITY_RANK
from alerts.notify.outbox import dead_letters, redrive
from alerts.notify.routing import RoutingError, load, parse_duration
from alerts.notify.silences import Silences
from alerts.redis_client import connect


class NotifyCommandError(Exception):
    """A problem the user can fix; the message says how."""


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    try:
        return from_env(broker=getattr(args, "broker", None), routes=getattr(args, "routes", None),
                        metrics_port=getattr(args, "metrics_port", None))
    except ConfigError as exc:
        raise NotifyCommandError(str(exc)) from None


def cmd_notify(args: argparse.Namespace) -> int:
    from alerts.notify.service import NotifyService

    config = _config(args)
    try:
        tree = load(config.routes)
    except RoutingError as exc:
        raise NotifyCommandError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    service = NotifyService(config, tree, connect(config.redis_url))
    print(f"notify: {config.topic_alerts} at {config.broker} -> {len(tree.receivers)} receivers; "
          f"/metrics on {config.metrics_host}:{config.metrics_port}", file=sys.stderr, flush=True)
    return service.run()


def cmd_silence(args: argparse.Namespace) -> int:
    config = _config(args)
    s = Silences(connect(config.redis_url), config.prefix, config.remember_days)
    if args.expire:
        if not s.expire(args.expire):
            raise NotifyCommandError(f"no silence {args.expire}")
        print(f"silence {args.expire} ended")
        return 0
    if not args.matchers:
        for sil in s.active():
            print(json.dumps({**sil.__dict__, "matchers": list(sil.matchers)}, ensure_ascii=False))
        return 0
    try:
        until = time.time() + parse_duration(args.duration)
        sil = s.add(args.matchers, who=args.who or "", why=args.why or "", until=until)
    except ValueError as exc:
        raise NotifyCommandError(str(exc)) from None
    print(sil.id)
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    config = _config(args)
    client = connect(config.redis_url)
    raw = client.hget(f"{config.prefix}:active", args.alert_id)
    if raw is None and args.severity is None:
        raise NotifyCommandError(f"{args.alert_id} is not an open alert here (give --severity to ack it anyway)")
    severity = args.severity or json.loads(raw)["severity"]
    if not args.who or not args.why:
        raise NotifyCommandError("say who acknowledges and why (--who, --why)")
    Silences(client, config.prefix, config.remember_days).ack(args.alert_id, args.who, args.why, severity)
    print(f"{args.alert_id} acknowledged at {severity}: not re-notified until it escalates")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    config = _config(args)
    client = connect(config.redis_url)
    if args.action == "redrive":
        n = redrive(client, config.prefix, receiver=args.receiver, ids=args.ids or ())
        print(f"outbox: {n} dead letters put back")
        return 0
    for eid, fields in dead_letters(client, config.prefix):
        if args.receiver and fields["receiver"] != args.receiver:
            continue
        print(json.dumps({"id": eid, "receiver": fields["receiver"], "error": fields["error"],
                          "attempts": int(fields["attempts"])}, ensure_ascii=False))
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    from alerts.notify.subscriptions import SubscriptionStore

    config = _config(args)
    store = SubscriptionStore(connect(config.redis_url), config.prefix)
    if args.action == "list":
        for sub in store.all():
            print(json.dumps(sub.__dict__, ensure_ascii=False))
        return 0
    if args.action == "remove":
        if not args.kind:
            raise NotifyCommandError("say which subscription to remove: earlywarn subscribe remove ID")
        if not store.remove(args.kind):
            raise NotifyCommandError(f"no subscription {args.kind} (earlywarn subscribe list shows them)")
        print(f"subscription {args.kind} removed; notify drops it within EARLYWARN_SUBSCRIPTION_POLL_SECONDS")
        return 0
    kind, value = args.kind, args.id
    if not kind or not value:
        raise NotifyCommandError("earlywarn subscribe add KIND VALUE --receiver R --who W "
                                 "(KIND: term, firm, product or district)")
    receiver = args.receiver or ""
    try:
        tree = load(config.routes)
    except (RoutingError, OSError):
        tree = None  # the routing file is notify's to check; without it the receiver is taken on trust
    if tree is not None and receiver and receiver not in tree.receivers:
        raise NotifyCommandError(f"receiver {receiver!r} is not defined in {config.routes} "
                                 f"(defined: {', '.join(sorted(tree.receivers))})")
    try:
        sub = store.add(kind, value, receiver, args.who or "")
    except ValueError as exc:
        raise NotifyCommandError(str(exc)) from None
    print(sub.id)
    return 0


def add_parsers(sub: argparse._SubParsersAction, with_broker) -> None:  # type: ignore[no-untyped-def,type-arg]
    sp = with_broker(sub.add_parser("notify", help="deliver alert events to the receivers the routing file names"))
    sp.add_argument("--routes", help="routing file (default $EARLYWARN_NOTIFY_ROUTES or deploy/notify-routes.yml)")
    sp.add_argument("--metrics-port", type=int, default=None, help="port for /metrics (default 6067)")
    sp.set_defaults(func=cmd_notify)

    sp = sub.add_parser("silence", help="mute alerts by matchers for a while; without matchers: list silences")
    sp.add_argument("matchers", nargs="*", help='e.g. firm=91310115MA1K3ABCD8 \'type=~"term_surge|group_dispute"\'')
    sp.add_argument("--for", dest="duration", default="4h", help="how long (30m, 4h, 2d; default 4h)")
    sp.add_argument("--who", help="who sets it")
    sp.add_argument("--why", help="why")
    sp.add_argument("--expire", metavar="ID", help="end the silence ID now")
    sp.set_defaults(func=cmd_silence)

    sp = sub.add_parser("ack", help="acknowledge an alert: no re-notification until it escalates")
    sp.add_argument("alert_id")
    sp.add_argument("--who")
    sp.add_argument("--why")
    sp.add_argument("--severity", choices=sorted(SEVERITY_RANK), help="default: the alert's current severity")
    sp.set_defaults(func=cmd_ack)

    sp = sub.add_parser("subscribe", help="keyword subscriptions (靶向词片订制推送): add, list, remove")
    sp.add_argument("action", choices=["add", "list", "remove"])
    sp.add_argument("kind", nargs="?", help="with add: term, firm, product or district; with remove: the id")
    sp.add_argument("id", nargs="?", metavar="value", help="with add: the word, firm (name or credit code), "
                    "product or district (code or name)")
    sp.add_argument("--receiver", help="with add: the receiver (from the routing file) that hears the matches")
    sp.add_argument("--who", help="with add: who subscribes")
    sp.add_argument("--routes", help="routing file to check the receiver against (default $EARLYWARN_NOTIFY_ROUTES)")
    sp.set_defaults(func=cmd_subscribe)

    sp = sub.add_parser("outbox", help="list dead letters, or re-drive them into their outboxes")
    sp.add_argument("action", choices=["deadletters", "redrive"])
    sp.add_argument("--receiver", help="only this receiver's")
    sp.add_argument("ids", nargs="*", help="with redrive: only these dead-letter ids")
    sp.set_defaults(func=cmd_outbox)
