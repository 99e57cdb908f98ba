"""Where a partition's key states live: the store interface the engine talks to, and two stores.

The engine (``detectors.partition``) asks its store for a key's state, marks the states it
changed, and cuts keys it has forgotten down to stubs; it knows nothing of how states are
held or persisted. ``MemoryStore`` keeps everything in this process (``earlywarn
detect``); ``TableStore`` also loads a key from a persisted table the first time it is
asked for (the stream's changelogged state table) and hands over what to write back.

A stub is what a key cut down keeps: (label, district, category, peer rate), ``KeyState``'s
own field order after its dimension and key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from detectors.windows import KeyState
from detectors.wire import decode_key, encode_key, split_table_key

Stub = tuple[str, str, str, float | None]


class KeyStore(Protocol):
    """What the engine needs of a store. ``states`` and ``dirty`` are plain containers on
    purpose: the engine's per-key loop reads and marks them without a call."""

    states: dict[str, KeyState]  # table key -> state, those in memory
    dirty: set[str]  # table keys changed since the last take_dirty
    stubs: dict[str, Stub]  # table key -> stub, of keys cut down (see cut)

    def get(self, tk: str, dim: str = "", key: str = "") -> KeyState:
        """The key's state: in memory, else loaded, else grown from its stub, else new."""
        ...

    def cut(self, tk: str) -> None:
        """Cut a key in memory down to its stub: its state leaves memory."""
        ...

    def take_dirty(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(table key, stored form) of the states changed since the last call (stored forms:
        ``detectors.wire.encode_key``), stub states for keys cut down, by table key in order.
        Each is encoded as it is taken: a commit holds one key's stored form at a time."""
        ...


class MemoryStore:
    """Every state in memory, for good (offline: nothing to load from; a stub stays a stub until its key returns)."""

    def __init__(self) -> None:
        self.states: dict[str, KeyState] = {}
        self.dirty: set[str] = set()
        self.stubs: dict[str, Stub] = {}
        self._stubbed: set[str] = set()  # cut since the last take_dirty

    def _load(self, tk: str) -> dict[str, Any] | None:
        return None

    def _handed_over(self, tk: str) -> Stub:
        """A cut key's stub, for take_dirty: kept, here."""
        return self.stubs[tk]

    def get(self, tk: str, dim: str = "", key: str = "") -> KeyState:
        s = self.states.get(tk)
        if s is None:
            stub = self.stubs.pop(tk, ())
            raw = None if stub else self._load(tk)
            if raw is not None:
                s = decode_key(raw)
            else:
                if not dim:
                    dim, key = split_table_key(tk)
                s = KeyState(dim, key, *stub)
            self.states[tk] = s
        return s

    def cut(self, tk: str) -> None:
        s = self.states.pop(tk)
        self.stubs[tk] = (s.label, s.district, s.category, s.peer)
        self.dirty.discard(tk)
        self._stubbed.add(tk)

    def take_dirty(self) -> Iterator[tuple[str, dict[str, Any]]]:
        # Lazily: in a replay nearly every key is dirty at each commit, and their stored forms
        # all at once were a second copy of the engine's state (most of a worker's peak).
        changed, stubbed = sorted(self.dirty | self._stubbed), self._stubbed - self.dirty
        self.dirty.clear()
        self._stubbed.clear()
        return self._encoded(changed, stubbed)

    def _encoded(self, changed: list[str], stubbed: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        for tk in changed:
            if tk in stubbed:
                yield tk, encode_key(KeyState(*split_table_key(tk), *self._handed_over(tk)))
            else:
                yield tk, encode_key(self.states[tk])


class TableStore(MemoryStore):
    """States loaded from a table when first asked for; stubs held only until handed over,
    after which the table holds them.

    *load* gives a table key's stored state (``encode_key`` form) or None.
    """

    def __init__(self, load: Callable[[str], dict[str, Any] | None]) -> None:
        super().__init__()
        self._loader = load

    def _load(self, tk: str) -> dict[str, Any] | None:
        return self._loader(tk)

    def _handed_over(self, tk: str) -> Stub:
        return self.stubs.pop(tk)


__all__ = ["KeyStore", "MemoryStore", "Stub", "TableStore"]
