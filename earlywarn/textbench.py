"""Measure narrative segmentation and term picking against jieba, in one run.

``python -m earlywarn.textbench`` times :meth:`detectors.text.Segmenter.terms`,
:meth:`~detectors.text.Segmenter.cut` and :func:`detectors.text.reference_cut`
(``jieba.lcut``) over the same corpus, each repeated, and prints microseconds per narrative.
Times are CPU time of the measuring thread (``time.thread_time_ns``), so other work on a
shared machine inflates them less than wall-clock time would; each path gets one untimed
pass first (the reference builds jieba's prefix dictionary, the segmenter fills its cache).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path

from detectors.text import Segmenter, reference_cut


def load_corpus(path: str | Path | None = None) -> list[str]:
    """Narratives, one per line; by default the bundled ``detectors/data/text_corpus.txt``."""
    source = files("detectors") / "data" / "text_corpus.txt" if path is None else Path(path)
    text = source.read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def per_narrative_us(fn: Callable[[str], object], narratives: Sequence[str]) -> float:
    """CPU microseconds per narrative for one pass of ``fn`` over ``narratives``."""
    start = time.thread_time_ns()
    for narrative in narratives:
        fn(narrative)
    return (time.thread_time_ns() - start) / len(narratives) / 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="earlywarn textbench", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="narratives, one per line (default: the bundled test corpus)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per path (default: 3)")
    parser.add_argument("--limit", type=int, help="use only the first N narratives")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    narratives = load_corpus(args.corpus)[: args.limit]
    if not narratives:
        parser.error("the corpus is empty")
    mean_chars = sum(map(len, narratives)) / len(narratives)
    segmenter = Segmenter()
    paths: dict[str, Callable[[str], object]] = {
        "Segmenter.terms": segmenter.terms,
        "Segmenter.cut": segmenter.cut,
        "reference_cut (jieba)": reference_cut,
    }
    for fn in paths.values():
        per_narrative_us(fn, narratives)
    runs: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.repeat):  # interleaved, so a busy moment hits every path alike
        for name, fn in paths.items():
            runs[name].append(per_narrative_us(fn, narratives))

    print(f"{len(narratives)} narratives, {mean_chars:.0f} characters on average; "
          f"CPU microseconds per narrative, {args.repeat} run(s)")
    header = "".join(f"{'run ' + str(i + 1):>9}" for i in range(args.repeat))
    print(f"{'':22}{header}{'best':>9}{'per 200 chars':>15}")
    for name, values in runs.items():
        cells = "".join(f"{v:9.1f}" for v in values)
        print(f"{name:22}{cells}{min(values):9.1f}{min(values) * 200 / mean_chars:15.1f}")
    speedup = min(runs["reference_cut (jieba)"]) / min(runs["Segmenter.terms"])
    print(f"Segmenter.terms is {speedup:.0f}x faster than jieba.lcut alone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
