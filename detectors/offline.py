"""The offline driver: the aggregator, every partition's engine and the alert stage in one process.

What ``earlywarn detect`` runs. Feeding it the tickets the stream reads, in batches of any
size, gives the decisions the stream gives (routing uses the stream's partitioner and
partition count).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from detectors.aggregate import Aggregator, Enriched
from detectors.config import DetectConfig
from detectors.decisions import Decision
from detectors.front import Front
from detectors.partition import PartitionEngine
from detectors.stage import AlertStage
from detectors.windows import bucket_of, bucket_start

if TYPE_CHECKING:  # datasketch (numpy) is imported only when complainants are judged
    from detectors.complainant_stage import ComplainantStage
    from detectors.complainants import Claim


class OfflineEngine:
    """Aggregator and partition engines in one process: what ``earlywarn detect`` runs.

    It owns every partition, or only *partitions* (``detect``'s worker processes split them):
    ``apply`` and ``finish_partitions`` give what its engines decide, and ``advance`` and
    ``finish`` pass that through the alert stage, which only an owner of every partition has.
    """

    def __init__(self, config: DetectConfig, route: Callable[[str], int],
                 partitions: Iterable[int] | None = None, complainants: ComplainantStage | None = None) -> None:
        config = replace(config, sources=1)  # one reader: the file is its only source
        self.config = config
        self.aggregator = Aggregator(config, route)
        owned = range(config.partitions) if partitions is None else sorted(partitions)
        self.engines = {p: PartitionEngine(p, config) for p in owned}
        self.stage = AlertStage(config.partitions)
        self._front = Front()  # the file's event-time front (detectors.front)
        # Abnormal complainants (optional): judged at each midnight the watermark passes,
        # before the partitions tick past it, so every tick reads the flags of its day.
        self.complainants = complainants
        self.complainant_decisions: list[Decision] = []  # told since the caller last took them

    def feed(self, batch: Iterable[Enriched]) -> list[Decision]:
        front = Front()
        for e in batch:
            self.aggregator.add(e)
            front.add(e.ts)
        return self.advance(self.aggregator.drain({}), front.newest)

    def apply(self, msgs: dict[int, dict[str, Any]], newest: Iterable[float] | None,
              claims: Iterable[Claim] = ()) -> list[tuple[int, float, list[Decision]]]:
        """Apply one batch's delta messages (``Aggregator.drain``, from this aggregator or
        another process's), whose tickets' newest event times are *newest* (a batch's
        ``Front.newest``), to the partitions owned.

        Returns (partition, the event time it is done to, its decisions) per owned
        partition, in partition order: what ``AlertStage.offer`` takes.
        """
        if newest:
            self._front.merge(newest)
        if self.complainants is not None:
            self.complainants.add(claims)
            front = self._front.value
            if front is not None:
                self._judge_complainants(self.complainants.advance(front - self.config.lateness_seconds))
        watermarks = {"0": [self._front.value, False, self._front.newest]}
        out = []
        for p, msg in sorted(msgs.items()):
            eng = self.engines.get(p)
            if eng is not None:
                msg["w"] = watermarks
                decided = eng.apply(msg)
                out.append((p, eng.done_to(), decided))
        return out

    def advance(self, msgs: dict[int, dict[str, Any]], newest: Iterable[float] | None) -> list[Decision]:
        """``apply``, through the alert stage."""
        out: list[Decision] = []
        for p, done_to, decided in self.apply(msgs, newest):
            out.extend(self.stage.offer(p, done_to, decided))
        return out

    def finish_partitions(self) -> list[Decision]:
        """End of input: the owned engines' last decisions, in partition order."""
        if self.complainants is not None:
            reach = self._front.reach
            if reach is not None:  # the partitions' end of input: the end of the newest bucket
                self._judge_complainants(self.complainants.finish(bucket_start(bucket_of(reach) + 1)))
        return [d for eng in self.engines.values() for d in eng.finish()]

    def _judge_complainants(self, decided: list[Decision]) -> None:
        self.complainant_decisions.extend(decided)
        for at, exclusion in self.complainants.take_judged():  # type: ignore[union-attr]
            for eng in self.engines.values():
                eng.judge.exclusions.add(at, exclusion)

    def take_complainant_decisions(self) -> list[Decision]:
        out, self.complainant_decisions = self.complainant_decisions, []
        return out

    def finish(self) -> list[Decision]:
        return self.stage.finish(self.finish_partitions())


__all__ = ["OfflineEngine"]
