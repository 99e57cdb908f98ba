"""Templated narratives: the same claim swept across firms, found as near-duplicates with datasketch MinHash LSH.

A narrative, with the firm's and product's names blanked, digits folded and NFKC
applied, is cut into character 3-grams (:func:`shingles`) and summarised by a datasketch
``MinHash``; a ``MinHashLSH`` finds candidate near-duplicates, and a candidate pair
becomes an edge only when it passes a recheck on the two signatures and names two
different firms (:class:`TemplateIndex`). The abnormal-complainant judge
(``detectors.complainants``) reads the clusters; see its docstring for why the result
depends only on the set of tickets.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable

from datasketch import MinHash, MinHashLSH

from detectors.datafiles import norm

_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_MASK = "□"


def shingles(text: str, masks: Iterable[str] = ()) -> list[bytes]:
    """Character 3-grams of a narrative with names blanked and digits folded, sorted.

    >>> shingles("甲店售价12元", masks=("甲店",)) == shingles("乙店售价345元", masks=("乙店",))
    True
    """
    t = norm(text)
    for m in sorted({norm(m) for m in masks if m and m.strip()}, key=len, reverse=True):
        t = t.replace(m, _MASK)
    t = _SPACE.sub("", _DIGITS.sub("0", t))
    grams = {t[i:i + 3] for i in range(max(1, len(t) - 2))}
    return sorted(g.encode("utf-8") for g in grams)



class TemplateIndex:
    """Near-duplicate narratives across firms: MinHash LSH candidates, rechecked, as a graph.

    Parameters
    ----------
    threshold
        Estimated Jaccard similarity (3-gram sets) at which two narratives are one template.
    num_perm
        MinHash permutations (64: ~0.06 standard error on the estimate near 0.5).
    """

    def __init__(self, *, threshold: float = 0.5, num_perm: int = 64) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        # Permutations drawn once (datasketch would redraw them for every MinHash), and
        # CRC-32 for the 3-grams: both fixed functions, so a signature depends only on its text.
        first = MinHash(num_perm=num_perm, seed=1, hashfunc=zlib.crc32)
        self._perm, self._scheme = first.permutations, first.scheme
        self._sig: dict[str, MinHash] = {}
        self._firm: dict[str, str | None] = {}
        self._edges: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._sig)

    def __contains__(self, ticket_id: str) -> bool:
        return ticket_id in self._sig

    def add(self, ticket_id: str, firm: str | None, grams: list[bytes]) -> None:
        """Index one narrative (its 3-grams); a ticket id already indexed is ignored."""
        if ticket_id in self._sig:
            return
        m = MinHash(num_perm=self.num_perm, seed=1, hashfunc=zlib.crc32, permutations=self._perm,
                    scheme=self._scheme)
        m.update_batch(grams)
        self.add_signature(ticket_id, firm, m)

    def add_signature(self, ticket_id: str, firm: str | None, m: MinHash) -> None:
        """Index a signature made elsewhere (another partition's): the same as :meth:`add`."""
        if ticket_id in self._sig:
            return
        for other in self._lsh.query(m):
            if self._firm[other] != firm and m.jaccard(self._sig[other]) >= self.threshold:
                self._edges.setdefault(ticket_id, set()).add(other)
                self._edges.setdefault(other, set()).add(ticket_id)
        self._lsh.insert(ticket_id, m)
        self._sig[ticket_id] = m
        self._firm[ticket_id] = firm

    def signatures(self) -> dict[str, tuple[str | None, MinHash]]:
        return {t: (self._firm[t], m) for t, m in self._sig.items()}

    def remove(self, ticket_id: str) -> None:
        if ticket_id not in self._sig:
            return
        self._lsh.remove(ticket_id)
        del self._sig[ticket_id], self._firm[ticket_id]
        for other in self._edges.pop(ticket_id, ()):
            peers = self._edges.get(other)
            if peers is not None:
                peers.discard(ticket_id)
                if not peers:
                    del self._edges[other]

    def neighbours(self, ticket_id: str) -> set[str]:
        return self._edges.get(ticket_id, set())

    def clusters(self, keep: Callable[[str], bool] = lambda _t: True) -> list[tuple[str, ...]]:
        """Connected components (two tickets or more) among the tickets *keep* admits, each sorted, in order."""
        seen: set[str] = set()
        out = []
        for start in sorted(self._edges):
            if start in seen or not keep(start):
                continue
            comp, stack = [], [start]
            seen.add(start)
            while stack:
                t = stack.pop()
                comp.append(t)
                for o in self._edges.get(t, ()):
                    if o not in seen and keep(o):
                        seen.add(o)
                        stack.append(o)
            if len(comp) > 1:
                out.append(tuple(sorted(comp)))
        return out

    def firm_of(self, ticket_id: str) -> str | None:
        return self._firm.get(ticket_id)
