"""The ``earlywarn`` command: one entry point for every way to run the engine.

Errors are printed as a line or two saying what is wrong and what to do, with exit status
2 for usage and configuration problems (a missing file, a bad setting) and 1 for failures
while running (no broker answering); a traceback is kept for bugs.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from alerts.complainants import FlagStoreError
from alerts.redis_client import RedisUnavailable
from alerts.notify.commands import NotifyCommandError
from desk.commands import DeskCommandError
from streams.broker import CONNECT_TIMEOUT, BrokerError
from streams.settings import Settings, SettingsError, from_env


class CliError(Exception):
    """A problem the user can fix; the message says how."""


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    return from_env(broker=getattr(args, "broker", None), **extra)


def _check_input(path: str) -> None:
    """Raise CliError now, before any slow start-up, when *path* cannot be read."""
    if path != "-" and not Path(path).is_file():
        raise CliError(f"{path}: no such file (give a JSONL file of tickets, or - for standard input)")


def _open_lines(path: str) -> Iterator[bytes]:
    if path == "-":
        yield from sys.stdin.buffer
        return
    _check_input(path)
    with Path(path).open("rb") as fh:
        yield from fh


def _open_out(path: str, what: str) -> IO[bytes]:
    """*path* opened for writing, or a CliError naming the option and the reason."""
    try:
        return open(path, "wb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise CliError(f"{path}: cannot write {what}: {exc.strerror or exc} (check the directory exists "
                       "and is writable)") from None


def _count_lines(path: str) -> int | None:
    """Lines in the file at *path* (a C-speed pass over it); None for standard input."""
    if path == "-" or not Path(path).is_file():
        return None
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")  # a last line without its newline counts too


def cmd_broker(args: argparse.Namespace) -> int:
    from streams.broker import start_broker

    broker = start_broker(args.port)
    print(broker.bootstrap, flush=True)
    print(f"Tansu broker running (log: {broker.log_path}); Ctrl-C stops it.", file=sys.stderr, flush=True)
    try:
        while broker.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    settings = _settings(args, web_port=args.web_port)
    return run_worker(settings, connect_timeout=args.connect_timeout)


def cmd_detect(args: argparse.Namespace) -> int:
    from earlywarn.detect import DetectStats, default_workers, detect
    from streams import deadletter

    settings = _settings(args)
    stats = DetectStats()
    _check_input(args.file)
    dead = _open_out(args.deadletter, "rejected lines (--deadletter)") if args.deadletter else None

    def on_reject(line_no: int, r: Any, raw: bytes) -> None:
        where = f"line {line_no}" + (f" item {r.index}" if r.index is not None else "")
        print(f"{args.file}:{where}: {r.reason.value}: {r.detail}", file=sys.stderr)
        if dead is not None:
            dead.write(orjson.dumps(deadletter.record(r.reason.value, r.detail, raw, key=settings.deadletter_key,
                                                      index=r.index, source={"line": line_no})) + b"\n")

    store = None
    if args.flags:
        if settings.complainants != "on":
            raise CliError("--flags publishes abnormal-complainant flags: set EARLYWARN_COMPLAINANTS=on")
        from alerts.complainants import FlagStore, connect

        store = FlagStore(connect(settings.redis_url, settings.data_dir))
    out = sys.stdout.buffer
    # Lines read, on a terminal only (reading runs at most a few thousand lines ahead of
    # detection); the file is counted for the bar's total only when there is a bar.
    shown = sys.stderr.isatty()
    lines = _progress(_open_lines(args.file), "detect", _count_lines(args.file) if shown else None, quiet=not shown)
    try:
        workers = default_workers() if args.workers is None else args.workers
        flags: dict[str, Any] = {}
        for alert in detect(lines, settings, on_reject=on_reject, stats=stats, workers=workers,
                            cleared=store.clearings() if store is not None else None, on_flags=flags.update):
            out.write(orjson.dumps(alert) + b"\n")
        out.flush()
        if store is not None:
            print(f"detect: {store.publish(flags)} complainant flags in Redis", file=sys.stderr)
    finally:
        if dead is not None:
            dead.close()
    print(f"detect: {stats.lines} lines, {stats.tickets} tickets, {stats.rejected} rejected, "
          f"{stats.duplicates} duplicate, {stats.expired} expired, {stats.alerts} alert events", file=sys.stderr)
    print(f"detect: {stats.nobody} tickets with no identity (no complainant id, phone or name: counted as "
          f"no one); {stats.out_of_order} out of time order, {stats.late} of them late (more than "
          f"{stats.lateness_seconds:g} s behind a ticket before them)", file=sys.stderr)
    if stats.gaps:
        days = sum(b - a for a, b in stats.gaps) / 86400
        print(f"detect: {len(stats.gaps)} feed gap(s), {days:.1f} days in all, not learned as quiet time: "
              + ", ".join(f"{_local(a)} to {_local(b)}" for a, b in stats.gaps[:10])
              + (" ..." if len(stats.gaps) > 10 else ""), file=sys.stderr)
    if stats.dated:
        print(f"detect: {stats.dated} tickets carried only a date (received_at at 00:00 or 12:00 sharp, as nearly "
              f"all before them): {stats.dated_days} days judged by the day, not by the hour", file=sys.stderr)
    if stats.mostly_late():
        print(f"detect: WARNING: {stats.late} of {stats.tickets} tickets ({stats.late / stats.tickets:.0%}) came "
              f"late, so the windows they belong to were judged before they arrived and these alerts "
              f"are not to be trusted. Sort the input by received_at (with one UTC offset throughout, "
              f"`jq -c -s 'sort_by(.received_at)[]' FILE` does), or raise EARLYWARN_LATENESS_SECONDS to "
              f"cover its disorder, and run detect again.", file=sys.stderr)
    return 0


def _local(ts: float) -> str:
    """An event time as Shanghai local time, to the minute."""
    from schemas.alerts import SHANGHAI
    from datetime import datetime

    return datetime.fromtimestamp(ts, SHANGHAI).strftime("%Y-%m-%d %H:%M")


def cmd_simulate(args: argparse.Namespace) -> int:
    from earlywarn.simulate import SimConfig, generate

    cfg = SimConfig(seed=args.seed, days=args.days, tickets_per_day=args.per_day)
    # Where the output goes is checked before the (slow) simulation.
    labels = _open_out(args.labels, "the incident labels (--labels)") if args.labels else None
    if args.kafka:
        from streams.kafka_io import ensure_topics, produce

        settings = _settings(args)
        ensure_topics(settings, args.connect_timeout)
    else:
        out = sys.stdout.buffer if args.out == "-" else _open_out(args.out, "the tickets (--out)")
    tickets, incidents = generate(cfg)
    lines = (orjson.dumps(t) for t in tickets)
    if args.kafka:
        n = produce(settings, _progress(lines, "simulate → Kafka", None), rate=args.rate)
    else:
        n = 0
        for line in _progress(lines, "simulate", None, quiet=args.out == "-"):
            out.write(line + b"\n")
            n += 1
        if out is not sys.stdout.buffer:
            out.close()
    if labels is not None:
        with labels as fh:
            for inc in incidents:
                fh.write(orjson.dumps(inc, option=orjson.OPT_SERIALIZE_DATACLASS) + b"\n")
    print(f"simulate: {n} tickets, {len(incidents)} labelled incidents", file=sys.stderr)
    return 0


def _batched(lines: Iterator[bytes], n: int) -> Iterator[bytes]:
    """Group JSONL lines into JSON-array messages of *n* tickets (a bulk feed)."""
    chunk: list[bytes] = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        chunk.append(line)
        if len(chunk) >= n:
            yield b"[" + b",".join(chunk) + b"]"
            chunk = []
    if chunk:
        yield b"[" + b",".join(chunk) + b"]"


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.kafka_io import ensure_topics, produce

    _check_input(args.file)
    settings = _settings(args)
    ensure_topics(settings, args.connect_timeout)
    lines = (ln.rstrip(b"\r\n") for ln in _open_lines(args.file))
    lines = (ln for ln in lines if ln.strip())
    total = None
    if args.file != "-":
        with open(args.file, "rb") as fh:
            total = sum(1 for ln in fh if ln.strip())
    msgs: Iterator[bytes] = _batched(lines, args.batch) if args.batch > 1 else lines
    if args.batch > 1 and total is not None:
        total = -(-total // args.batch)
    start = time.monotonic()
    n = produce(settings, _progress(msgs, "replay", total), rate=args.rate)
    took = time.monotonic() - start
    print(f"replay: {n} messages to {settings.topic_tickets} in {took:.1f}s ({n / max(took, 1e-9):,.0f}/s)",
          file=sys.stderr)
    return 0


def _progress(it: Iterator[bytes], label: str, total: int | None, quiet: bool = False) -> Iterator[bytes]:
    """Pass items through, showing a progress bar on stderr (when it is a terminal or total is known)."""
    if quiet:
        yield from it
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console_err = __import__("rich.console", fromlist=["Console"]).Console(stderr=True)
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console_err, transient=False) as bar:
        task = bar.add_task(label, total=total)
        for i, item in enumerate(it, 1):
            yield item
            if i % 500 == 0:
                bar.update(task, completed=i)
        bar.update(task, completed=i if total is None else total)  # noqa: F821 - i bound when it yielded


def cmd_demo(args: argparse.Namespace) -> int:
    from earlywarn.demo import run_demo

    return run_demo(duration=args.duration, per_second=args.rate, seed=args.seed)


def _seeds(text: str) -> tuple[int, ...]:
    from earlywarn.evalrun import parse_seeds  # imported when used: it brings the scenario suite

    return parse_seeds(text)


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options: a table of declarations, long because the command is."""
    p = argparse.ArgumentParser(prog="earlywarn", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def with_broker(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--broker", help="Kafka bootstrap host:port (default: $EARLYWARN_BROKER or 127.0.0.1:9092)")
        sp.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT, metavar="SECONDS",
                        help=f"give up when no broker answers this long (default {CONNECT_TIMEOUT:g})")
        return sp

    sp = sub.add_parser("demo", help="everything embedded: broker, worker, simulated firehose, live alerts")
    sp.add_argument("--duration", type=float, default=None, help="stop after this many seconds and print a summary")
    sp.add_argument("--rate", type=float, default=400.0, help="simulated tickets per second")
    sp.add_argument("--seed", type=int, default=7)
    sp.set_defaults(func=cmd_demo)

    sp = with_broker(sub.add_parser("worker", help="run a stream worker against a Kafka broker"))
    sp.add_argument("--web-port", type=int, default=None, help="port for /metrics (default $EARLYWARN_WEB_PORT or 6066)")
    sp.set_defaults(func=cmd_worker)

    sp = sub.add_parser("broker", help="start the embedded Tansu broker and print its address")
    sp.add_argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    sp.set_defaults(func=cmd_broker)

    sp = with_broker(sub.add_parser("simulate", help="a realistic ticket firehose with labelled incidents"))
    sp.add_argument("--out", default="-", help="JSONL file to write (default: standard output)")
    sp.add_argument("--kafka", action="store_true", help="produce to the tickets topic instead of a file")
    sp.add_argument("--labels", help="write the injected incidents (JSONL) here")
    sp.add_argument("--seed", type=int, default=1)
    sp.add_argument("--days", type=float, default=7.0)
    sp.add_argument("--per-day", type=float, default=6000.0, help="background tickets per day")
    sp.add_argument("--rate", type=float, default=None, help="with --kafka: messages per second (default: as fast as possible)")
    sp.set_defaults(func=cmd_simulate)

    sp = with_broker(sub.add_parser("replay", help="produce a JSONL file of tickets to the tickets topic"))
    sp.add_argument("file")
    sp.add_argument("--rate", type=float, default=None, help="messages per second (default: as fast as possible)")
    sp.add_argument("--batch", type=int, default=1, help="tickets per message (JSON arrays, as bulk feeds send)")
    sp.set_defaults(func=cmd_replay)

    sp = sub.add_parser("detect", help="offline: tickets JSONL in, alerts JSONL out (the stream's core)")
    sp.add_argument("file", help="JSONL file, or - for standard input")
    sp.add_argument("--deadletter", help="write rejected lines here (JSONL with line number and reason)")
    sp.add_argument("--workers", type=int, default=None,
                    help="N processes each decode, segment and pre-aggregate every Nth chunk of input and own "
                         "every Nth partition (default: N = the cores, on one core 0; 0: all in this process); "
                         "the alerts are the same either way")
    sp.add_argument("--flags", action="store_true",
                    help="with EARLYWARN_COMPLAINANTS=on: publish the complainant flags in force at the end to "
                         "Redis (EARLYWARN_REDIS_URL, else the embedded one), honouring staff's clearings")
    sp.set_defaults(func=cmd_detect)

    sp = sub.add_parser("eval", help="score detection on the simulator's scenario suite")
    sp.add_argument("--seeds", default="holdout", type=_seeds,
                    help="'holdout' (default), 'tuning', or a list like 1,2,3")
    sp.add_argument("--days", type=float, default=None,
                    help="event time per scenario (default 28; firms: 42, four weeks of past before the last two)")
    sp.add_argument("--per-day", type=float, default=6000.0, help="background tickets per day")
    sp.add_argument("--jobs", type=int, default=2, help="scenarios run in parallel")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.add_argument("--family", choices=("scenarios", "complainants", "firms", "districts"), default="scenarios",
                    help="scenarios (default): the incident suite; complainants: templated claimants and "
                         "claimant rings through detect with EARLYWARN_COMPLAINANTS=on; firms: repeat offenders "
                         "and their decoys judged daily as detect does with EARLYWARN_FIRMS=on (default seeds: "
                         "fresh ones); districts: the suite with three district surges added to each scenario")
    from earlywarn.scenarios import REALDATA

    sp.add_argument("--realdata", default="", choices=("", *REALDATA),
                    help="issue 16's family: the suite's scenarios with what real exports do added "
                         "(identity: 30%% of tickets without an id and one-sender bursts; source_order: the file "
                         "grouped by district; slow: disputes building over 2-5 weeks, in 8-week scenarios; gap_1, gap_14, "
                         "gap_60: a feed outage losing 1, 14 or 60 days of tickets after the first 8.4 days; no_backfill: "
                         "no history before the scenario, incidents from its second day and a 55-person dispute "
                         "against a new firm on day 5)")

    sp.add_argument("--feedback", metavar="FILE",
                    help="instead: write the desk's staff verdicts as labelled outcomes (JSON Lines; - for stdout) "
                         "and print precision as staff see it by type (see docs/desk.md)")

    def _eval(a: argparse.Namespace) -> int:
        if a.feedback:
            from desk.feedback import cmd_feedback

            return cmd_feedback(a)
        a.days = a.days if a.days is not None else 42.0 if a.family == "firms" else 28.0
        if a.family == "firms":
            from earlywarn.evalfirms import eval_family as eval_firms

            if a.seeds == _seeds("holdout"):  # not given: the family's own fresh seeds
                a.seeds = ()
            return eval_firms(a)
        if a.family == "complainants":
            from earlywarn.evalcomplainants import eval_family

            if a.seeds == _seeds("holdout"):  # not given: the family's own fresh seeds
                a.seeds = ()
            return eval_family(a)
        if a.family == "districts":
            a.realdata = "district"
        from earlywarn.evalrun import main as eval_main

        return eval_main(a)

    sp.set_defaults(func=_eval)

    sp = with_broker(sub.add_parser("bench", help="measure consume, Faust, engine and detect rates in one run"))
    sp.add_argument("--tickets", type=int, default=20000)
    sp.add_argument("--repeat", type=int, default=1, help="measure every path this many times in turn; print medians")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.add_argument("--subscriptions", type=int, default=0, metavar="N",
                    help="also run the engine with N keyword subscriptions in Redis (EARLYWARN_REDIS_URL)")
    sp.set_defaults(func=lambda a: __import__("earlywarn.bench", fromlist=["main"]).main(a))

    from earlywarn.membench import add_parser as add_memory_bench

    add_memory_bench(sub, with_broker)
    from earlywarn.recoverybench import add_parser as add_recovery_bench

    add_recovery_bench(sub, with_broker)
    from alerts.complainants import add_parsers as add_complainant_parsers

    add_complainant_parsers(sub)
    from alerts.notify.commands import add_parsers as add_notify_parsers

    add_notify_parsers(sub, with_broker)
    from desk.commands import add_parsers as add_desk_parsers

    add_desk_parsers(sub, with_broker)
    return p


def _tune_gc() -> None:
    """Full cyclic collections only rarely: the engine's state is many small, long-lived containers.

    The partitions keep tens of thousands of buckets (each a set of people and a list
    of ticket ids); with CPython's default thresholds a full collection walks all of them
    (and touches every string they hold) every ~70 000 allocations: 35-45 % of offline
    ``detect`` time, measured. The state holds no reference cycles (it is freed by reference
    counting), so young collections stay as they are and a full one waits for 100 times as
    many young ones as the default. What the imports built is frozen out of collections.
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1000)
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _tune_gc()
    try:
        return int(args.func(args) or 0)
    except (CliError, SettingsError, NotifyCommandError, DeskCommandError, FlagStoreError, RedisUnavailable) as exc:
        print(f"earlywarn: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except BrokerError as exc:  # the broker would not start or does not answer
        print(f"earlywarn: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
