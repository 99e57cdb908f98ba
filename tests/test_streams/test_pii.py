"""No personal data leaves the worker: tickets full of phones, id numbers and names, then
every output scanned (alerts, inspection tasks, the dead-letter topic, the debug log,
metrics, /stats/, /health and Faust's own pages)."""

from __future__ import annotations

import random
import re
import time
import urllib.request
from typing import Any

import orjson
import pytest

from streams.kafka_io import produce, read_topic
from tests.test_streams.test_stream import drain, simulated

pytestmark = pytest.mark.broker

SURNAMES = "蔡廖薛崔汪魏袁冯韩罗"
GIVEN = "明琳静怡欣悦颖俊峰婷"


def with_personal_data(lines: list[bytes], rng: random.Random, manager: dict[str, str]) -> tuple[list[bytes], set[str]]:
    """Every ticket names its complainant (3-character names) in its fields and narrative,
    with a phone and an id number, and a clerk; the tickets about a firm in *manager* also
    name its manager, so that the name is among that firm's most frequent words. Returns
    the tickets and every personal string used."""
    out, personal = [], set(manager.values())
    for raw in lines:
        t = orjson.loads(raw)
        if t.get("firm_name") in manager:
            t["content"] += f"店长{manager[t['firm_name']]}拒绝退款，{manager[t['firm_name']]}说门店已关闭。"
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        phone = "13" + "".join(rng.choice("0123456789") for _ in range(9))
        id_no = "310101" + str(rng.randint(1960, 2004)) + f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" + \
            f"{rng.randint(0, 9999):04d}"
        clerk = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        t.update(complainant_name=name, complainant_phone=phone, complainant_id=id_no,
                 content=f"我叫{name}，电话{phone}，身份证{id_no}。{t['content']}店员{clerk}态度恶劣，{name}要求处理。")
        personal |= {name, phone, id_no, clerk}
        out.append(orjson.dumps(t))
    return out, personal


def test_no_personal_data_in_any_output(new_stream_env: Any) -> None:
    rng = random.Random(17)
    lines, incidents = simulated(days=9, tickets_per_day=500, incidents=(("prepaid_closure", 1),), decoys=())
    incident_ids = set(incidents[0].ticket_ids)
    firms = {orjson.loads(x).get("firm_name") for x in lines if orjson.loads(x)["ticket_id"] in incident_ids}
    lines, personal = with_personal_data(lines, rng, {f: "廖俊峰" for f in firms if f})
    bad = [orjson.dumps({**orjson.loads(lines[i]), "amount": -5}) for i in range(5)]  # dead-lettered
    env = new_stream_env()
    env.settings = env.settings.with_(log_level="debug")
    w = env.start_worker()
    produce(env.settings, [*lines, *bad])
    alerts = drain(env, w, len(lines) + len(bad))
    assert alerts, "the incident should raise alerts, or their text is not scanned"
    base = f"http://127.0.0.1:{w.settings.web_port}"
    pages = {}
    for path in ("/metrics", "/health", "/stats/", "/router/"):
        with urllib.request.urlopen(base + path, timeout=5) as r:
            pages[path] = r.read().decode()
    tasks = read_topic(env.settings, env.settings.topic_inspection, idle=2.0)
    dead = read_topic(env.settings, env.settings.topic_deadletter, idle=2.0)
    assert len(dead) == len(bad)
    time.sleep(1.0)
    log = w.log.read_text()
    env.stop()
    outputs = {
        "alerts": orjson.dumps(alerts).decode(),
        "inspection tasks": b"\n".join(v for _, v in tasks).decode(),
        "dead letters": b"\n".join(v for _, v in dead).decode(),
        "debug log": log,
        **pages,
    }
    pattern = re.compile("|".join(map(re.escape, sorted(personal, key=len, reverse=True))))
    hits = {where: sorted(set(pattern.findall(text)))[:5] for where, text in outputs.items() if pattern.search(text)}
    assert hits == {}
    assert len(log) > 1000  # the debug log was written
