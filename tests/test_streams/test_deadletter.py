"""Dead-letter records: bounded, nothing personal in the clear, the original recoverable with the key."""

from __future__ import annotations

import orjson
import pytest

from streams import deadletter

PERSONAL = {"ticket_id": "T9", "kind": "complaint", "received_at": "2025-03-03T10:00:00+08:00",
            "district_code": "310115", "firm_name": "上海某某有限公司", "complainant_phone": "13812345678",
            "complainant_name": "蔡明琳", "complainant_id": "310101199001011234",
            "content": "我叫蔡明琳，电话13812345678，身份证310101199001011234，商家拒绝退款。", "amount": -1}
SECRETS = ("13812345678", "蔡明琳", "310101199001011234")


@pytest.mark.parametrize("with_key", [True, False])
def test_a_record_keeps_nothing_personal_in_the_clear(with_key: bool) -> None:
    key = deadletter.new_key() if with_key else ""
    payload = orjson.dumps(PERSONAL)
    rec = deadletter.record("negative_amount", "amount must be >= 0, got -1.0", payload, key=key, index=None,
                            source={"line": 7})
    text = orjson.dumps(rec).decode()
    assert not any(s in text for s in SECRETS)
    assert rec["ticket"] == {k: PERSONAL[k] for k in ("ticket_id", "kind", "received_at", "district_code", "firm_name")}
    assert rec["line"] == 7 and rec["size"] == len(payload)
    assert deadletter.original(rec, key) == (payload if with_key else None)


@pytest.mark.parametrize("size", [900 * 1024, 5 * 1024 * 1024])
def test_a_record_stays_under_kafkas_default_message_limit(size: int) -> None:
    payload = b'{"content": "' + b"x" * size + b'"}'
    rec = deadletter.record("oversize", "payload too large", payload, key=deadletter.new_key(), index=None,
                            source={"source": {"topic": "tickets", "partition": 0, "offset": 1}})
    assert len(orjson.dumps(rec)) < 1_000_000 and not rec["payload_kept"] and rec["size"] == len(payload)


def test_the_largest_kept_payload_still_fits() -> None:
    payload = b"[" + b"1," * (deadletter.MAX_KEPT_BYTES // 2 - 2) + b"10]"
    assert len(payload) <= deadletter.MAX_KEPT_BYTES
    key = deadletter.new_key()
    rec = deadletter.record("not_object", "x", payload, key=key, index=None, source={})
    assert rec["payload_kept"] and len(orjson.dumps(rec)) < 1_000_000 and deadletter.original(rec, key) == payload


def test_another_key_cannot_read_a_record() -> None:
    rec = deadletter.record("not_json", "x", b"{", key=deadletter.new_key(), index=None, source={})
    with pytest.raises(deadletter.DeadLetterKeyError):
        deadletter.original(rec, deadletter.new_key())


def test_a_batch_element_is_kept_alone() -> None:
    batch = orjson.dumps([{"ticket_id": "A"}, {"ticket_id": "B", "kind": 7}])
    assert orjson.loads(deadletter.element_bytes(batch, 1)) == {"ticket_id": "B", "kind": 7}
    assert deadletter.element_bytes(b"[broken", 1) == b"[broken"
