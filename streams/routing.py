"""Which partition a key lives in: Kafka's own partitioner, so tables stay co-partitioned.

Deltas for a key are sent to ``partition_of(key)``; the state table (``use_partitioner``)
writes that key's changelog with the producer's default partitioner, which is the same
murmur2 over the same UTF-8 bytes. So the worker that owns delta partition p also
recovers exactly the keys of p from changelog partition p.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from aiokafka.partitioner import murmur2


def router(partitions: int) -> Callable[[str], int]:
    """A ``key -> partition`` function matching aiokafka's DefaultPartitioner.

    >>> route = router(8)
    >>> route("firm:91310115MA1K3ABCD8") == route("firm:91310115MA1K3ABCD8")
    True
    """

    def route(key: str) -> int:
        return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions

    return route


@lru_cache(maxsize=1024)
def partition_key(prefix: str, partition: int, partitions: int) -> str:
    """A table key that routes to *partition*: where that partition's own bookkeeping is kept.

    >>> router(8)(partition_key("~clock", 5, 8))
    5
    """
    route = router(partitions)
    n = 0
    while route(f"{prefix}:{partition}:{n}") != partition:
        n += 1
    return f"{prefix}:{partition}:{n}"


def clock_key(partition: int, partitions: int) -> str:
    """The table key under which a delta partition's clock is kept."""
    return partition_key("~clock", partition, partitions)
