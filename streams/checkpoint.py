"""The checkpoint: the one place that says in which order state, progress and acknowledgements go.

A stream job that folds input into state (the windows, the alert stage) holds its input
events back, unacknowledged, until that state is written to its changelog-backed table:
Faust may commit an acknowledged offset at any moment, and a crash then replays from the
last commit, so an acknowledgement must never get ahead of the state it went into.

A commit is atomic, even when the worker is killed halfway (SIGKILL, a lost machine): a
job writes its changed keys under a fresh commit id, waits until the broker has them,
then writes one marker record per changelog partition (the windows: a partition's clock,
which holds the input offset the state has folded in). On recovery a ``CommittedTable``
applies a commit's records only when its marker follows them; a commit cut short is
dropped whole, so the state recovered is exactly that of the last complete commit, and
the input after its offset is replayed onto it (records at or below it are skipped). The
engine is deterministic, so the replay decides what the lost work decided; what it
publishes again is recognised downstream (streams.release). The embedded broker has no
Kafka transactions (it answers InitProducerId with an error): this is how exactly-once
effects are made without them.

The ingest job keeps no such state; its progress (the offset each ticket partition was
ingested to) is written only when partitions are handed over, and only once what it sent
is on the broker. After a crash its successor reads the tickets again from the last
committed offset, and the windows count each ticket id once (detectors.partition).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from typing import Any, Protocol

import faust
from faust.types import EventT


class Acks:
    """The input events a job has folded into state not yet written: acknowledged only after it is."""

    def __init__(self) -> None:
        self.stream: faust.StreamT[bytes] | None = None  # the job's stream, once its agent runs
        self.events: list[Any] = []
        self.written_at = time.monotonic()  # when the job's state was last written

    def hold(self, event: Any) -> None:
        self.events.append(event)

    def due(self, every: float) -> bool:
        """Events are held and the state was last written at least *every* seconds ago."""
        return bool(self.events) and time.monotonic() - self.written_at >= every

    def take(self) -> list[Any]:
        """The events held so far, whose state is being written (those held meanwhile wait for the next write)."""
        self.written_at = time.monotonic()
        done, self.events = self.events, []
        return done

    async def ack(self, events: list[Any]) -> None:
        if self.stream is not None:
            for ev in events:
                await self.stream.ack(ev)


class Job(Protocol):
    """A stream job whose input is acknowledged only once its state is written."""

    acks: Acks

    def unsaved(self) -> bool:
        """Whether a hand-over must write this job's state (events held, or state kept)."""

    async def sent(self) -> None:
        """Wait until everything the job has sent so far (outputs, state) is on the broker."""

    def write_state(self, commit: bytes) -> None:
        """Write what changed since the last commit to the job's table, tagged with *commit*
        (``tagged``), and keep its markers as they are now (the job goes on meanwhile)."""

    def write_marker(self, commit: bytes) -> None:
        """Close commit *commit*: the markers kept, one per changelog partition, each alone in its batch."""

    def observe_commit(self, seconds: float) -> None:
        """How long a commit of this job took (state written and input acknowledged)."""


class Progress(Protocol):
    def write_progress(self) -> None:
        """Write how far each owned input partition was ingested."""

    async def sent(self) -> None:
        """Wait until the broker has every output of the input read so far, and the progress written."""


class Checkpoint:
    """Commits jobs' state and hands partitions over, always in the same order.

    ``commit(job)``, every ``flush_seconds`` while a job is fed:

    1. outputs out: wait until what the job has sent so far is on the broker (the alert
       stage then knows the offsets its alerts reached, and writes them with its state);
    2. state: the job's changed keys go to its table under a fresh commit id, and the
       broker has them, and every output of the input taken (the windows' decisions, the
       stage's alerts): input the marker covers is never replayed, so its outputs must
       not be lost with the worker;
    3. marker: each changelog partition's marker closes the commit (alone in its batch:
       the embedded broker answers ListOffsets with the start of a partition's last batch
       plus one, and Faust recovers a changelog only up to that answer), and the broker
       has it;
    4. acknowledge: the input events folded into it are acknowledged, so Faust may commit
       their offsets.

    A hand-over (a rebalance, or the worker stopping; see ``EarlywarnApp``):

    1. ``settle_before``, once the flow of events has stopped: commit every job with
       unsaved state, so that Faust's wait for acknowledgements can end;
    2. Faust waits for the events still in flight (the agents finish them);
    3. ``settle_after``: commit every job again (the events that were in flight), then
       wait until the broker has every delta ingest sent (each send's own confirmation:
       Faust's producer flush returns once its buffer stalls for 0.1 s, with messages
       still in it, and a worker stopping then loses them);
    4. write progress: ingest's resume offsets, which must never claim more than was
       sent, and wait until the broker has them;
    5. Faust commits the offsets and lets the partitions go.
    """

    def __init__(self, app: faust.App, jobs: list[Job], progress: Progress, flush_seconds: float) -> None:
        self.app = app
        self.jobs = jobs
        self.progress = progress
        self.flush_seconds = flush_seconds
        self._committing = {id(job): asyncio.Lock() for job in jobs}  # a job's commits never interleave

    async def commit(self, job: Job) -> None:
        """Write the job's state atomically, then acknowledge the input behind it.

        The job goes on folding events in while its commit waits for the broker; what it
        writes and acknowledges is what it held when the commit took its state (no await
        between ``take`` and ``write_state``)."""
        async with self._committing[id(job)]:
            started = time.perf_counter()
            commit = new_commit_id()
            await job.sent()
            events = job.acks.take()
            job.write_state(commit)
            await job.sent()
            job.write_marker(commit)
            await job.sent()
            await job.acks.ack(events)
            job.observe_commit(time.perf_counter() - started)

    async def commit_due(self, job: Job) -> None:
        """Commit the job when it holds events and its last commit is ``flush_seconds`` old
        (unless a commit of it is under way)."""
        if job.acks.due(self.flush_seconds) and not self._committing[id(job)].locked():
            await self.commit(job)

    async def settle_before(self) -> None:
        for job in self.jobs:
            if job.unsaved():
                await self.commit(job)

    async def settle_after(self) -> None:
        await self.settle_before()
        await self.progress.sent()
        self.progress.write_progress()
        await self.progress.sent()


# ---- atomic commits in a changelog-backed table

STATE, MARKER = b"#", b"!"  # a tagged value: STATE or MARKER, the commit id, the same byte again, the value
_ID_BYTES = 16
_TAG_BYTES = _ID_BYTES + 2


SENT_TIMEOUT = 120.0  # seconds a commit waits for the broker to take its records before the job fails


class NotSent(RuntimeError):
    """Records a commit needs on the broker were not taken in time: the job fails loudly
    (its worker stops, streams.health) rather than acknowledge input behind unwritten state."""


async def confirmed(futures: list[asyncio.Future[Any]], what: str) -> list[Any]:
    """The broker's answers to *futures* (sends of *what*), or NotSent after ``SENT_TIMEOUT``."""
    if not futures:
        return []
    try:
        return list(await asyncio.wait_for(asyncio.gather(*futures), SENT_TIMEOUT))
    except asyncio.TimeoutError:
        raise NotSent(f"{len(futures)} records to {what} not on the broker after {SENT_TIMEOUT:g}s") from None


def new_commit_id() -> bytes:
    return os.urandom(_ID_BYTES // 2).hex().encode()


def tagged(kind: bytes, commit: bytes, value: bytes) -> bytes:
    """*value* as written by commit *commit*: part of its state (STATE) or its marker (MARKER)."""
    return kind + commit + kind + value


def stored(raw: bytes) -> bytes:
    """The value a table record holds, without its commit tag (an untagged one as it is)."""
    return raw[_TAG_BYTES:] if raw[:1] in (STATE, MARKER) and raw[_TAG_BYTES - 1:_TAG_BYTES] == raw[:1] else raw


class CommittedTable(faust.Table):  # type: ignore[misc]
    """A table whose writers commit atomically (see the module docstring).

    Records are sent as usual; ``sent()`` waits until the broker has every one sent so
    far. Recovering from the changelog, a STATE record waits (per changelog partition)
    until a MARKER record of its commit comes, and is applied with it; records of a commit
    whose marker never came are dropped when the partition's next marker comes. Untagged
    records (tombstones among them) are applied at once.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self._unsent: list[asyncio.Future[Any]] = []
        self._pending: dict[int, list[EventT]] = {}  # changelog partition -> STATE records awaiting their marker

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        self._unsent.append(fut)
        return fut

    async def sent(self) -> None:
        unsent, self._unsent = self._unsent, []
        await confirmed(unsent, self.name)

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        apply: list[EventT] = []
        for ev in batch:
            raw = ev.message.value
            kind = raw[:1] if raw else b""
            if kind == STATE:
                self._pending.setdefault(ev.message.partition, []).append(ev)
            elif kind == MARKER:
                commit = raw[1:1 + _ID_BYTES]
                held = self._pending.pop(ev.message.partition, [])
                apply.extend(e for e in held if e.message.value[1:1 + _ID_BYTES] == commit)
                apply.append(ev)
            else:
                apply.append(ev)
        if apply:
            super().apply_changelog_batch(apply)
