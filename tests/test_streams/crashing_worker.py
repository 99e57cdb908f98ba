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
        publish, write_marker, commit_due = Publisher.publish, Release.write_marker, Checkpoint.commit_due
        first: list[Any] = []  # the sends of the one decision published, once it is

        def publish_first(self: Publisher, decisions: list[Any]) -> None:
            if decisions and not first:
                seen[0] += 1
                if seen[0] == n:
                    publish(self, decisions[:1])  # the rest are never published: the process dies first
                    first.extend(f for futs in self._unsent.values() for f in futs)
                    return
            if not first:
                publish(self, decisions)

        def no_marker_after_it(self: Release, commit: bytes) -> None:
            # A real kill stops everything at once: no commit under way may write a stage that
            # released the decisions never published (its first alert is on the broker by now:
            # the commit waited for every alert sent).
            if first:
                die()
            write_marker(self, commit)

        async def die_when_pending(self: Checkpoint, job: Any) -> None:
            if first:
                await asyncio.gather(*first)
                die()
            await commit_due(self, job)
        Publisher.publish = publish_first  # type: ignore[method-assign]
        Release.write_marker = no_marker_after_it  # type: ignore[method-assign]
        Checkpoint.commit_due = die_when_pending  # type: ignore[method-assign]
    elif point == "claims":
        from streams.complainants import Complainants

        publish, write_marker, commit_due = Publisher.publish, Complainants.write_marker, Checkpoint.commit_due
        sends: list[Any] = []  # the sends of the one alert published, once it is

        def publish_first_complainant(self: Publisher, decisions: list[Any]) -> None:
            if sends:
                return  # dying: nothing more goes out
            mine = [d for d in decisions if d.type == "abnormal_complainant"]
            if mine:
                seen[0] += 1
                if seen[0] == n:
                    publish(self, mine[:1])
                    sends.extend(f for futs in self._unsent.values() for f in futs)
                    return
            publish(self, decisions)

        def no_claims_marker_after_it(self: Complainants, commit: bytes) -> None:
            if sends:
                die()
            write_marker(self, commit)

        async def die_when_sent(self: Checkpoint, job: Any) -> None:
            if sends:
                await asyncio.gather(*sends)
                die()
            await commit_due(self, job)
        Publisher.publish = publish_first_complainant  # type: ignore[method-assign]
        Complainants.write_marker = no_claims_marker_after_it  # type: ignore[method-assign]
        Checkpoint.commit_due = die_when_sent  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    install(sys.argv[1], int(sys.argv[2]))
    from earlywarn.cli import main

    sys.exit(main(["worker"]))
