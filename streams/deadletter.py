"""Dead-letter records: why an input was rejected and what re-sending it needs, without personal data in the clear.

A rejected message still holds what the platform sent: phone numbers, id numbers and names
in its fields and narrative. Its record on ``tickets.deadletter`` (and in ``detect
--deadletter`` files) keeps:

- ``reason``, ``detail`` and ``index`` (the element of a batch), where it came from
  (``source``: topic, partition, offset; or the file's ``line``);
- ``size`` and ``sha256`` of the original bytes, to find and compare it;
- ``ticket``: the fields of the rejected ticket that are not personal (id, kind, time,
  district, firm, product, issue, channel, platform), when it parsed as a JSON object;
- ``payload_enc``: the original bytes encrypted with Fernet (AES-128-CBC with an
  HMAC-SHA256, ``cryptography``) under ``EARLYWARN_DEADLETTER_KEY``, when that key is set
  and the bytes are at most ``MAX_KEPT_BYTES``. Without a key the original bytes are not
  kept at all (``payload_kept`` false): nothing personal is written in the clear, and the
  message cannot be re-sent from the record.

So a record is at most ~0.7 MB, under Apache Kafka's default 1 MB message limit, whatever
the input (a 900 KB message once made a 2.1 MB record: its bytes in plain text and in
base64). Retention: keep ``tickets.deadletter`` as long as you may want to investigate and
re-send (weeks); the key decrypts every record it wrote, so rotate it with the topic.

>>> key = new_key()
>>> rec = record("negative_amount", "amount must be >= 0, got -1.0", b'{"ticket_id": "T1", "amount": -1, '
...              b'"complainant_phone": "13800138000"}', key=key, index=None, source={"line": 3})
>>> rec["ticket"], rec["payload_kept"], b"13800138000" in orjson.dumps(rec)
({'ticket_id': 'T1'}, True, False)
>>> original(rec, key)
b'{"ticket_id": "T1", "amount": -1, "complainant_phone": "13800138000"}'
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

__all__ = ["MAX_KEPT_BYTES", "DeadLetterKeyError", "check_key", "element_bytes", "new_key", "original", "record"]

MAX_KEPT_BYTES = 512 * 1024  # encrypted, ~0.7 MB: a record stays under Kafka's default 1 MB
# Fields of a ticket that name no person: kept readable so staff can see what was rejected.
READABLE = ("ticket_id", "kind", "received_at", "district_code", "firm_name", "firm_id", "product_category",
            "product_name", "issue_category", "channel", "platform")
_READABLE_CHARS = 200


class DeadLetterKeyError(ValueError):
    """The dead-letter key is not a Fernet key, or a record was not written with it."""


def new_key() -> str:
    """A fresh key for ``EARLYWARN_DEADLETTER_KEY``."""
    return Fernet.generate_key().decode()


def check_key(key: str) -> str | None:
    """What is wrong with *key* as a setting (None: fine, or empty)."""
    if not key:
        return None
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return (" is not a Fernet key (32 url-safe base64-encoded bytes): make one with "
                "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")
    return None


def element_bytes(payload: bytes, index: int | None) -> bytes:
    """The bytes of one bad element of a batch message (the whole payload otherwise)."""
    if index is None:
        return payload
    try:
        return orjson.dumps(orjson.loads(payload)[index])
    except Exception:  # noqa: BLE001 - fall back to the whole message, never lose it
        return payload


def _readable(payload: bytes) -> dict[str, str] | None:
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    return {k: v[:_READABLE_CHARS] for k in READABLE if isinstance(v := obj.get(k), str)}


def record(reason: str, detail: str, payload: bytes, *, key: str, index: int | None,
           source: dict[str, Any]) -> dict[str, Any]:
    """The dead-letter record of *payload* (see the module docstring for its fields)."""
    rec: dict[str, Any] = {
        "reason": reason, "detail": detail, "index": index, **source,
        "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
        "ticket": _readable(payload) if len(payload) <= MAX_KEPT_BYTES else None,
        "payload_kept": bool(key) and len(payload) <= MAX_KEPT_BYTES,
    }
    if rec["payload_kept"]:
        rec["payload_enc"] = Fernet(key.encode()).encrypt(payload).decode()
    return rec


def original(rec: dict[str, Any], key: str) -> bytes | None:
    """The original bytes of a record, decrypted with *key*; None when they were not kept."""
    token = rec.get("payload_enc")
    if not token:
        return None
    try:
        return Fernet(key.encode()).decrypt(token.encode())
    except (InvalidToken, ValueError) as exc:
        raise DeadLetterKeyError("this record was not written with that EARLYWARN_DEADLETTER_KEY") from exc
