"""Keyword subscriptions (靶向词片订制推送): which subscriptions a ticket or an alert matches.

Staff subscribe to a term, a firm, a product or a district, each with a receiver. This
module is the pure part: a :class:`Watchlist` built from the subscriptions answers, for a
batch of tickets or one alert event, which subscriptions match and by which words, and
:func:`ticket_match` / :func:`alert_match` make the ``subscription_match`` event that is
pushed. Storage (Redis), reloading and delivery live in ``alerts.notify.subscriptions``.

How each kind matches:

- ``term``: the word anywhere in the ticket's title or narrative (one Aho-Corasick pass,
  ``pyahocorasick``, over all subscribed words at once); in an alert, its subject, top
  terms or summary.
- ``firm``: a unified social credit code matches that code exactly; a name matches any
  firm whose normalised name contains it (某健身 matches 某健身（浦东店）).
- ``product``: contained in the normalised product name or category.
- ``district``: the 6-digit code (a Shanghai district's name is turned into its code).

A ticket match carries the ticket id, firm, district, the matched words and an excerpt of
the narrative around the first matched word with phone numbers, id numbers, e-mail
addresses, the complainant's own name and name-shaped tokens masked (the same rules that
keep names out of terms, :mod:`detectors.names`): never the complainant's phone, id or
name (the fields ``streams.deadletter`` treats as personal are not read at all).

>>> subs = [Sub("s1", "term", "跑路", "duty"), Sub("s2", "firm", "某健身", "duty"),
...         Sub("s3", "district", "310115", "pudong")]
>>> w = Watchlist(subs)
>>> t = dict(ticket_id="T1", received_at="2026-03-04T09:00:00+08:00", district_code="310115",
...          firm_name="某健身（浦东店）", content="老板跑路了，我叫张伟，电话13800138000，要求退费。",
...          complainant_name="张伟")
>>> [(s.id, words) for s, words in w.match_ticket(t)]
[('s1', ('跑路',)), ('s2', ('某健身',)), ('s3', ('310115',))]
>>> ev = ticket_match(subs[0], ("跑路",), t)
>>> ev["type"], ev["match"]["excerpt"]
('subscription_match', '老板跑路了，我叫＊＊，电话＊＊＊＊＊＊＊＊＊＊＊，要求退费。')
>>> "13800138000" in str(ev) or "张伟" in str(ev)
False
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import ahocorasick

from detectors.names import COMPOUND_SURNAMES, GIVEN_NAME_CHARS, SINGLE_SURNAMES, Names
from schemas.normalise import firm_key, normalise_name
from schemas.regions import SHANGHAI_DISTRICTS, district_name

KINDS = ("term", "firm", "product", "district")
EXCERPT_CHARS = 80  # around the first matched word: enough to judge, too little to carry a whole story
_DISTRICT_BY_NAME = {name: code for code, name in SHANGHAI_DISTRICTS.items()}
# Phone and id numbers, bank cards, QQ numbers: any run of 5+ digits (with the separators
# people type); an 18-character id may end in X. E-mail addresses whole.
_NUMBERS = re.compile(r"(?:\+?\d[\d\s\-－—]{3,}\d[xX]?)|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_MASK = "＊"
_FIELDS = ("title", "content", "firm_id", "firm_name", "product_name", "product_category", "district_code")
_fields = attrgetter(*_FIELDS)
MEMO_MAX = 100_000  # distinct firm and product names whose matches a watchlist remembers
_GIVEN = re.compile("[\u4e00-\u9fff]{1,2}")
_SURNAMES = SINGLE_SURNAMES | COMPOUND_SURNAMES


@dataclass(frozen=True)
class Sub:
    """One subscription: *kind* (term, firm, product or district), its *value*, who hears it."""

    id: str
    kind: str
    value: str
    receiver: str
    who: str = ""
    created_at: float = 0.0

    @property
    def label(self) -> str:
        return district_name(self.value) if self.kind == "district" else self.value


def check(kind: str, value: str) -> str:
    """The value a subscription is stored with; ValueError saying what is wrong.

    >>> check("district", "浦东新区"), check("firm", " 91310115ma1k3abcdm "), check("term", " 预付卡 ")
    ('310115', '91310115MA1K3ABCDM', '预付卡')
    >>> check("term", "卡")
    Traceback (most recent call last):
    ...
    ValueError: a term needs at least 2 characters (one character matches nearly every narrative)
    """
    value = value.strip()
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "district":
        code = _DISTRICT_BY_NAME.get(value, value)
        if not re.fullmatch(r"\d{6}", code):
            raise ValueError(f"district {value!r}: give a 6-digit code (310115) or a Shanghai district's name")
        return code
    if kind == "firm":
        key = firm_key(value, None)
        if key is not None:
            return key  # a valid credit code
    if len(value) < 2:
        raise ValueError(f"a {kind} needs at least 2 characters (one character matches nearly every narrative)")
    return value


def _automaton(words: Mapping[str, list[Sub]]) -> ahocorasick.Automaton | None:
    if not words:
        return None
    a = ahocorasick.Automaton()
    for word, subs in words.items():
        a.add_word(word, (word, tuple(subs)))
    a.make_automaton()
    return a


def _found(a: ahocorasick.Automaton | None, text: str, out: dict[Sub, list[str]]) -> None:
    if a is None or not text:
        return
    for _, (word, subs) in a.iter(text):
        for s in subs:
            words = out.setdefault(s, [])
            if word not in words:
                words.append(word)


class Watchlist:
    """The subscriptions, compiled for matching; immutable (build a new one on a change), but
    for what it remembers of the names it has matched (a dict: threads may share it)."""

    def __init__(self, subs: Iterable[Sub]) -> None:
        self.subs = tuple(subs)
        terms: dict[str, list[Sub]] = {}
        names: dict[str, list[Sub]] = {}
        products: dict[str, list[Sub]] = {}
        self._codes: dict[str, list[Sub]] = {}
        self._districts: dict[str, list[Sub]] = {}
        for s in self.subs:
            if s.kind == "term":
                terms.setdefault(s.value.lower(), []).append(s)
            elif s.kind == "firm" and firm_key(s.value, None) == s.value:
                self._codes.setdefault(s.value, []).append(s)
            elif s.kind == "firm":
                names.setdefault(normalise_name(s.value), []).append(s)
            elif s.kind == "product":
                products.setdefault(normalise_name(s.value), []).append(s)
            elif s.kind == "district":
                self._districts.setdefault(s.value, []).append(s)
        self._terms, self._names, self._products = _automaton(terms), _automaton(names), _automaton(products)
        self._memo: dict[tuple[int, str], tuple[tuple[Sub, tuple[str, ...]], ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.subs)

    def match_ticket(self, t: Mapping[str, Any] | Any) -> list[tuple[Sub, tuple[str, ...]]]:
        """The subscriptions ticket *t* (a ``Ticket`` or a mapping of its fields) matches, with the words.

        Ingest calls this on every ticket, so it reads each field once and works only for
        the kinds subscribed; firm and product names repeat (a few thousand firms, a hundred
        products), so what a name matches is worked out once and remembered.
        """
        if isinstance(t, Mapping):
            title, content, firm_id, firm, product, category, district = (t.get(f) for f in _FIELDS)
        else:
            title, content, firm_id, firm, product, category, district = _fields(t)
        out: dict[Sub, list[str]] = {}
        if self._terms is not None:
            _found(self._terms, (f"{title}。{content or ''}" if title else content or "").lower(), out)
        if self._codes and firm_id:
            # The keys are valid codes, so the ticket's code normalised as firm_key does it is enough.
            for s in self._codes.get(unicodedata.normalize("NFKC", firm_id).strip().upper(), ()):
                out.setdefault(s, []).append(s.value)
        if self._names is not None and firm:
            self._remembered(self._names, firm, out)
        if self._products is not None:
            if product:
                self._remembered(self._products, product, out)
            if category:
                self._remembered(self._products, category, out)
        if self._districts and district:
            for s in self._districts.get(district, ()):
                out.setdefault(s, []).append(s.value)
        if not out:
            return []
        return [(s, tuple(words)) for s, words in sorted(out.items(), key=lambda kv: kv[0].id)]

    def _remembered(self, a: ahocorasick.Automaton, name: str, out: dict[Sub, list[str]]) -> None:
        """*name*'s matches in *a* (normalised as firm keys are), looked up once per distinct name."""
        memo = self._memo
        found = memo.get((id(a), name))
        if found is None:
            got: dict[Sub, list[str]] = {}
            _found(a, normalise_name(name), got)
            found = tuple((s, tuple(words)) for s, words in got.items())
            if len(memo) >= MEMO_MAX:
                memo.clear()  # names are a Zipf head and a long tail: starting over costs little
            memo[(id(a), name)] = found
        for s, words in found:
            have = out.setdefault(s, [])
            have.extend(w for w in words if w not in have)

    def match_alert(self, ev: Mapping[str, Any]) -> list[tuple[Sub, tuple[str, ...]]]:
        """The subscriptions an alert event (contract v1) matches, with the words."""
        subject = ev.get("subject") or {}
        dim, key, label = subject.get("dimension", ""), str(subject.get("key", "")), str(subject.get("label", ""))
        out: dict[Sub, list[str]] = {}
        if self._terms is not None:
            text = "\n".join([label, *(ev.get("top_terms") or ()), ev.get("summary") or ""]).lower()
            _found(self._terms, text, out)
        if dim in ("firm", "firm_issue"):
            for s in self._codes.get(key.partition("|")[0], ()):
                out.setdefault(s, []).append(s.value)
            _found(self._names, normalise_name(label), out)
        if dim == "product" and self._products is not None:
            _found(self._products, normalise_name(label), out)
        for s in self._districts.get(ev.get("district_code") or "", ()):
            out.setdefault(s, []).append(s.value)
        return [(s, tuple(words)) for s, words in sorted(out.items(), key=lambda kv: kv[0].id)]


# ---- masking ----------------------------------------------------------------------------

def mask(text: str, *, own_name: str | None = None, cut: Callable[[str], list[str]] | None = None,
         names: Names | None = None, shaped: Callable[[str], bool] | None = None) -> str:
    """*text* with numbers of 5+ digits, e-mail addresses, *own_name* and, given a segmenter's
    *cut* and *names*, name-shaped tokens replaced by ＊ (one per character). *shaped* stands
    in for ``names.shaped`` (a copy that remembers its answers: tokens repeat across narratives).

    >>> mask("王先生说身份证310110199001011234，邮箱 a.b@x.cn", own_name="王五")
    '王先生说身份证＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊，邮箱 ＊＊＊＊＊＊＊＊'
    """
    text = _NUMBERS.sub(lambda m: _MASK * len(m.group()), text)
    name = (own_name or "").strip()
    if len(name) >= 2:
        text = text.replace(name, _MASK * len(name))
    if cut is not None and names is not None:
        tokens = cut(text)
        context = names.in_context(tokens)
        shaped = shaped or names.shaped
        hidden = [tok in context or shaped(tok) for tok in tokens]
        for i in [i for i, tok in enumerate(tokens[:-1]) if tok in _SURNAMES]:
            # A surname jieba cut off on its own (袁 + 怡悦): with a next token that could be a
            # given name, both go. Excerpts are read by people: here masking too much is the safe side.
            if _GIVEN.fullmatch(nxt := tokens[i + 1]) and GIVEN_NAME_CHARS.issuperset(nxt):
                hidden[i] = hidden[i + 1] = True
        if not any(hidden):
            return text
        if "".join(tokens) == text:
            text = "".join(_MASK * len(tok) if h else tok for tok, h in zip(tokens, hidden))
        else:  # a segmenter that drops characters: replace the words instead
            for tok in sorted({tok for tok, h in zip(tokens, hidden) if h}, key=len, reverse=True):
                text = text.replace(tok, _MASK * len(tok))
    return text


def excerpt(text: str, words: Sequence[str], chars: int = EXCERPT_CHARS) -> str:
    """About *chars* characters of *text* around the first of *words* it holds (else its start).

    >>> excerpt("一二三四五六七八九十跑路了", ["跑路"], chars=6)
    '…八九十跑路了'
    """
    low = text.lower()
    at = min((i for i in (low.find(w.lower()) for w in words) if i >= 0), default=0)
    start = max(0, min(at - chars // 2, len(text) - chars))
    end = min(len(text), start + chars)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


# ---- the pushed events ------------------------------------------------------------------

def _id(*parts: str) -> str:
    return "sm-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _event(sub: Sub, match_id: str, raised_at: str, district: str | None, words: Sequence[str], summary: str,
           match: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"alert_id": match_id, "schema_version": "1", "type": "subscription_match", "status": "open",
            "severity": "info", "subject": {"dimension": sub.kind, "key": sub.value, "label": sub.label},
            "district_code": district, "window_start": raised_at, "window_end": raised_at, "raised_at": raised_at,
            "top_terms": list(words), "summary": summary,
            "subscription": {"id": sub.id, "kind": sub.kind, "value": sub.value, "who": sub.who},
            "match": match, **rest}


def ticket_match(sub: Sub, words: Sequence[str], t: Mapping[str, Any] | Any, *,
                 cut: Callable[[str], list[str]] | None = None, names: Names | None = None,
                 shaped: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """The ``subscription_match`` event for ticket *t*: id, firm, district, words, a masked excerpt
    (:func:`mask` with *cut*, *names* and *shaped*)."""
    get: Callable[[str], Any] = t.get if isinstance(t, Mapping) else lambda f: getattr(t, f, None)
    title, content = get("title"), get("content") or ""
    text = f"{title}。{content}" if title else content
    # Mask the whole narrative before cutting the excerpt, so a number or name on the cut's edge goes too.
    shown = excerpt(mask(text, own_name=get("complainant_name"), cut=cut, names=names, shaped=shaped), words)
    district = get("district_code")
    firm = (get("firm_name") or "").strip() or None
    tid = str(get("ticket_id"))
    summary = (f"订阅“{sub.label}”命中工单{tid}" + (f"（{firm}" if firm else "（")
               + (f"，{district_name(district)}）" if district else "）") + f"，命中：{'、'.join(words)}。{shown}")
    return _event(sub, _id(sub.id, "t", tid), str(get("received_at") or ""), district, words, summary,
                  {"source": "ticket", "ticket_id": tid, "firm": firm, "district_code": district,
                   "words": list(words), "excerpt": shown},
                  ticket_ids=[tid], observed=1, expected=0, score=0, distinct_complainants=1)


def alert_match(sub: Sub, words: Sequence[str], ev: Mapping[str, Any]) -> dict[str, Any]:
    """The ``subscription_match`` event for alert event *ev* (one per alert, status and severity)."""
    subject = ev.get("subject") or {}
    summary = f"订阅“{sub.label}”命中预警：{ev.get('summary') or subject.get('label', '')}"
    return _event(sub, _id(sub.id, "a", str(ev["alert_id"]), str(ev.get("status")), str(ev.get("severity"))),
                  str(ev.get("raised_at") or ""), ev.get("district_code"), words, summary,
                  {"source": "alert", "alert_id": ev["alert_id"], "alert_type": ev.get("type"),
                   "status": ev.get("status"), "severity": ev.get("severity"),
                   "firm": subject.get("label") if subject.get("dimension") in ("firm", "firm_issue") else None,
                   "district_code": ev.get("district_code"), "words": list(words)},
                  ticket_ids=list(ev.get("ticket_ids") or ())[:20], observed=ev.get("observed", 0),
                  expected=ev.get("expected", 0), score=ev.get("score", 0),
                  distinct_complainants=ev.get("distinct_complainants", 0))
