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

On the embedded broker, which tells a partition's end as the start of its last record
batch plus one (streams.checkpoint), a database that has read a changelog to its true
end finds its offset past that answer and Faust's recovery stops the worker
(``ConsistencyError``): a changelog must end with a record alone, as the checkpoint
writes at every hand-over. After a SIGKILL it may not, and the worker then has to start
on an empty data directory. Apache Kafka answers exactly and needs none of this.

RocksDB's own defaults are sized for one big database (Faust's: 64 MiB memtables, three
of them, a 2 GiB block cache, each per database); a worker opens one database per table
partition it holds (13 by default), so the options below keep each one small: what a
worker adds to its memory for the store is bounded by ``partitions × (write buffers +
block cache)``, whatever the number of keys.
"""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import murmur2
from faust.stores import STORES
from faust.stores import rocksdb as faust_rocksdb
from yarl import URL

SCHEME = "earlywarn-rocksdb"  # the store's name in Faust's registry (rocksdb:// in EARLYWARN_STORE)

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


def table_store(url: str) -> tuple[str, dict[str, Any]]:
    """The store URL and options earlywarn's tables use for ``EARLYWARN_STORE`` *url*.

    >>> table_store("memory://")
    ('memory://', {})
    >>> table_store("rocksdb://")[0]
    'earlywarn-rocksdb://'
    """
    if URL(url).scheme == "rocksdb":
        return SCHEME + url[len("rocksdb"):], dict(OPTIONS)
    return url, {}
