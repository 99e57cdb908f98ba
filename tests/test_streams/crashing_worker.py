"""A real stream worker that kills itself with SIGKILL at a chosen point (the crash test's fault injection).

``python tests/test_streams/crashing_worker.py POINT N`` runs ``earlywarn worker`` (settings
from the environment, as usual) with one hook added, and SIGKILLs the process the N-th
time it reaches POINT:

- ``ingest``: right after the N-th batch of tickets was ingested (its deltas handed to the
  producer, earlier batches' deltas on the broker, no ticket offset committed since);
- ``windows``: right after the N-th commit of the windows job, once its state is on the
  broker and before Faust commits the delta offsets behind it;
- ``mid-commit``: in the N-th commit of the windows job, once its changed keys are on the
  broker and before the markers that close it are written (a commit cut short);
- ``publish``: in the N-th release of alerts (a release: what one decisions message lets
  go), once the first of them is on the alerts
  topic (with its inspection task, if any) and before the rest are published or the
  alert stage's state is written. The process dies at the next await of the release or
  the timer, or at a stage commit under way if that comes first: a real kill leaves no
  moment in which a commit could write a stage whose releases were not all published.
- ``claims``: the same in the complainants job (``EARLYWARN_COMPLAINANTS=on``): the N-th
  time a claim message lets ``abnormal_complainant`` decisions go, once the first of them
  is on the alerts topic and before the rest are published or the job's state is written.

Nothing else changes: the process is the real worker, with the real app and broker, and
dies as ``kill -9`` would kill it (no hand-over, no flush, no offset commit).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from streams.checkpoint import Checkpoint
from streams.ingest import Ingest
from streams.release import Publisher, Release
from streams.windows import Windows


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str, n: int) -> None:
    seen = [0]
    if point == "ingest":
        take = Ingest.take

        def take_then_die(self: Ingest, events: list[Any]) -> None:
            take(self, events)
            seen[0] += 1
            if seen[0] == n:
                die()
        Ingest.take = take_then_die  # type: ignore[method-assign]
    elif point == "windows":
        commit = Checkpoint.commit

        async def commit_then_die(self: Checkpoint, job: Any) -> None:
            await commit(self, job)
            if isinstance(job, Windows):
                seen[0] += 1
                if seen[0] == n:
                    await self.app.producer.flush()
                    die()
        Checkpoint.commit = commit_then_die  # type: ignore[method-assign]
    elif point == "mid-commit":
        write_marker = Windows.write_marker

        def die_before_marker(self: Windows, commit: bytes) -> None:
            seen[0] += 1
            if seen[0] == n:
                die()  # the commit's keys are on the broker: Checkpoint.commit waited for them
            write_marker(self, commit)
        Windows.write_marker = die_before_marker  # type: ignore[method-assign]
    elif point == "publish":
        die_after_first_published(n, lambda ds: ds, Release)
    elif point == "claims":
        from streams.complainants import Complainants

        die_after_first_published(n, lambda ds: [d for d in ds if d.type == "abnormal_complainant"], Complainants)
    else:
        raise SystemExit(f"unknown kill point {point!r}")


def die_after_first_published(n: int, pick: Any, job: type) -> None:
    """Die the *n*-th time a publication holds decisions *pick* chooses, once the first of those
    is on the broker, before anything else is published or *job* writes its state."""
    publish, write_marker, commit_due = Publisher.publish, job.write_marker, Checkpoint.commit_due
    seen = [0]
    first: list[Any] = []  # the sends of the one decision published, once it is

    def publish_first(self: Publisher, decisions: list[Any]) -> None:
        if first:
            return  # dying: nothing more goes out
        chosen = pick(decisions)
        if chosen:
            seen[0] += 1
            if seen[0] == n:
                publish(self, chosen[:1])  # the rest are never published: the process dies first
                first.extend(f for futs in self._unsent.values() for f in futs)
                return
        publish(self, decisions)

    def no_marker_after_it(self: Any, commit: bytes) -> None:
        # A real kill stops everything at once: no commit under way may write a state that
        # released the decisions never published (its first alert is on the broker by now:
        # the commit waited for every alert sent).
        if first:
            die()
        write_marker(self, commit)

    async def die_when_pending(self: Checkpoint, job_: Any) -> None:
        if first:
            await asyncio.gather(*first)
            die()
        await commit_due(self, job_)
    Publisher.publish = publish_first  # type: ignore[method-assign]
    job.write_marker = no_marker_after_it  # type: ignore[attr-defined]
    Checkpoint.commit_due = die_when_pending  # type: ignore[method-assign]


if __name__ == "__main__":
    install(sys.argv[1], int(sys.argv[2]))
    from earlywarn.cli import main

    sys.exit(main(["worker"]))
