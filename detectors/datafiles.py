"""Reading the bundled word lists and tables in ``detectors/data/`` (comments start with ``#``)."""

from __future__ import annotations

import csv
import importlib.resources
import io
import unicodedata


def _text(name: str) -> str:
    return (importlib.resources.files("detectors") / "data" / name).read_text(encoding="utf-8")


def norm(s: str) -> str:
    """NFKC and lowercase: how lists and narratives are compared.

    >>> norm("ＡＢＣ十倍赔偿")
    'abc十倍赔偿'
    """
    return unicodedata.normalize("NFKC", s).lower()


def words(name: str) -> tuple[str, ...]:
    """The non-empty, non-comment lines of a bundled list, normalised, in file order.

    >>> "十倍赔偿" in words("statutory_demands.txt")
    True
    """
    out = []
    for line in _text(name).splitlines():
        w = line.split("#", 1)[0].strip()
        if w:
            out.append(norm(w))
    return tuple(dict.fromkeys(out))


def rows(name: str) -> list[dict[str, str]]:
    """The rows of a bundled CSV table (``#`` lines before the header are comments)."""
    lines = [ln for ln in _text(name).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))
