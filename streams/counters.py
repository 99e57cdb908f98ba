"""What a worker's shell has done, as plain numbers: read by the demo, the bench and ``/stats/``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Counters:
    """What the shell has done; read by the demo, the bench and the metrics."""

    messages: int = 0
    tickets: int = 0
    deadlettered: int = 0
    deadletter_reasons: dict[str, int] = field(default_factory=dict)
    redelivered: int = 0  # ticket messages skipped because a previous owner had ingested them
    delta_messages: int = 0
    deltas_applied: int = 0
    duplicate_tickets: int = 0  # a ticket id already counted within the horizon (detectors.partition)
    expired_tickets: int = 0  # older than the horizon behind event time: not counted
    late_tickets: int = 0  # counted after their bucket was judged (the stream then differs from detect)
    late_claims: int = 0  # claims the complainants job took after a midnight they count for was judged (as above)
    tickets_refetched: int = 0  # ticket messages the consumer skipped over, read from the broker (streams.ingest)
    deltas_refetched: int = 0  # delta messages the consumer skipped over, read from the broker (streams.windows)
    first_ingest_at: float = 0.0  # wall clock of the first ticket batch (for rates)
    last_applied_at: float = 0.0  # wall clock of the last delta message applied
    alerts: int = 0
    alerts_by_type: dict[str, int] = field(default_factory=dict)
    inspection_tasks: int = 0
    flushes: int = 0
    state_writes: int = 0
    changelog_records_read: int = 0  # read into tables from their changelogs (recovery and standby copies)
    tables_discarded: bool = False  # rocksdb://: the last worker on the data directory had not stopped cleanly (streams.store)
    on_alert: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
