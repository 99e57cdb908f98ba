"""The complainants job: every claim in one place, abnormal complainants (and firms) judged at each local midnight of event time.

With ``EARLYWARN_COMPLAINANTS=on`` ingest sends each batch's claims (complaints and
reports by known people, pseudonymised: ``detectors.complainants.Claim``) with the
watermarks its deltas carry to the claims topic. It has one partition: a template ring is
found across people, so its owner sees every claim, as the alert stage's owner sees every
decision. Its owner runs ``detectors.complainant_stage.ComplainantStage``: the claims are
added as they come, and each local midnight the sources' watermark passes (the rule every
delta partition ticks by: ``detectors.progress.target_tick``) is judged, as ``earlywarn
detect`` judges it. Then:

- ``abnormal_complainant`` decisions go out through the release job's publisher (alerts
  topic, inspection tasks, metrics), as detect passes them by the alert stage;
- due process: each midnight's exclusions (the flagged pseudonyms and their tickets) go to
  every delta partition (``x``), with the event time up to which they are known (``u``):
  a partition ticks past a midnight only once it has them (``DetectConfig.exclusion_gate``),
  so flagged people stay out of group-dispute counts and evidence exactly as offline;
- the flags in force and the clearings go to the Redis registry
  (``alerts.complainants.FlagStore``), from a thread, never holding the stream up.

Clearings (staff's acts) are claim messages too (``{"clear": [[pseudonym, at, who, why]]}``):
``earlywarn complainant clear`` writes one to the claims topic as well as to Redis, and a
clearing that reached Redis alone (the desk's) is copied to the topic by this job, which
reads Redis every few seconds (``poll_clearings``). The stage takes each in the order of the topic and
applies it at the first midnight after its event time (``ComplainantStage.clear``), as
``earlywarn detect`` does with clearings told before it starts. So the registry is a
function of the claims topic: ``earlywarn complainant rebuild`` (or this job's recovery)
folds the topic and writes it again, exactly, after Redis is lost.

State and restarts. The stage is a function of the claim messages in order, so what is
written (``CommittedTable``, at each commit, input acknowledged only after it: the order
``streams.checkpoint`` gives) is the offset of the last claim message folded in and the
offsets the alerts had reached; the claims topic itself is the stage's log. A new owner
reads the claims topic from its start up to that offset and folds it in silently, reads
what a crashed owner published after its commit (as the release job does), then goes on.
The claims topic must therefore be kept whole (no retention by time or size: a restart
reads it from offset 0), and a restart costs a read of it; a snapshot of the stages would
bound both (not built).

Abnormal firms (``EARLYWARN_FIRMS=on``) are judged by the same owner on the same clock: a
firm's peers are the firms of its category and district, so it too needs every ticket in
one place. Ingest adds each batch's firm tickets (``detectors.firms.FirmTicket``) to its
claim message; ``detectors.firm_stage.FirmStage`` judges each midnight the watermark
passes, as ``earlywarn detect`` does, and its ``abnormal_firm`` alerts go out the same way.
Firms exclude no one, so the partitions need not wait for them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
import orjson

from detectors.clock import Clock
from detectors.complainant_stage import ComplainantStage
from detectors.complainants import Claim
from detectors.decisions import RESOLVED, Decision, decision_from_dict
from detectors.evidence import Exclusion
from detectors.firm_stage import FirmStage
from detectors.firms import FirmJudge, FirmTicket
from detectors.progress import take_progress, target_tick
from detectors.windows import bucket_start
from detectors.wire import delta_message
from streams.checkpoint import MARKER, Acks, confirmed, stored, tagged
from streams.refetch import Reader, gap, read_back
from streams.kafka_io import claims_topic
from streams.release import OpenAlerts, Publisher, alert_event
from streams.settings import Settings

log = logging.getLogger("earlywarn")

STAGE_KEY = b"complainants"  # the job's one table key


def claim_row(c: Claim) -> list[Any]:
    return [c.ticket_id, c.ts, c.person, c.kind, c.text, c.firm_key, c.product_key, c.issue, c.district,
            c.amount, list(c.masks)]


def claim_of(row: list[Any]) -> Claim:
    return Claim(*row[:10], masks=tuple(row[10]))


def firm_row(t: FirmTicket) -> list[Any]:
    return [t.firm, t.ts, t.kind, t.category, t.district, t.issue, t.product, t.amount, t.label, t.ticket_id, t.person]


class ClaimSender:
    """What ingest calls per batch (and on its heartbeat): the claims (when *claims*), the firm
    tickets (when *firms*) and the watermarks, one message."""

    def __init__(self, topic: faust.TopicT, *, claims: bool = True, firms: bool = False) -> None:
        self.topic = topic
        self.claims = claims
        self.firms = firms
        self.messages = 0

    def __call__(self, claims: list[Claim], firm_tickets: list[FirmTicket], marks: dict[str, list[Any]]) -> Any:
        """Send one message; its future (done once the broker has it)."""
        msg = {"w": marks, "c": time.time(), "k": [claim_row(c) for c in claims],
               "f": [firm_row(t) for t in firm_tickets]}
        self.messages += 1
        return self.topic.send_soon(value=orjson.dumps(msg), partition=0)


class OpenModelAlerts(OpenAlerts):
    """``earlywarn_open_alerts`` for the alerts this job raises, told as absolute counts.

    The alert stage's owner resets every series of the gauge when it recovers its stage
    (``OpenAlerts.reset``), this job's types among them; counting up and down from there
    could go wrong, even below 0. So each event sets its series to what this job holds
    open (a reset elsewhere lasts until this job's next event of that type).
    """

    def event(self, d: Decision) -> None:
        old = self._open.pop(d.alert_id, None)
        if d.status != RESOLVED:
            self._open[d.alert_id] = (d.type, d.severity)
        for label in {old, (d.type, d.severity)} - {None}:
            self._gauge.labels(*label).set(sum(v == label for v in self._open.values()))


class FlagMirror:
    """The Redis flag registry, written from one thread in order: the flags and clearings after
    each judgement out, staff's clearings back in (the job copies new ones to the claims topic)."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._store: Any = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="earlywarn-flags")
        self.clearings: dict[str, dict[str, Any]] = {}  # as last read; replaced whole, never mutated
        self.published = 0  # judgements whose flags reached Redis

    def store(self) -> Any:
        if self._store is None:
            self._store = self._connect()
        return self._store

    def publish(self, flags: dict[str, dict[str, Any]], clearings: dict[str, dict[str, Any]]) -> None:
        self._pool.submit(self._publish, flags, clearings)

    def _publish(self, flags: dict[str, dict[str, Any]], clearings: dict[str, dict[str, Any]]) -> None:
        try:
            self.store().publish(flags, clearings)
            self.clearings = self.store().clearings()
            self.published += 1
        except Exception as exc:  # noqa: BLE001 - Redis down: the next judgement publishes them all again
            log.warning("complainant flags not written to Redis (%s); the next judgement writes them again", exc)

    def refresh(self) -> None:
        """Read the clearings in Redis again (from the thread; ``clearings`` when done)."""
        self._pool.submit(self._refresh)

    def _refresh(self) -> None:
        try:
            self.clearings = self.store().clearings()
        except Exception as exc:  # noqa: BLE001 - Redis down: read again at the next poll
            log.warning("complainant clearings not read from Redis (%s)", exc)


class ClaimFold:
    """The claim messages folded in order: the stages, the sources' event-time progress, and the
    midnights each message lets pass. What the job runs and ``rebuild`` runs again."""

    def __init__(self, settings: Settings) -> None:
        cfg = settings.detect
        self.sources, self.lateness = cfg.sources, cfg.lateness_seconds
        self.stage = ComplainantStage() if settings.complainants == "on" else None
        self.firm_stage = FirmStage(FirmJudge(false_alarms_per_day=settings.false_alarms_per_day)) \
            if settings.firms == "on" else None
        self.clock = Clock()  # the sources' event-time progress, as every delta partition keeps it

    def fold(self, msg: dict[str, Any]) -> tuple[list[Decision], list[tuple[float, Exclusion]], float | None]:
        """(decisions, the midnights judged with their exclusions, how far exclusions are known)."""
        stage, firms = self.stage, self.firm_stage
        if "clear" in msg:  # staff's clearings, nothing else
            for person, at, who, why in msg["clear"]:
                if stage is not None:
                    stage.clear(person, float(at), who, why)
            return [], [], None
        if stage is not None:
            stage.add(claim_of(row) for row in msg["k"])
        if firms is not None:
            firms.add(FirmTicket(*row) for row in msg.get("f", ()))
        take_progress(self.clock, msg)
        tick = target_tick(self.clock, self.sources, self.lateness)
        if tick is None:
            return [], [], None
        upto = bucket_start(tick + 1)
        decided = firms.advance(upto) if firms is not None else []
        if stage is None:
            return decided, [], None
        decided = stage.advance(upto) + decided
        judged = stage.take_judged()
        return decided, judged, stage.next_judgement if stage.next_judgement is not None else upto

    def registry(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """(the flags in force at the last judgement, every clearing): what Redis holds."""
        stage = self.stage
        if stage is None:
            return {}, {}
        return (stage.flags(stage.last_judged) if stage.last_judged is not None else {}), stage.clearings()


def clearing_message(person: str, at: float, who: str, why: str) -> bytes:
    """A claim message that carries one clearing (``earlywarn complainant clear``, the job's copy of the desk's)."""
    return orjson.dumps({"clear": [[person, at, who, why]]})


def rebuild(settings: Settings, store: Any, values: list[bytes]) -> tuple[int, int]:
    """Fold the claims topic's *values* and make *store* (``alerts.complainants.FlagStore``) hold the
    registry they give: after Redis is lost, what it held. (flags, clearings) written."""
    fold = ClaimFold(settings.with_(complainants="on", firms="off"))
    for value in values:
        fold.fold(orjson.loads(value))
    flags, clearings = fold.registry()
    return store.publish(flags, clearings), len(clearings)


class Complainants:
    """The complainants agent's state and work (see the module docstring)."""

    def __init__(self, settings: Settings, *, table: Any, deltas: faust.TopicT, publisher: Publisher,
                 flags: FlagMirror | None, read_from: Callable[[str, int], Awaitable[list[bytes]]],
                 counters: Any = None, claims: faust.TopicT | None = None, read_claims: Reader | None = None) -> None:
        self.settings = settings
        self.partitions = settings.detect.partitions
        self.topic = claims_topic(settings)
        self.claims = claims  # the claims topic, to copy clearings that reached Redis alone onto
        self.table = table  # a streams.checkpoint.CommittedTable, one key
        self.deltas = deltas
        self.publisher = publisher
        publisher.open_alerts = OpenModelAlerts(publisher.metrics)
        self.flags = flags
        self.read_from = read_from
        self.read_claims = read_claims  # the claims topic read back (streams.refetch)
        self.counters = counters  # streams.counters.Counters: its delta messages count what this job sends too
        self.acks = Acks()
        self.unlearned = False  # recovered: the stage is to be rebuilt before the next message
        self.exclusions_sent = 0  # delta messages sent (exclusions and how far they are known)
        self._fresh()
        self._marker: bytes | None = None
        self._unsent: list[Any] = []  # exclusion messages sent, not yet known to be on the broker

    def _fresh(self) -> None:
        self.fold = ClaimFold(self.settings)
        self.stage, self.firm_stage = self.fold.stage, self.fold.firm_stage
        self.applied = -1  # offset of the last claim message folded in
        self.told: float | None = None  # the event time up to which partitions know the exclusions
        self.copied: set[tuple[str, float]] = set()  # Redis clearings copied to the claims topic
        self.owner = False  # holds the claims partition (recovered it)

    # ---------------------------------------------------------------- recovery

    async def recover(self) -> None:
        """Rebuild the stage from the claims topic up to the last commit; learn what went out after it;
        write the registry it gives to Redis (which may have been lost meanwhile)."""
        self.unlearned = False
        self._fresh()
        raw = self.table.get(STAGE_KEY)
        v = orjson.loads(stored(raw)) if raw is not None else {}
        applied = v.get("applied", -1)
        if applied >= 0:
            values = await self.read_from(self.topic, 0)
            for value in values[: applied + 1]:
                self.fold.fold(orjson.loads(value))
            self.applied = applied
            self.told = v.get("told")
            if self.flags is not None:
                self.flags.publish(*self.fold.registry())
        self.owner = True
        self.publisher.out = dict(v.get("out", {}))
        alerts = self.publisher.alerts.get_topic_name()
        went = await self.read_from(alerts, self.publisher.out.get(alerts, 0))
        self.publisher.already_out = {alert_event(orjson.loads(x)) for x in went}

    # ---------------------------------------------------------------- input

    def missing(self, ev: Any) -> tuple[int, int] | None:
        """The offsets [from, before) of the claim messages before *ev* not folded in: what
        the consumer skipped over (``streams.refetch``), or None."""
        return gap(self.applied, ev.message.offset)

    async def fill(self, missing: tuple[int, int]) -> None:
        """Read the claim messages at offsets *missing* from the broker and fold them in."""
        if self.read_claims is None:
            return
        for offset, value in await read_back(self.read_claims, "claims", 0, missing, self.publisher.metrics):
            self._fold(value, offset)

    def apply(self, ev: Any) -> None:
        """Fold one claim message in and hold it until the next commit."""
        self.acks.hold(ev)
        self._fold(ev.value, ev.message.offset)

    def _fold(self, value: bytes, offset: int) -> None:
        """Fold one claim message in: judge the midnights it lets pass, tell what follows."""
        if offset <= self.applied:  # folded in before a restart
            return
        self.applied = offset
        if self.flags is not None:
            self._copy(self.flags.clearings)
        msg = orjson.loads(value)
        decided, judged, known = self.fold.fold(msg)
        if self.counters is not None and self.stage is not None:
            self.counters.late_claims = self.stage.late
        if self.stage is not None:
            self._tell(judged, known)
        if decided:  # as the decisions topic carries them (plain strings, not the stages' enums)
            self.publisher.publish([decision_from_dict(orjson.loads(orjson.dumps(asdict(d)))) for d in decided])
        if (judged or "clear" in msg) and self.flags is not None:
            self.flags.publish(*self.fold.registry())

    def poll_clearings(self) -> None:
        """Every few seconds (a timer): copy the clearings Redis holds that the claims do not, and
        read them again, so one made at the desk is in the stream within seconds."""
        if self.owner and not self.unlearned and self.flags is not None:
            self._copy(self.flags.clearings)
            self.flags.refresh()

    def _copy(self, clearings: dict[str, dict[str, Any]]) -> None:
        """Clearings Redis holds that the claims do not: onto the claims topic, where they take
        their place in the stage's order (a copy sent twice is one clearing)."""
        if self.stage is None or self.claims is None:
            return
        known = self.stage.clearings()
        for person, c in sorted(clearings.items()):
            at = float(c["at"])
            if (person, at) in self.copied or (person in known and float(known[person]["at"]) >= at):
                continue
            self.copied.add((person, at))
            self.claims.send_soon(value=clearing_message(person, at, str(c.get("who", "")), str(c.get("why", ""))),
                                  partition=0)

    def _tell(self, judged: list[tuple[float, Exclusion]], known: float | None) -> None:
        """Every delta partition: the exclusions judged, and how far in event time they are known."""
        if not judged and (known is None or (self.told is not None and known <= self.told)):
            return
        if known is not None and (self.told is None or known > self.told):
            self.told = known
        msg = delta_message({})
        msg["x"] = [[at, sorted(ex.people), sorted(ex.tickets)] for at, ex in judged]
        msg["u"] = self.told
        value = orjson.dumps(msg)
        for p in range(self.partitions):
            self._unsent.append(self.deltas.send_soon(value=value, partition=p))
        self.exclusions_sent += self.partitions
        if self.counters is not None:
            self.counters.delta_messages += self.partitions

    # ---------------------------------------------------------------- the checkpoint's Job

    def unsaved(self) -> bool:
        return bool(self.acks.events)

    async def sent(self) -> None:
        # The exclusions told too: a marker's "told" must never claim what a crash could lose.
        unsent, self._unsent = self._unsent, []
        await confirmed(unsent, self.deltas.get_topic_name())
        await self.publisher.sent()
        await self.table.sent()

    def write_state(self, commit: bytes) -> None:
        self._marker = orjson.dumps({"applied": self.applied, "told": self.told, "out": self.publisher.out})

    def write_marker(self, commit: bytes) -> None:
        if self._marker is not None:
            self.table[STAGE_KEY] = tagged(MARKER, commit, self._marker)
            self._marker = None

    def observe_commit(self, seconds: float) -> None:
        pass  # one table value: not timed

    def revoked(self) -> None:
        """The claims partition went elsewhere: forget the stage (its new owner rebuilds it)."""
        self._fresh()
        self.owner = False


__all__ = ["ClaimFold", "ClaimSender", "Complainants", "FlagMirror", "OpenModelAlerts", "claim_of", "claim_row",
           "claims_topic", "clearing_message", "firm_row", "rebuild"]
