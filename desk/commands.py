"""The command-line side of the desk: ``earlywarn desk`` and ``earlywarn desk-user``.

Kept here so ``earlywarn/cli.py`` only declares the arguments. Usage and configuration
problems raise :class:`DeskCommandError` (exit status 2).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys


from alerts.redis_client import connect
from desk.settings import SettingsError, from_env


class DeskCommandError(Exception):
    """A problem the user can fix; the message says how."""


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    try:
        return from_env(broker=getattr(args, "broker", None), host=getattr(args, "host", None),
                        port=getattr(args, "port", None),
                        consume=False if getattr(args, "no_consume", False) else None)
    except SettingsError as exc:
        raise DeskCommandError(str(exc)) from None


def cmd_desk(args: argparse.Namespace) -> int:
    import uvicorn

    from desk.app import create_app

    settings = _settings(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if settings.dev_secret:
        logging.getLogger("earlywarn.desk").warning(
            "desk: EARLYWARN_DESK_SECRET is the development value; set a long random one in production")
    app = create_app(settings, connect(settings.redis_url))
    print(f"desk: http://{settings.host}:{settings.port}/ (API: /openapi.json); alerts from "
          f"{settings.topic_alerts} at {settings.broker}" + ("" if settings.consume else " (not consuming)"),
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", proxy_headers=False)
    consumer = app.state.consumer
    return 1 if consumer is not None and consumer.failed is not None else 0


def cmd_desk_user(args: argparse.Namespace) -> int:
    from desk.auth import Auth

    settings = _settings(args)
    auth = Auth(connect(settings.redis_url), settings.prefix, settings.secret,
                hash_time_cost=settings.hash_time_cost, hash_memory_kib=settings.hash_memory_kib)
    if args.action == "list":
        for u in auth.users():
            print(f"{u.name}\t{u.role}\t{','.join(u.districts) or '全市'}\t{u.display}")
        return 0
    if args.action == "add":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
        try:
            auth.add_user(args.name, password, args.role, args.district or (), args.display or "")
        except ValueError as exc:
            raise DeskCommandError(str(exc)) from None
        print(f"user {args.name} ({args.role}) saved")
        return 0
    user = auth.user(args.name)
    if user is None:
        raise DeskCommandError(f"no user {args.name} (add one with `earlywarn desk-user add {args.name}`)")
    if args.action == "token":
        print(auth.issue_token(user, args.label, args.days))
        return 0
    n = auth.revoke_tokens(args.name)
    print(f"{n} tokens of {args.name} revoked")
    return 0


def add_parsers(sub: argparse._SubParsersAction, with_broker) -> None:  # type: ignore[no-untyped-def,type-arg]
    sp = with_broker(sub.add_parser("desk", help="the duty desk: HTTP API and staff console over the alerts"))
    sp.add_argument("--host", help="interface to bind (default $EARLYWARN_DESK_HOST or 127.0.0.1)")
    sp.add_argument("--port", type=int, help="port (default $EARLYWARN_DESK_PORT or 6068)")
    sp.add_argument("--no-consume", action="store_true", help="serve only; another desk process feeds the store")
    sp.set_defaults(func=cmd_desk)

    sp = sub.add_parser("desk-user", help="desk users and their API tokens")
    sp.add_argument("action", choices=["add", "token", "revoke", "list"])
    sp.add_argument("name", nargs="?", default="")
    sp.add_argument("--role", choices=["viewer", "officer", "admin"], default="viewer")
    sp.add_argument("--district", action="append", help="limit to this district (repeatable); default: all")
    sp.add_argument("--display", help="name shown in the console")
    sp.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sp.add_argument("--label", default="cli", help="with token: what the token is for")
    sp.add_argument("--days", type=float, default=90.0, help="with token: lifetime")

    def run(a: argparse.Namespace) -> int:
        if a.action != "list" and not a.name:
            raise DeskCommandError(f"desk-user {a.action}: name the user")
        return cmd_desk_user(a)

    sp.set_defaults(func=run)

    from desk.bench import add_parser as add_bench_parser

    add_bench_parser(sub)
