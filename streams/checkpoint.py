"""The checkpoint: the one place that says in which order state, progress and acknowledgements go.

A stream job that folds input into state (the windows, the alert stage) holds its input
events back, unacknowledged, until that state is written to its changelog-backed table:
Faust may commit an acknowledged offset at any moment, and a crash then replays from the
last commit, so an acknowledgement must never get ahead of the state it went into. The
ingest job keeps no such state; its progress (the offset each ticket partition was
ingested to) is written only when partitions are handed over, and only once what it sent
is on the broker.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import faust


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

    async def release(self) -> None:
        """Acknowledge every event held so far (those held meanwhile wait for the next write)."""
        self.written_at = time.monotonic()
        done, self.events = self.events, []
        if self.stream is not None:
            for ev in done:
                await self.stream.ack(ev)


class Job(Protocol):
    """A stream job whose input is acknowledged only once its state is written."""

    acks: Acks

    def unsaved(self) -> bool:
        """Whether a hand-over must write this job's state (events held, or state kept)."""

    def write_state(self) -> None:
        """Write what changed since the last write to the job's table (the producer sends it)."""

    def write_lone_records(self) -> None:
        """Write the job's last record of each changelog partition once more, alone (see settle_after)."""

    def observe_commit(self, seconds: float) -> None:
        """How long a commit of this job took (state written and input acknowledged)."""


class Progress(Protocol):
    def write_progress(self) -> None:
        """Write how far each owned input partition was ingested."""


class Checkpoint:
    """Commits jobs' state and hands partitions over, always in the same order.

    ``commit(job)``, every ``flush_seconds`` while a job is fed:

    1. flush state: the job's changed state is written to its table (its changelog);
    2. acknowledge: the input events folded into it are acknowledged, so Faust may commit
       their offsets (its commit first waits for the producer, changelog records included).

    A hand-over (a rebalance, or the worker stopping; see ``EarlywarnApp``):

    1. ``settle_before``, once the flow of events has stopped: commit every job with
       unsaved state, so that Faust's wait for acknowledgements can end;
    2. Faust waits for the events still in flight (the agents finish them);
    3. ``settle_after``: commit every job again (the events that were in flight), then
       flush the producer, so that the deltas ingest sent and the state are on the broker;
    4. write progress: ingest's resume offsets, which must never claim more than was sent;
    5. write each job's last changelog record once more, alone, and flush the producer.
       The embedded broker answers ListOffsets with the start of a partition's last
       record batch plus one, not its end, and Faust recovers a changelog only up to that
       answer; a lone last record makes the answer exact (Apache Kafka needs none of this);
    6. Faust commits the offsets and lets the partitions go.
    """

    def __init__(self, app: faust.App, jobs: list[Job], progress: Progress, flush_seconds: float) -> None:
        self.app = app
        self.jobs = jobs
        self.progress = progress
        self.flush_seconds = flush_seconds

    async def commit(self, job: Job) -> None:
        """Write the job's state, then acknowledge the input behind it."""
        started = time.perf_counter()
        job.write_state()
        await job.acks.release()
        job.observe_commit(time.perf_counter() - started)

    async def commit_due(self, job: Job) -> None:
        """Commit the job when it holds events and its last commit is ``flush_seconds`` old."""
        if job.acks.due(self.flush_seconds):
            await self.commit(job)

    async def settle_before(self) -> None:
        for job in self.jobs:
            if job.unsaved():
                await self.commit(job)

    async def settle_after(self) -> None:
        await self.settle_before()
        await self.app.producer.flush()
        self.progress.write_progress()
        for job in self.jobs:
            job.write_lone_records()
        await self.app.producer.flush()
