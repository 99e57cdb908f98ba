"""The RocksDB table store: each key kept under the partition its changelog record goes to.

Faust's RocksDB store keeps one database per changelog partition, and files a write under
the partition of the event being processed (``faust.stores.rocksdb.Store._set`` asserts
there is one). earlywarn's tables send their changelog with the producer's partitioner
(``use_partitioner``, keys routed by murmur2 as streams.routing routes them), and write
state on a timer, while handing partitions over and for several partitions at once, when
no event, or another partition's event, is current. So this store files every key under
``murmur2(key) % partitions``: the partition its changelog record goes to, the one
Faust's recovery fills it from, and the one the worker that owns the key's delta
partition reads. Reads go straight to that database (Faust's store, not knowing the
partition, asks every open database's bloom filter).

A worker that did not stop cleanly (SIGKILL, a lost machine, a crash) leaves its
databases as they were at that moment: with the keys of a commit cut short, which the
changelog's recovery would drop (streams.checkpoint), and perhaps past the end the
embedded broker reports for a changelog (it tells a partition's end as the start of its
last record batch plus one; Faust's recovery then stops the worker with
``ConsistencyError``). So a worker marks its table directory in use while it runs
(:func:`claim`) and unmarks it only after a clean stop, once the hand-over's checkpoint is
written (:func:`release`); the next worker that finds the mark discards the directory and
recovers its tables whole from their changelogs, exactly as ``memory://`` does. Kafka
Streams does the same with its local stores after an unclean shutdown under exactly-once.

RocksDB's own defaults are sized for one big database (Faust's: 64 MiB memtables, three
of them, a 2 GiB block cache, each per database); a worker opens one database per table
partition it holds (13 by default), so the options below keep each one small: what a
worker adds to its memory for the store is bounded by ``partitions × (write buffers +
block cache)``, whatever the number of keys.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from aiokafka.partitioner import murmur2
from faust.stores import STORES
from faust.stores import rocksdb as faust_rocksdb
from yarl import URL

SCHEME = "earlywarn-rocksdb"  # the store's name in Faust's registry (rocksdb:// in EARLYWARN_STORE)
IN_USE = ".earlywarn-in-use"  # in the table directory while a worker runs on it

log = logging.getLogger("earlywarn.store")

# Per database (one per table partition held).
OPTIONS: dict[str, Any] = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024 * 1024,
    "block_cache_size": 8 * 1024 * 1024,
    "block_cache_compressed_size": 0,
    "max_open_files": 256,
}


class RocksDBStore(faust_rocksdb.Store):
    """Faust's RocksDB store with every key filed under its changelog partition."""

    def _partition(self, key: bytes) -> int:
        return (murmur2(key) & 0x7FFFFFFF) % self.table.partitions

    def _db(self, key: bytes) -> Any:
        return self._db_for_partition(self._partition(key))

    def _set(self, key: bytes, value: bytes | None) -> None:
        self._db(key).put(key, value)

    def _get(self, key: bytes) -> bytes | None:
        value = self._db(key).get(key)
        return None if value is None else bytes(value)

    def _del(self, key: bytes) -> None:
        self._db(key).delete(key)

    def _contains(self, key: bytes) -> bool:
        db = self._db(key)
        return bool(db.key_may_exist(key)) and db.get(key) is not None


STORES.aliases[SCHEME] = f"{__name__}:RocksDBStore"


def claim(tabledir: Path) -> bool:
    """Mark *tabledir* in use by this worker; first, if the last worker on it did not stop
    cleanly, empty it so that every table is recovered from its changelog. Whether it was emptied.

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> claim(d), claim(d)  # the second finds the first's mark: as after a kill -9
    (False, True)
    >>> release(d); claim(d)
    False
    """
    mark = tabledir / IN_USE
    discarded = mark.exists()
    if discarded:
        log.warning("the last worker on %s did not stop cleanly: its tables there are discarded and "
                    "recovered from their changelogs", tabledir)
        shutil.rmtree(tabledir)
    tabledir.mkdir(parents=True, exist_ok=True)
    mark.touch()
    return discarded


def release(tabledir: Path) -> None:
    """After a clean stop (the hand-over's checkpoint written): the tables on disk are the committed ones."""
    (tabledir / IN_USE).unlink(missing_ok=True)


def on_disk(url: str) -> bool:
    """Whether ``EARLYWARN_STORE`` *url* keeps the tables on disk (``rocksdb://``)."""
    return URL(url).scheme == "rocksdb"


def table_store(url: str) -> tuple[str, dict[str, Any]]:
    """The store URL and options earlywarn's tables use for ``EARLYWARN_STORE`` *url*.

    >>> table_store("memory://")
    ('memory://', {})
    >>> table_store("rocksdb://")[0]
    'earlywarn-rocksdb://'
    """
    if on_disk(url):
        return SCHEME + url[len("rocksdb"):], dict(OPTIONS)
    return url, {}
