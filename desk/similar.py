"""Similar cases (类案推送): the past alerts most like an alert, the past tickets most like a ticket.

Similarity is the Jaccard similarity of two documents' token sets, estimated by datasketch
``MinHash`` signatures (64 permutations, CRC-32 of the tokens, drawn once, so a signature
depends only on its document; ~0.06 standard error near 0.5). A document is:

- its **text** as character 3-grams with digits folded (``detectors.templates.shingles``,
  the templated-narrative detector's): an alert's label, summary and top terms; a ticket's
  masked title and narrative;
- its **firm, product and issue**, each as ``FIELD_WEIGHT`` tokens (``firm=<key>#0`` …),
  so that sharing one weighs as much as sharing ten 3-grams of text (a short phrase): a
  past case at the same firm or about the same issue ranks above an unrelated text that
  merely shares boilerplate.

Cases below ``MIN_SIMILARITY`` are not shown. Ranking compares one signature with every candidate's at once (datasketch's estimate,
``count(equal hash values) / 64``, over a matrix of signatures): exact over the
signatures, a few milliseconds for 10^5 of them, and no LSH tables (which at a low
threshold cost ~7 KB a document). Alert signatures are made in the desk process from the
alert store and cached by (alert, current ``raised_at``); ticket signatures are made once,
when the desk reads the ticket (``desk.tickets``), and kept in Redis beside its display
record, for the days tickets are kept.

>>> a = signature(alert_tokens({"subject": {"dimension": "firm", "key": "F1", "label": "某健身"},
...                             "summary": "闭店无法退费", "top_terms": ["退费"]}))
>>> b = signature(alert_tokens({"subject": {"dimension": "firm_issue", "key": "F1|退费", "label": "某健身·退费"},
...                             "summary": "闭店后拒绝退费", "top_terms": ["退费"]}))
>>> c = signature(alert_tokens({"subject": {"dimension": "product", "key": "奶粉", "label": "奶粉"},
...                             "summary": "奶粉有异物", "top_terms": ["异物"]}))
>>> float((a == b).mean()) > 0.3 > float((a == c).mean())
True
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from datasketch import MinHash

from detectors.templates import shingles

NUM_PERM = 64
FIELD_WEIGHT = 10
# Below this, two cases share little more than the wording every alert summary or hotline
# narrative has (【…预警】, 消费者反映…): 6-9 % between unrelated alerts here. Not shown.
MIN_SIMILARITY = 0.15
_FIRST = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=zlib.crc32)


def signature(tokens: Iterable[bytes]) -> np.ndarray:
    """The MinHash signature (uint32 hash values) of a token set."""
    m = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=zlib.crc32, permutations=_FIRST.permutations,
                scheme=_FIRST.scheme)
    m.update_batch(list(tokens))
    return m.hashvalues.astype(np.uint32)


def _facet_tokens(facets: dict[str, str | None]) -> list[bytes]:
    return [f"{name}={value}#{i}".encode() for name, value in facets.items() if value for i in range(FIELD_WEIGHT)]


def alert_facets(alert: dict[str, Any]) -> dict[str, str | None]:
    """The firm, product and issue an alert is about, where it says."""
    s = alert.get("subject") or {}
    dim, key = s.get("dimension"), str(s.get("key", ""))
    firm = key.rpartition("|")[0] if dim == "firm_issue" else key if dim == "firm" else None
    issue = key.rpartition("|")[2] if dim == "firm_issue" else key if dim == "issue" else alert.get("top_issue")
    product = key if dim == "product" else None
    return {"firm": firm, "product": product, "issue": issue}


def alert_tokens(alert: dict[str, Any]) -> list[bytes]:
    s = alert.get("subject") or {}
    text = "。".join([str(s.get("label", "")), str(alert.get("summary", "")), " ".join(alert.get("top_terms") or ())])
    return shingles(text) + _facet_tokens(alert_facets(alert))


def ticket_facets(rec: dict[str, Any]) -> dict[str, str | None]:
    return {"firm": rec.get("firm_key"), "product": rec.get("product_name") or rec.get("product_category"),
            "issue": rec.get("issue_category")}


def ticket_tokens(rec: dict[str, Any]) -> list[bytes]:
    text = "。".join(x for x in (rec.get("title"), rec.get("content")) if x)
    return shingles(text) + _facet_tokens(ticket_facets(rec))


def same(a: dict[str, str | None], b: dict[str, str | None]) -> list[str]:
    """The facets two documents share (shown beside a similar case: 同一经营者 …)."""
    return [k for k in ("firm", "product", "issue") if a.get(k) and a.get(k) == b.get(k)]


def rank(sig: np.ndarray, ids: Sequence[str], matrix: np.ndarray, k: int,
         keep: Callable[[str], bool] = lambda _i: True) -> list[tuple[str, float]]:
    """The *k* ids whose signatures are most like *sig* (estimated Jaccard, ties by id), among those *keep* admits."""
    if not len(ids):
        return []
    scores = (matrix == sig).mean(axis=1)
    out: list[tuple[str, float]] = []
    for i in np.argsort(-scores, kind="stable"):  # ids come sorted: ties by id
        if scores[i] < MIN_SIMILARITY:
            break
        if keep(ids[i]):
            out.append((ids[i], round(float(scores[i]), 3)))
            if len(out) == k:
                break
    return out


class AlertSignatures:
    """Signatures of every alert in the store, kept in step with it (one per desk process, thread-safe)."""

    def __init__(self, store: Any, min_interval: float = 5.0) -> None:
        self.store = store
        self.min_interval = min_interval  # a burst of requests syncs once
        self._lock = threading.Lock()
        self._synced = float("-inf")
        self._sig: dict[str, tuple[float, np.ndarray]] = {}
        self._ids: list[str] = []
        self._matrix = np.zeros((0, NUM_PERM), np.uint32)
        self.raised: dict[str, float] = {}

    def sync(self) -> None:
        with self._lock:
            if time.monotonic() - self._synced < self.min_interval:
                return
            now = {m.decode(): score for m, score in self.store.r.zrange(self.store.key("by_time"), 0, -1,
                                                                            withscores=True)}
            stale = [a for a, score in now.items() if a not in self._sig or self._sig[a][0] != score]
            for start in range(0, len(stale), 500):
                for ev in self.store.many(stale[start:start + 500]):
                    self._sig[ev["alert_id"]] = (now[ev["alert_id"]], signature(alert_tokens(ev)))
            for gone in self._sig.keys() - now.keys():
                del self._sig[gone]
            self._ids = sorted(self._sig)
            self._matrix = np.array([self._sig[a][1] for a in self._ids], np.uint32).reshape(-1, NUM_PERM)
            self.raised = now
            self._synced = time.monotonic()

    def similar(self, alert: dict[str, Any], k: int, keep: Callable[[str], bool]) -> list[tuple[str, float]]:
        self.sync()
        aid = alert["alert_id"]
        cached = self._sig.get(aid)
        sig = cached[1] if cached is not None else signature(alert_tokens(alert))
        upto = self.raised.get(aid, float("inf"))
        return rank(sig, self._ids, self._matrix, k,
                    lambda other: other != aid and self.raised.get(other, upto) <= upto and keep(other))


class TicketSignatures:
    """The signatures of the tickets the desk keeps (``desk.tickets``), loaded from Redis in step with it."""

    def __init__(self, tickets: Any, min_interval: float = 10.0) -> None:
        self.tickets = tickets
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._synced = float("-inf")
        self._ids: list[str] = []
        self._matrix = np.zeros((0, NUM_PERM), np.uint32)
        self.received: dict[str, float] = {}

    def sync(self) -> None:
        with self._lock:
            if time.monotonic() - self._synced < self.min_interval:
                return
            r = self.tickets.r
            now = {m.decode(): score for m, score in r.zrange(self.tickets.by_time, 0, -1, withscores=True)}
            had = dict(zip(self._ids, self._matrix, strict=True))
            missing = [t for t in now if t not in had]
            for start in range(0, len(missing), 2000):
                chunk = missing[start:start + 2000]
                for t, raw in zip(chunk, r.hmget(self.tickets.signatures, chunk), strict=True):
                    if raw:
                        had[t] = np.frombuffer(raw, np.uint32)
            self._ids = sorted(t for t in had if t in now)
            self._matrix = np.array([had[t] for t in self._ids], np.uint32).reshape(-1, NUM_PERM)
            self.received = now
            self._synced = time.monotonic()

    def similar(self, rec: dict[str, Any], k: int, keep: Callable[[str], bool]) -> list[tuple[str, float]]:
        self.sync()
        tid = rec["ticket_id"]
        sig = signature(ticket_tokens(rec))
        upto = self.received.get(tid, float("inf"))
        return rank(sig, self._ids, self._matrix, k,
                    lambda other: other != tid and self.received.get(other, upto) <= upto and keep(other))

    def nbytes(self) -> int:
        return int(self._matrix.nbytes)


class SimilarCases:
    """What the desk shows as 类案推送: similar past alerts with how they were handled, similar past tickets.

    Both respect the reader's districts (a district officer sees cases of their districts only).
    """

    def __init__(self, desk: Any, min_interval: float = 5.0) -> None:
        self.desk = desk
        self.alerts = AlertSignatures(desk.store, min_interval)
        self.tickets = TicketSignatures(desk.tickets, min_interval)

    def handled(self, alert_id: str) -> dict[str, Any]:
        """How an alert was handled: verdict, acknowledgement, assignment, tasks and their results."""
        d = self.desk
        state = d.state(alert_id)
        ack = d.silences.acks([alert_id]).get(alert_id)
        verdict, assignment = state.get("verdict"), state.get("assignment")
        return {"verdict": verdict["verdict"] if verdict else None, "verdict_reason": verdict["reason"] if verdict else None,
                "acknowledged_by": ack.who if ack else None, "assignee": assignment["assignee"] if assignment else None,
                "tasks": int(d.r.hlen(d.key("tasks", alert_id))),
                "results": [x["result"]["outcome"] for x in d.results.of_alert(alert_id)]}

    def for_alert(self, user: Any, alert_id: str, k: int = 5) -> list[dict[str, Any]]:
        alert = self.desk.alert_for(user, alert_id)
        hits = self.alerts.similar(alert, k * 4 if user.districts else k, lambda _a: True)
        found = {a["alert_id"]: a for a in self.desk.store.many([h for h, _ in hits])}
        facets = alert_facets(alert)
        out = []
        for aid, score in hits:
            other = found.get(aid)
            if other is None or not user.sees(other.get("district_code")):
                continue
            out.append({"alert": other, "similarity": score, "same": same(facets, alert_facets(other)),
                        "handled": self.handled(aid)})
            if len(out) == k:
                break
        return out

    def ticket(self, user: Any, ticket_id: str) -> dict[str, Any]:
        from desk.actions import Forbidden, NotFound

        rec = self.desk.tickets.get(ticket_id)
        if rec is None:
            raise NotFound(f"没有保留工单 {ticket_id} 的展示信息")
        if not user.sees(rec.get("district_code")):
            raise Forbidden("该工单不在您的辖区")
        return rec

    def for_ticket(self, user: Any, ticket_id: str, k: int = 5) -> list[dict[str, Any]]:
        rec = self.ticket(user, ticket_id)
        hits = self.tickets.similar(rec, k * 4 if user.districts else k, lambda _t: True)
        records = dict(zip([h for h, _ in hits], self.desk.tickets.many([h for h, _ in hits]), strict=True))
        facets = ticket_facets(rec)
        out = []
        for tid, score in hits:
            other = records.get(tid)
            if other is None or not user.sees(other.get("district_code")):
                continue
            out.append({"ticket": other, "similarity": score, "same": same(facets, ticket_facets(other))})
            if len(out) == k:
                break
        return out
