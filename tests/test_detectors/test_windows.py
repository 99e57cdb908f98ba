"""Per-key bucket state: its ordered lists agree with the deltas added, whatever order they come in."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from detectors.windows import MAX_COUNTER, MAX_IDS_PER_BUCKET, Bucket, KeyState, _merge_counter
from detectors.wire import Delta, decode_key, encode_key


def brute_count(ref: dict[int, int], end: int, width: int) -> int:
    return sum(n for b, n in ref.items() if end - width < b <= end)


def random_delta(rng: random.Random, bucket: int) -> Delta:
    n = rng.randint(1, 4)
    return Delta(bucket=bucket, n=n, people=[f"p{rng.randint(0, 9)}" for _ in range(n)],
                 ids=[f"T{rng.getrandbits(32)}" for _ in range(n)],
                 terms={f"t{rng.randint(0, 80)}": rng.randint(1, 3) for _ in range(rng.randint(0, 60))},
                 districts={"310115": n}, amount=float(n))


@pytest.mark.parametrize("seed", range(5))
def test_order_and_counts_follow_the_buckets_through_late_deltas_and_pruning(seed: int) -> None:
    rng = random.Random(seed)
    s = KeyState("term", "退费")
    ref: dict[int, int] = {}  # bucket -> tickets, kept beside the state
    newest = 1000
    for step in range(400):
        newest += rng.random() < 0.5
        bucket = newest - (rng.randint(1, 30) if rng.random() < 0.15 else 0)  # some late, some into old buckets
        d = random_delta(rng, bucket)
        ref[bucket] = ref.get(bucket, 0) + d.n
        s.add(d)
        if step % 37 == 36:
            before = newest - rng.randint(20, 60)
            s.prune(before)
            ref = {b: n for b, n in ref.items() if b >= before}
        assert s.order == sorted(ref)
        assert s.counts == [ref[b] for b in s.order] == [bk.n for bk in s.slots]
        assert s.retained == sum(s.counts)
        for width in (1, 4, 16, 96):
            assert s.count(newest, width) == brute_count(ref, newest, width)
            assert [b for b, _ in s.window(newest, width)] == sorted(b for b in ref if newest - width < b <= newest)
        assert s.between(newest - 8, newest - 2) == [bk for _, bk in s.window(newest - 2, 6)]
        assert all(s.get(b).n == n for b, n in ref.items()) and s.get(newest + 1) is None
    assert min(s.order) >= s.first_bucket


def test_a_new_bucket_holds_what_merging_into_an_empty_one_leaves() -> None:
    rng = random.Random(3)
    for _ in range(200):
        d = random_delta(rng, 7)
        d.ids = [f"T{i}" for i in range(rng.randint(0, 2 * MAX_IDS_PER_BUCKET))]
        made = Bucket.of(d.to_list())
        merged = Bucket(0, set(), [], {}, {}, {}, {}, 0.0)
        for into, other in ((merged.terms, d.terms), (merged.firms, d.firms), (merged.issues, d.issues),
                            (merged.districts, d.districts)):
            _merge_counter(into, other)
        assert list(made.terms.items()) == list(merged.terms.items())  # every term, in the same order
        kept = d.ids if len(d.ids) <= MAX_IDS_PER_BUCKET else sorted(d.ids)[:MAX_IDS_PER_BUCKET]
        assert made.ids == kept and made.people == set(d.people)
        # Taken over, not copied, when within the caps: a delta is applied once.
        assert made.districts is d.districts and made.terms is d.terms  # pruned only at its tick (Bucket.settle)


def test_a_full_bucket_keeps_the_same_ids_whatever_order_its_tickets_came_in() -> None:
    ids = [f"T{i:03d}" for i in range(3 * MAX_IDS_PER_BUCKET)]
    kept = []
    for seed in range(5):
        rng = random.Random(seed)
        shuffled = rng.sample(ids, len(ids))
        s = KeyState("firm", "F1")
        for i in range(0, len(shuffled), 7):
            s.add(Delta(bucket=1, n=len(shuffled[i:i + 7]), people=[""] * len(shuffled[i:i + 7]), ids=shuffled[i:i + 7]))
        kept.append(s.get(1).ids)  # type: ignore[union-attr]
    assert kept[0] == ids[:MAX_IDS_PER_BUCKET] and all(k == kept[0] for k in kept)


def test_a_heavy_counter_keeps_its_heaviest_once_its_tick_settles_it() -> None:
    terms = {f"t{i}": i for i in range(3 * MAX_COUNTER)}
    made = Bucket.of(Delta(bucket=1, n=1, terms=terms).to_list())
    assert made.terms == terms  # all of it until the bucket's tick
    made.settle()
    assert Counter(made.terms) == Counter(dict(Counter(terms).most_common(MAX_COUNTER)))


def test_what_a_counter_keeps_does_not_depend_on_the_order_tickets_came_in() -> None:
    # Many terms of one count, as a district's bucket has: which survive must not depend on
    # the batching or order (the stream's from detect's; a restart's from a straight run's).
    rng = random.Random(4)
    deltas = [Delta(bucket=7, n=1, terms={f"w{rng.randrange(200)}": 1 for _ in range(8)}).to_list() for _ in range(40)]
    kept = []
    for order in (deltas, deltas[::-1], rng.sample(deltas, len(deltas))):
        s = KeyState("district", "310115")
        for d in order:
            s.add_raw([*d[:2], list(d[2]), list(d[3]), dict(d[4]), *d[5:]])
        b = s.get(7)
        b.settle()
        kept.append(b.terms)
    assert len(kept[0]) == MAX_COUNTER and kept[0] == kept[1] == kept[2]


def test_serialisation_keeps_the_order_index() -> None:
    rng = random.Random(9)
    s = KeyState("firm", "F1")
    for b in (5, 3, 9, 4, 9, 1):
        s.add(random_delta(rng, b))
    back = decode_key(encode_key(s))
    assert back.order == [1, 3, 4, 5, 9] == s.order
    assert back.counts == s.counts and back.retained == s.retained
    assert encode_key(back) == encode_key(s)
