"""Messages the consumer skipped over: found by their offsets, read back from the broker.

Every job folds its input into state one message after another, and its state knows the
offset of the last message it took (the windows: a partition's clock; the alert stage and
the complainants job: their stored values; ingest: each ticket partition's next offset).
Faust's consumer does not always deliver every message: soon after a partition was
assigned it was seen to hand over offset 0 and then offset 4, never 1-3, and a ticket
offset here and there (about one restart test in three on a loaded machine; the stream's
alerts then differed from ``detect``'s). So each job checks the offset of what it is given
against its state (``gap``) and reads what is missing from the broker itself
(``read_back``) before it takes the message, rather than trust the delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from streams.metrics import Metrics

log = logging.getLogger(__name__)

# (partition, from, before) -> the (offset, value) of the messages there (kafka_io.read_range, in a thread).
Reader = Callable[[int, int, int], Awaitable[list[tuple[int, bytes]]]]


def gap(applied: int | None, offset: int) -> tuple[int, int] | None:
    """[from, before): the offsets between the last one taken (*applied*; None: not known)
    and *offset*, when there are any.

    >>> gap(0, 4), gap(3, 4), gap(-1, 0), gap(None, 9)
    ((1, 4), None, None, None)
    """
    return (applied + 1, offset) if applied is not None and offset > applied + 1 else None


async def read_back(read: Reader, what: str, partition: int, missing: tuple[int, int],
                    metrics: Metrics) -> list[tuple[int, bytes]]:
    """The messages at offsets *missing* of *what*'s (tickets, deltas, decisions, claims)
    *partition*, read from the broker: logged and counted (``earlywarn_messages_refetched_total``)."""
    got = await read(partition, *missing)
    log.warning("%s partition %d: offsets %d-%d were not delivered; read %d of them from the broker",
                what, partition, missing[0], missing[1] - 1, len(got))
    metrics.messages_refetched.labels(what).inc(len(got))
    return got


__all__ = ["Reader", "gap", "read_back"]
