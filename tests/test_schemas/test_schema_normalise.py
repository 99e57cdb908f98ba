"""Keys for firms, products/issues and complainants: spellings that mean one thing give one key."""

from __future__ import annotations

import hashlib
import re

import pytest

from schemas.normalise import firm_key, normalise_name, pseudonym, text_key
from schemas.uscc import uscc_check_digit

USCC = "91310115MA1K3ABCD" + uscc_check_digit("91310115MA1K3ABCD")
SECRET = b"test-secret-1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("上海某某健身有限公司", "上海某某健身有限公司"),
        ("  上海某某健身有限公司\n", "上海某某健身有限公司"),
        ("上海ＡＢＣ健身有限公司", "上海abc健身有限公司"),
        ("上海某某健身有限公司（浦东店）", "上海某某健身有限公司(浦东店)"),
        ("上海某某  健身\t有限公司", "上海某某 健身 有限公司"),
        ("上海某某\u3000健身", "上海某某 健身"),  # ideographic space
        ("Apple Store（南京东路）", "apple store(南京东路)"),
        ("ＮＩＫＥ　旗舰店", "nike 旗舰店"),
        ("１２３号店", "123号店"),
        ("", ""),
        (" \t\u3000 ", ""),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


def test_branches_stay_apart() -> None:
    assert normalise_name("某某健身（浦东店）") != normalise_name("某某健身（徐汇店）")
    assert normalise_name("某某健身（浦东店）") == normalise_name("某某健身(浦东店)")


@pytest.mark.parametrize(
    ("firm_id", "firm_name", "expected"),
    [
        pytest.param(USCC, "某某公司", USCC, id="valid-uscc"),
        pytest.param(USCC.lower(), "某某公司", USCC, id="lower-case-uscc"),
        pytest.param(f"  {USCC}\n", None, USCC, id="padded-uscc-no-name"),
        pytest.param(USCC.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}), None, USCC, id="full-width-uscc"),
        pytest.param(USCC[:-1] + ("0" if USCC[-1] != "0" else "1"), "某某 公司", "name:某某 公司", id="bad-check-char"),
        pytest.param(USCC[:-1], "某某公司", "name:某某公司", id="17-chars"),
        pytest.param("000000000000000000", "某某公司", "name:某某公司", id="placeholder-zeros"),
        pytest.param("", "某某公司（浦东店）", "name:某某公司(浦东店)", id="empty-id"),
        pytest.param(None, "  ＡＢＣ  Trading ", "name:abc trading", id="name-only"),
        pytest.param("not-a-code", None, None, id="bad-id-no-name"),
        pytest.param(None, "   ", None, id="blank-name"),
        pytest.param(None, None, None, id="nothing"),
    ],
)
def test_firm_key(firm_id: str | None, firm_name: str | None, expected: str | None) -> None:
    assert firm_key(firm_id, firm_name) == expected


def test_firm_key_spellings_meet() -> None:
    keys = {firm_key(None, n) for n in ("上海ＡＢＣ健身（浦东店）", "上海abc健身(浦东店)", " 上海ABC健身（浦东店） ")}
    assert keys == {"name:上海abc健身(浦东店)"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("退费", "退费"),
        (" 预付卡  退费 ", "预付卡 退费"),
        ("ＶＩＰ年卡", "vip年卡"),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_text_key(raw: str | None, expected: str | None) -> None:
    assert text_key(raw) == expected


# ---------------------------------------------------------------- pseudonyms

MOBILE = "13800138000"


@pytest.mark.parametrize(
    "phone",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+86-13800138000",
        "86 13800138000",
        "8613800138000",
        "0086 138 0013 8000",
        "１３８００１３８０００",  # full-width digits from an IME
        "(+86) 138-0013-8000",
    ],
)
def test_phone_formats_give_one_pseudonym(phone: str) -> None:
    assert pseudonym(SECRET, None, phone) == pseudonym(SECRET, None, MOBILE)


@pytest.mark.parametrize("phone", ["021-6234 5678", "(021) 62345678", "+86 21 6234 5678", "0086-21-62345678"])
def test_landline_formats_give_one_pseudonym(phone: str) -> None:
    assert pseudonym(SECRET, None, phone) == pseudonym(SECRET, None, "02162345678")


def test_pseudonym_shape_and_stability() -> None:
    p = pseudonym(SECRET, "P0001", None)
    assert p is not None and re.fullmatch(r"p_[0-9a-f]{16}", p)
    assert pseudonym(SECRET, "P0001", None) == p
    assert pseudonym(SECRET, " P0001 ", None) == p


def test_pseudonym_depends_on_the_secret() -> None:
    assert pseudonym(SECRET, None, MOBILE) != pseudonym(b"test-secret-2", None, MOBILE)
    assert pseudonym(SECRET, "P0001", None) != pseudonym(b"test-secret-2", "P0001", None)


def test_pseudonym_is_not_a_plain_hash_of_the_phone() -> None:
    p = pseudonym(SECRET, None, MOBILE)
    assert p is not None
    for text in (MOBILE, "tel:" + MOBILE):
        assert p[2:] not in (hashlib.sha256(text.encode()).hexdigest(), hashlib.md5(text.encode()).hexdigest())


def test_different_people_differ() -> None:
    assert pseudonym(SECRET, None, MOBILE) != pseudonym(SECRET, None, "13800138001")
    assert pseudonym(SECRET, "P0001", None) != pseudonym(SECRET, "P0002", None)


def test_complainant_id_wins_over_phone() -> None:
    by_id = pseudonym(SECRET, "P0001", None)
    assert pseudonym(SECRET, "P0001", MOBILE) == by_id
    assert pseudonym(SECRET, "P0001", "13900139000") == by_id
    assert pseudonym(SECRET, None, MOBILE) != by_id


def test_id_and_phone_namespaces_do_not_collide() -> None:
    assert pseudonym(SECRET, MOBILE, None) != pseudonym(SECRET, None, MOBILE)


@pytest.mark.parametrize(
    ("complainant_id", "phone"),
    [(None, None), ("", ""), ("   ", None), (None, "无"), (None, " - ")],
)
def test_no_identity_no_pseudonym(complainant_id: str | None, phone: str | None) -> None:
    assert pseudonym(SECRET, complainant_id, phone) is None


def test_blank_id_falls_back_to_phone() -> None:
    assert pseudonym(SECRET, "  ", MOBILE) == pseudonym(SECRET, None, MOBILE) is not None


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        pseudonym(b"", "P0001", None)
