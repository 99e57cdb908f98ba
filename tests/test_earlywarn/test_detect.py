"""Offline detection: enrichment in worker processes changes nothing but the speed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from detectors.enrich import Enricher
from earlywarn.detect import DetectStats, detect
from earlywarn.simulate import SimConfig, generate
from streams.settings import from_env


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    tickets, _ = generate(SimConfig(seed=5, days=9, tickets_per_day=700))
    out = [orjson.dumps(t) + b"\n" for t in tickets]
    # Blank lines, bad lines, and a bulk-feed batch (one line, several tickets, one of them bad).
    batch = orjson.dumps([orjson.loads(out[10]), {"ticket_id": "X"}, orjson.loads(out[11])]) + b"\n"
    return [b"\n", *out[:10], b"not json\n", batch, b"   \r\n", *out[12:]]


def run(lines: list[bytes], workers: int,
        batch: int) -> tuple[list[dict[str, Any]], DetectStats, list[tuple[int, str, bytes]]]:
    settings = from_env()
    stats = DetectStats()
    rejected: list[tuple[int, str, bytes]] = []
    alerts = list(detect(iter(lines), settings, batch=batch, stats=stats, workers=workers,
                         enricher=Enricher(settings.pseudonym_secret.encode()),
                         on_reject=lambda n, r, raw: rejected.append((n, r.reason.value, raw))))
    return alerts, stats, rejected


def test_workers_give_the_alerts_stats_and_rejections_one_process_gives(lines: list[bytes]) -> None:
    alone = run(lines, workers=0, batch=300)
    assert alone[0], "the input should raise alerts at all"
    assert alone[1].rejected == 2 and alone[1].lines == len(lines)
    assert [(n, reason) for n, reason, _ in alone[2]] == [(12, "not_json"), (13, "missing_field")]
    assert alone[2][0][2] == b"not json"
    assert run(lines, workers=2, batch=37) == alone  # many small chunks in flight
    assert run(lines, workers=3, batch=450) == alone  # chunks not a multiple of the processes


def test_one_ticket_dated_a_year_ahead_changes_no_alert(lines: list[bytes]) -> None:
    # It once carried event time a year forward: every ticket after it was late, and the
    # alerts after it were never raised (27 alert events of the seed-5 file became 0).
    i, ticket = next((i, orjson.loads(raw)) for i, raw in enumerate(lines) if i > len(lines) // 3 and raw.strip())
    ahead = {**ticket, "ticket_id": "AHEAD", "received_at": "2026" + ticket["received_at"][4:]}
    assert ahead["received_at"] > ticket["received_at"]
    with_outlier = [*lines[:i], orjson.dumps(ahead) + b"\n", *lines[i:]]
    alerts, stats, rejected = run(with_outlier, workers=2, batch=300)
    assert alerts == run(lines, workers=0, batch=300)[0]
    assert stats.tickets == run(lines, workers=0, batch=300)[1].tickets + 1  # counted, in its own bucket


def test_a_ticket_dated_beyond_tomorrow_is_dead_lettered_as_from_the_future(lines: list[bytes]) -> None:
    future = {**orjson.loads(lines[1]), "ticket_id": "FUTURE", "received_at": "2099-01-01T00:00:00+08:00"}
    alerts, stats, rejected = run([*lines[:50], orjson.dumps(future) + b"\n", *lines[50:]], workers=0, batch=300)
    assert [(n, reason) for n, reason, _ in rejected if reason == "future_timestamp"] == [(51, "future_timestamp")]
    assert alerts == run(lines, workers=0, batch=300)[0]


class _Failing(Enricher):
    def enrich(self, tickets: Any) -> Any:
        raise ValueError("a bug in enrichment")


def test_a_worker_process_that_fails_stops_the_run_with_an_error(lines: list[bytes]) -> None:
    settings = from_env()
    failing = _Failing(settings.pseudonym_secret.encode(), Enricher(b"k").segmenter)
    with pytest.raises(RuntimeError, match=r"detect-\d failed with exit code 1"):
        list(detect(iter(lines), settings, workers=2, enricher=failing))


def test_a_run_stopped_early_stops_its_worker_processes(lines: list[bytes]) -> None:
    import multiprocessing

    settings = from_env()
    alerts = detect(iter(lines), settings, batch=100, workers=2, enricher=Enricher(settings.pseudonym_secret.encode()))
    next(alerts)
    assert multiprocessing.active_children()
    alerts.close()
    assert not multiprocessing.active_children()


def test_labels_lose_stray_outer_spaces_the_platform_sent() -> None:
    from schemas.tickets import Ticket, decode

    enricher = Enricher(b"k")
    raw = {"ticket_id": "T1", "kind": "complaint", "received_at": "2025-03-03T10:00:00+08:00",
           "district_code": "310115", "firm_name": " 上海某某健身有限公司  ", "product_name": "年卡 ",
           "content": "办卡后门店关闭，要求退费。"}
    (ticket,) = decode(orjson.dumps(raw))
    assert isinstance(ticket, Ticket)
    (e,) = enricher.enrich([ticket])
    assert (e.firm_label, e.product_label) == ("上海某某健身有限公司", "年卡")


def test_a_placeholder_firm_name_is_no_firm_and_lumps_no_one_together(lines: list[bytes]) -> None:
    # Exports write 未知 (unknown) where the firm is not known: 5 of 6 group disputes on one
    # real file were against 未知, unrelated people lumped together.
    at = [i for i, x in enumerate(lines) if x.startswith(b"{") and orjson.loads(x)["received_at"] >= "2025-03-10T10"]
    late = [orjson.loads(lines[i]) for i in at[:40]]
    unknown = [{**t, "ticket_id": f"U{i}", "kind": "complaint", "firm_name": name, "firm_id": None}
               for i, (t, name) in enumerate(zip(late, ["未知", "不详", " N/A ", "——"] * 10))]
    # In time order, forty people in forty minutes: a firm of its own name would be a dispute (it was).
    cut = at[39] + 1
    alerts, stats, _ = run([*lines[:cut], *(orjson.dumps(t) + b"\n" for t in unknown), *lines[cut:]], workers=0,
                           batch=300)
    assert stats.tickets == run(lines, workers=0, batch=300)[1].tickets + len(unknown)  # still counted
    assert not [a for a in alerts if a["subject"]["dimension"] == "firm" and "未知" in a["subject"]["key"]]
    assert not [a for a in alerts if a["subject"]["key"].startswith(("name:不详", "name:n/a", "name:——"))]


def test_a_firm_known_by_its_code_alone_says_its_name_is_unknown() -> None:
    from schemas.tickets import Ticket, decode

    raw = {"ticket_id": "T1", "kind": "complaint", "received_at": "2025-03-03T10:00:00+08:00",
           "district_code": "310115", "firm_name": "未知", "firm_id": "91310115MA1K3ABCDM", "content": "门店关闭"}
    (ticket,) = decode(orjson.dumps(raw))
    assert isinstance(ticket, Ticket)
    (e,) = Enricher(b"k").enrich([ticket])
    assert (e.firm_key, e.firm_label) == ("91310115MA1K3ABCDM", "名称不详（91310115MA1K3ABCDM）")


def _tickets(lines: list[bytes]) -> list[bytes]:
    return [raw for raw in lines if raw.strip().startswith(b"{")]


def test_a_resent_export_counts_once(lines: list[bytes]) -> None:
    # Upstream exports resend: two-thirds of the file sent twice over before the rest came
    # once counted every ticket of the first part twice (late, into buckets already judged).
    tickets = _tickets(lines)
    cut = 2 * len(tickets) // 3
    once, once_stats, _ = run(tickets, workers=0, batch=300)
    assert once
    twice, stats, _ = run([*tickets[:cut], *tickets[:cut], *tickets[cut:]], workers=0, batch=300)
    assert twice == once
    # The copies of the last horizon are counted as duplicates, older ones as expired, each once.
    assert stats.duplicates + stats.expired == cut and stats.duplicates > 0 and stats.expired > 0
    assert run([*tickets[:cut], *tickets[:cut], *tickets[cut:]], workers=2, batch=173) == (twice, stats, [])


def test_lines_repeated_in_place_count_once(lines: list[bytes]) -> None:
    # Each line twice, the copy in the same chunk or the next: a dispute vanished, another's
    # severity rose and every evidence list held each ticket twice.
    tickets = _tickets(lines)
    once, _, _ = run(tickets, workers=0, batch=300)
    doubled = [raw for raw in tickets for _ in range(2)]
    for workers, batch in ((0, 301), (2, 77)):  # odd chunks: copies split across chunks and processes
        alerts, stats, _ = run(doubled, workers=workers, batch=batch)
        assert alerts == once
        assert stats.duplicates == len(tickets) and stats.tickets == 2 * len(tickets)
    assert all(len(set(a["ticket_ids"])) == len(a["ticket_ids"]) for a in once)
