"""Hot-path text enrichment: segment a narrative once, at ingest, and pick its terms.

Every ticket's Chinese narrative is segmented exactly once when it enters the engine; the
terms chosen here travel downstream with the ticket (term dimension, alert ``top_terms``,
the Chinese summary). Pure-Python ``jieba.lcut`` costs more per ticket than a Faust message
(DESIGN, "Performance budget"), so :class:`Segmenter` segments with ``rjieba`` (the jieba-rs
binding) and keeps jieba as the reference:

- the dictionary is jieba's own ``jieba/dict.txt``, read from the installed jieba package
  and fed word by word to an empty ``rjieba.Jieba``, so no copy of it can drift;
- the domain dictionary ``data/domain_dict.txt`` is in jieba's user-dictionary format
  (``word freq [tag]``), the file ``jieba.load_userdict`` reads on the reference path;
- :func:`reference_cut` is ``jieba.lcut`` with the same dictionaries, and the tests show on
  ``data/text_corpus.txt`` (316 narratives) and on seeded random text that both segment
  identically, token for token, with HMM on and off, and that the terms computed from
  either token list are equal.

Three differences between jieba 0.42.1 and the jieba-rs 0.11 inside rjieba 0.2.2 had to be
closed for that identity; each is handled where it arises and covered by a test:

1. Frequency total. ``jieba.add_word`` adds a user word's frequency to the total even when
   the word is already in the dictionary (and jieba's loader counts the duplicated line
   ``B超`` twice); jieba-rs replaces the old frequency. Word probabilities are
   ``freq / total``, so near-ties could flip. The loader mirrors jieba's bookkeeping and
   adds the missing mass to a private-use sentinel word (U+E000) that no text block can
   ever reach.
2. Han range. jieba-rs also treats CJK extension A/B-F, compatibility ideographs and
   U+9FD6-U+9FFF as Han; jieba does not, and splits a block at such a character.
   :meth:`Segmenter.cut` splits at those characters before calling rjieba.
3. HMM number/latin runs. Inside an unknown-word run jieba splits ASCII with
   ``[a-zA-Z0-9]+(?:\\.\\d+)?%?``; jieba-rs 0.11 also joins runs across ``-``, ``_`` and
   ``.`` (``2024-03-05``, ``A-5``, ``1.5a``). Such tokens are re-split with jieba's pattern.

The two slow paths run only when a cheap regex finds a trigger in the text, so the common
case is a single rjieba call. The one restriction: a user-dictionary line must give an
explicit positive frequency (jieba derives a missing one through ``suggest_freq``, whose
float arithmetic differs between the two libraries, and treats 0 as "force split").

Terms (:meth:`Segmenter.terms`): tokens that are not stop words, contain a Han character,
are not a bare number or quantity (``五千元``, ``三个月``), are at least two characters long;
weighted by tf x idf with jieba's own IDF table (``jieba/analyse/idf.txt``, median for
unknown words, as ``jieba.analyse`` does), where domain-dictionary words get an idf above
the whole table so they outrank any other word seen as often; then up to ``max_phrases``
phrases made of two adjacent kept tokens ("闭店" + "跑路" -> "闭店跑路") ranked by the sum
of their weights. Ties keep text order.

Speed: ``python -m earlywarn.textbench`` measures ``terms``, ``cut`` and jieba's ``lcut``
on the test corpus (figures in docs/performance.md: ``terms`` ~10x faster than
``jieba.lcut``, ``cut`` ~25x). Picking terms touches each token once (one C-level ``map``
over a cache of token weights) and then loops in Python only over the tokens it keeps;
a Python loop over every token, ``Counter``/``compress`` passes and direct lookups in the
270k-entry IDF table were each slower.

Construction reads jieba's dictionary and IDF table (about 1.2 s, ~100 MB RSS); build one
:class:`Segmenter` per process and share it. After construction the only thing that changes
is a bounded cache of token weights, written with single ``dict`` stores whose value never
depends on who writes first, so concurrent ``cut``/``terms`` calls from threads are safe.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import compress
from pathlib import Path
from typing import IO, Any

import rjieba

from detectors.names import Names, starts_with_surname

__all__ = ["Segmenter", "reference_cut"]

PathLike = str | Path

# jieba.load_userdict's line grammar: "word[ freq][ tag]" (jieba/__init__.py, re_userdict).
_USER_DICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")

# Characters jieba-rs counts as Han but jieba does not (jieba: U+4E00-U+9FD5 only), widened
# to whole planes 2-3: splitting at a character jieba keeps out of its blocks anyway (and
# that is not whitespace) cannot change jieba's answer, and two plain ranges scan faster.
_SPLIT_CHARS = "\u3400-\u4dbf\u9fd6-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_RS_ONLY_HAN = re.compile(f"[{_SPLIT_CHARS}]")
_RS_ONLY_HAN_SPLIT = re.compile(f"([{_SPLIT_CHARS}])")
# Where jieba-rs's HMM splitter joins ASCII that jieba's keeps apart: across - or _, or
# across . when a letter or a second separator follows ("1.5" itself is the same in both).
_JOIN_TRIGGER = re.compile(r"[A-Za-z0-9](?:[-_][A-Za-z0-9]|\.[0-9]*[A-Za-z]|\.[0-9]+[-_.][A-Za-z0-9])")
_RS_JOINED_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)+%?")
# jieba/finalseg re_skip: how jieba splits ASCII inside an unknown-word run.
_JIEBA_HMM_SKIP = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")

# Never matched by jieba-rs's block regex, so it can carry frequency mass and nothing else.
_TOTAL_SENTINEL = "\ue000"

# Distinct tokens whose weights are remembered (~10 MB at the cap).
_MEMO_CAP = 1 << 16

_HAN = re.compile("[\u4e00-\u9fff]")
# Bare numbers and quantities: counting a ticket under "五千元" or "三个月" says nothing.
_QUANTITY = re.compile(
    "[0-9零〇一二三四五六七八九十百千万亿两几半多余第]+"
    "[个元块角年月日号天周次回位名人户家件台辆张份斤克吨岁时分秒层楼条把只双套盒瓶罐箱袋间节起例]*"
)


def _is_term_shaped(token: str) -> bool:
    """Could ``token`` be a term at all (before stop words and weights)?"""
    return len(token) >= 2 and _HAN.search(token) is not None and _QUANTITY.fullmatch(token) is None


def _jieba_data(name: str) -> Path:
    """A file shipped inside the jieba package, found without importing jieba.

    Importing jieba costs ~0.3 s and installs a stderr log handler; the hot path only needs
    its data files.
    """
    spec = importlib.util.find_spec("jieba")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("jieba is not installed; it ships the reference dictionary")
    return Path(next(iter(spec.submodule_search_locations))) / name


@contextmanager
def _open_bytes(source: PathLike | None, bundled: str) -> Iterator[IO[bytes]]:
    if source is None:
        with (importlib.resources.files("detectors") / "data" / bundled).open("rb") as f:
            yield f
    else:
        with open(source, "rb") as f:
            yield f


def _read_user_dict(source: PathLike | None) -> list[tuple[str, int, str | None]]:
    """Parse a user dictionary exactly as ``jieba.Tokenizer.load_userdict`` does."""
    with _open_bytes(source, "domain_dict.txt") as f:
        data = f.read()
    where = str(source) if source is not None else "domain_dict.txt"
    entries: list[tuple[str, int, str | None]] = []
    # Binary lines stripped of ASCII whitespace, then decoded: jieba's order, so a trailing
    # ideographic space (U+3000) stays part of the word on both paths.
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        line = raw.strip().decode("utf-8").lstrip("\ufeff")
        if not line:
            continue
        match = _USER_DICT_LINE.match(line)
        if match is None:  # pragma: no cover - the pattern matches any non-empty line
            raise ValueError(f"{where}:{lineno}: not a user-dictionary line: {line!r}")
        word, freq, tag = match.groups()
        if freq is None or int(freq) <= 0:
            raise ValueError(
                f"{where}:{lineno}: {word!r} needs an explicit positive frequency "
                "(jieba derives a missing one with float arithmetic rjieba does not share)"
            )
        entries.append((word, int(freq), tag.strip() if tag else None))
    return entries


def _read_words(source: PathLike | None, bundled: str) -> frozenset[str]:
    with _open_bytes(source, bundled) as f:
        text = f.read().decode("utf-8").lstrip("\ufeff")
    return frozenset(word for word in (line.strip() for line in text.splitlines()) if word)


@lru_cache(maxsize=None)
def domain_words(source: PathLike | None = None) -> frozenset[str]:
    """The words of the domain dictionary (the bundled one unless *source* is given)."""
    return frozenset(word for word, _, _ in _read_user_dict(source))


def _build_rjieba(user_entries: Sequence[tuple[str, int, str | None]]) -> tuple[rjieba.Jieba, Names]:
    """An rjieba instance holding jieba's dictionary plus the user words, with jieba's
    total; and the person-name screen that knows those words."""
    fields = _jieba_data("dict.txt").read_bytes().decode("utf-8").split()
    if len(fields) % 3:
        raise ValueError("jieba/dict.txt is not 'word freq tag' per line")
    words, freqs = fields[0::3], list(map(int, fields[1::3]))
    # Only the words a name could be confused with (those starting with a surname) are kept.
    names = Names(known={w: tag for w, tag in zip(words, fields[2::3]) if starts_with_surname(w)},
                  domain=(w for w, _, _ in user_entries))
    # jieba's total counts every line and every add_word call; jieba-rs keeps one
    # frequency per word. Track both and make up the difference at the end.
    jieba_total = sum(freqs)
    current = dict(zip(words, freqs))
    rs_total = sum(current.values())
    segmenter = rjieba.Jieba.empty()
    add = segmenter.add_word
    for word, freq in current.items():
        add(word, freq, None)
    for word, freq, tag in user_entries:
        jieba_total += freq
        rs_total += freq - current.get(word, 0)
        current[word] = freq
        add(word, freq, tag)
    if jieba_total > rs_total:
        add(_TOTAL_SENTINEL, jieba_total - rs_total, None)
    return segmenter, names


def _load_idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table and its median, as ``jieba.analyse.TFIDF`` loads them."""
    fields = _jieba_data("analyse/idf.txt").read_bytes().decode("utf-8").split()
    idf = dict(zip(fields[0::2], map(float, fields[1::2])))
    return idf, sorted(idf.values())[len(idf) // 2]


class Segmenter:
    """Segments narratives and picks the terms a ticket is counted under.

    Parameters
    ----------
    user_dict
        A jieba user dictionary (``word freq [tag]`` per line, explicit positive
        frequencies). Default: the bundled market-regulation dictionary.
    stop_words
        One word per line. Default: the bundled list (function words, hotline boilerplate).
    max_terms
        How many single-token terms :meth:`terms` returns at most.
    max_phrases
        How many two-token phrases :meth:`terms` appends at most.
    hmm
        Let jieba's HMM join unknown words, as ``jieba.lcut(HMM=True)`` does.

    Examples
    --------
    >>> seg = Segmenter()
    >>> text = ("消费者于3月在某健身房办理预付卡，充值5000元。上周门店突然闭店跑路，"
    ...         "商家拒绝退费，请求协调处理。")
    >>> seg.cut(text)[6:12]
    ['健身房', '办理', '预付卡', '，', '充值', '5000']
    >>> terms = seg.terms(text)
    >>> terms
    ('健身房', '预付卡', '闭店', '跑路', '退费', '充值', '闭店跑路', '突然闭店')
    >>> {"预付卡", "闭店"} <= set(terms)
    True
    >>> seg.terms(text) == seg.terms_from_tokens(reference_cut(text)) == terms
    True

    References
    ----------
    jieba 0.42.1 (``jieba/__init__.py``, ``finalseg``, ``analyse/tfidf.py``); jieba-rs 0.11.
    """

    def __init__(
        self,
        *,
        user_dict: str | Path | None = None,
        stop_words: str | Path | None = None,
        max_terms: int = 6,
        max_phrases: int = 2,
        hmm: bool = True,
    ) -> None:
        if max_terms < 0 or max_phrases < 0:
            raise ValueError("max_terms and max_phrases must be >= 0")
        self.user_dict = user_dict
        self.stop_words = stop_words
        self.max_terms = max_terms
        self.max_phrases = max_phrases
        self.hmm = hmm

        entries = _read_user_dict(user_dict)
        self._jieba, self.names = _build_rjieba(entries)  # person names never become terms (detectors.names)
        # Dictionary words that look like a joined ASCII run are real words, never re-split.
        self._joined_words = frozenset(w for w, _, _ in entries if _RS_JOINED_TOKEN.fullmatch(w))

        idf, self._median_idf = _load_idf()
        domain_idf = max(idf.values()) + 1.0
        for word in idf:
            if not _is_term_shaped(word):
                idf[word] = 0.0
        for word, _, _ in entries:
            if _is_term_shaped(word):
                idf[word] = domain_idf
        for word in _read_words(stop_words, "stopwords.txt"):
            idf[word] = 0.0
        # One table answers "kept?" and "how rare?" for every known word: 0.0 means dropped.
        self._weights = idf
        # The table has ~270k entries; on our machines a lookup in it costs a few hundred ns
        # of cache and TLB misses, about what segmenting the token costs. Narratives use a
        # few thousand distinct tokens, so each token's weight (a pure function of the token)
        # is remembered in a dict filled in the order tokens are first seen, which packs the
        # frequent ones together (half the lookup cost). Written only by single dict stores,
        # atomic under the GIL and in free-threaded builds alike; capped so a stream of
        # one-off tokens cannot grow it without bound.
        self._memo: dict[str, float] = {}

    def __repr__(self) -> str:
        return (
            f"Segmenter(user_dict={self.user_dict!r}, stop_words={self.stop_words!r}, "
            f"max_terms={self.max_terms}, max_phrases={self.max_phrases}, hmm={self.hmm})"
        )

    def cut(self, text: str) -> list[str]:
        """Segment ``text`` as ``jieba.lcut(text, HMM=self.hmm)`` would, with the same dictionaries."""
        split = _RS_ONLY_HAN.search(text) is not None
        # The substring tests are C scans, far cheaper than the regex they guard.
        rejoin = (
            self.hmm
            and ("-" in text or "_" in text or "." in text)
            and _JOIN_TRIGGER.search(text) is not None
        )
        if not (split or rejoin):
            return self._jieba.cut(text, self.hmm)
        if split:
            tokens: list[str] = []
            for piece in _RS_ONLY_HAN_SPLIT.split(text):
                if len(piece) == 1 and _RS_ONLY_HAN.match(piece):
                    tokens.append(piece)  # jieba yields a non-block character on its own
                elif piece:
                    tokens.extend(self._jieba.cut(piece, self.hmm))
        else:
            tokens = self._jieba.cut(text, self.hmm)
        if not rejoin:
            return tokens
        fixed: list[str] = []
        for token in tokens:
            if _RS_JOINED_TOKEN.fullmatch(token) and token not in self._joined_words:
                fixed.extend(part for part in _JIEBA_HMM_SKIP.split(token) if part)
            else:
                fixed.append(token)
        return fixed

    def terms(self, text: str) -> tuple[str, ...]:
        """The ticket's terms, best first: single tokens, then two-token phrases."""
        return self.terms_from_tokens(self.cut(text))

    def terms_from_tokens(self, tokens: Sequence[str]) -> tuple[str, ...]:
        """:meth:`terms` for text that is already segmented (e.g. by :func:`reference_cut`)."""
        try:  # the steady state: every token's weight is already remembered
            weights = list(map(self._memo.__getitem__, tokens))
        except KeyError:
            weights = self._weigh(tokens)
        named = self.names.in_context(tokens)
        if named:  # names after 店员, 经理, 我叫 ...: never terms, wherever else they stand
            weights = [0.0 if token in named else w for token, w in zip(tokens, weights)]
        # tf x idf as a running sum per occurrence; dicts keep first-occurrence order.
        score: dict[str, float] = {}
        pairs: dict[tuple[str, str], None] = {}
        last = -2
        for position in compress(range(len(tokens)), weights):  # kept tokens only
            token = tokens[position]
            score[token] = score.get(token, 0.0) + weights[position]
            if position == last + 1:
                pairs[tokens[last], token] = None
            last = position
        # sorted() is stable, so equal scores keep text order.
        chosen = sorted(score, key=score.__getitem__, reverse=True)[: self.max_terms]
        if not (self.max_phrases and pairs):
            return tuple(chosen)
        taken = set(chosen)
        phrases: list[str] = []
        for first, second in sorted(pairs, key=lambda pair: score[pair[0]] + score[pair[1]], reverse=True):
            phrase = first + second
            if first != second and phrase not in taken:
                phrases.append(phrase)
                taken.add(phrase)
                if len(phrases) == self.max_phrases:
                    break
        return (*chosen, *phrases)

    def _weigh(self, tokens: Sequence[str]) -> list[float]:
        """Weights of ``tokens``, remembering the ones seen for the first time."""
        memo, table, median = self._memo, self._weights, self._median_idf
        weights: list[float] = []
        for token in tokens:
            weight = memo.get(token)
            if weight is None:
                weight = table.get(token)
                if weight is None:  # unknown to jieba's IDF table: jieba.analyse uses the median
                    weight = median if _is_term_shaped(token) else 0.0
                if weight and self.names.shaped(token):
                    weight = 0.0
                if len(memo) < _MEMO_CAP:
                    memo[token] = weight
            weights.append(weight)
        return weights


@lru_cache(maxsize=4)
def _reference_tokenizer(user_dict: str | None) -> Any:  # jieba.Tokenizer; jieba ships no types
    import jieba  # slow import; only the reference path pays for it

    # jieba logs "Building prefix dict ..." at DEBUG through its own stderr handler.
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    if user_dict is None:
        resource = importlib.resources.files("detectors") / "data" / "domain_dict.txt"
        with importlib.resources.as_file(resource) as path:
            tokenizer.load_userdict(str(path))
    else:
        tokenizer.load_userdict(user_dict)
    return tokenizer


def reference_cut(text: str, *, user_dict: str | Path | None = None, hmm: bool = True) -> list[str]:
    """``jieba.lcut`` with jieba's dictionary and ``user_dict``: the reference :class:`Segmenter` must match.

    About 1 ms per narrative: for tests and benchmarks, never the hot path.
    """
    key = None if user_dict is None else str(user_dict)
    return _reference_tokenizer(key).lcut(text, HMM=hmm)
