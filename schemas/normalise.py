"""Keys derived from ticket fields: firms, products/issues, and complainant pseudonyms.

Pure functions, no I/O. Counting happens per key, so two spellings of one firm (a
full-width bracket, a doubled space, upper-case Latin letters) must give one key, and a
complainant must be recognisable across tickets without the engine ever keeping the
phone number or platform id itself (DESIGN: alerts carry only a keyed pseudonym).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.resources
import unicodedata

from schemas.uscc import is_uscc

__all__ = ["firm_key", "is_placeholder", "normalise_name", "pseudonym", "text_key"]


def normalise_name(s: str) -> str:
    """NFKC, trimmed, inner whitespace collapsed to one space, letters lower-cased.

    NFKC folds full-width forms (ＡＢＣ, （）, ０-９, the ideographic space) to their
    ordinary ones; branch suffixes such as （浦东店） are kept, as a branch is a firm of its own.

    >>> normalise_name("  上海ＡＢＣ　 健身有限公司（浦东店） ")
    '上海abc 健身有限公司(浦东店)'
    >>> normalise_name("Apple  iPhone\\t15") == normalise_name("APPLE IPHONE 15")
    True
    >>> normalise_name(" \\u3000 ")
    ''
    """
    return " ".join(unicodedata.normalize("NFKC", s).split()).lower()


# GB 32100-2015: the 1st character is the registering authority (1-9, A, N, Y), the 3rd to
# 8th the administrative division. The all-zero placeholder some exports use for "unknown"
# passes the check character, and would merge every such firm into one key.
_AUTHORITIES = frozenset("123456789ANY")


def _plausible_uscc(code: str) -> bool:
    return code[0] in _AUTHORITIES and code[2:8].isdigit()


def firm_key(firm_id: str | None, firm_name: str | None) -> str | None:
    """The key a firm is counted under: its USCC when valid, else ``name:`` + its normalised name.

    An invalid ``firm_id`` (typo, wrong check character, placeholder) never rejects a ticket;
    the name is used instead. None when neither gives a key.

    >>> firm_key(" 91310115ma1k3abcdm ", "某某公司")
    '91310115MA1K3ABCDM'
    >>> firm_key("91310115MA1K3ABCD0", "上海ＡＢＣ有限公司")  # wrong check character
    'name:上海abc有限公司'
    >>> firm_key("000000000000000000", "上海某某有限公司")  # a placeholder code, though its check character fits
    'name:上海某某有限公司'
    >>> firm_key(None, "  "), firm_key("", None), firm_key(None, "未知"), firm_key("91310115MA1K3ABCDM", "不详")
    (None, None, None, '91310115MA1K3ABCDM')
    """
    if firm_id:
        # NFKC too: codes typed through a Chinese IME often arrive in full-width letters.
        code = unicodedata.normalize("NFKC", firm_id).strip().upper()
        if is_uscc(code) and _plausible_uscc(code):
            return code
    if firm_name:
        name = normalise_name(firm_name)
        if name and not is_placeholder(name):
            return "name:" + name
    return None


def _placeholders() -> frozenset[str]:
    text = importlib.resources.files("schemas").joinpath("data/placeholder_firm_names.txt").read_text("utf-8")
    return frozenset(normalise_name(w) for w in text.splitlines() if w.strip() and not w.startswith("#"))


_PLACEHOLDERS = _placeholders()


def is_placeholder(name: str | None) -> bool:
    """Whether a firm name names no firm (``data/placeholder_firm_names.txt``, or only
    punctuation and symbols): exports fill one in when the firm is unknown, and as a key it
    would lump unrelated people together into one "dispute".

    >>> [is_placeholder(n) for n in ("未知", " N/A ", "——", "见内容", "个人", "上海未知科技有限公司", "某店")]
    [True, True, True, True, True, False, False]
    """
    name = normalise_name(name or "")
    return not name or name in _PLACEHOLDERS or all(unicodedata.category(c)[0] in "PSZ" for c in name)


def text_key(s: str | None) -> str | None:
    """The key for a product or issue category: its normalised text, None when empty.

    >>> text_key(" 预付卡 退费 "), text_key("Ｖｉｐ卡"), text_key(""), text_key(None)
    ('预付卡 退费', 'vip卡', None, None)
    """
    if not s:
        return None
    return normalise_name(s) or None


def _phone_digits(phone: str) -> str:
    """The phone number's digits, without China's +86 / 0086 prefix.

    >>> [_phone_digits(p) for p in ("+86 138-0013-8000", "008613800138000", "(021) 6234 5678", "+86 21 62345678")]
    ['13800138000', '13800138000', '02162345678', '02162345678']
    """
    digits = "".join(c for c in unicodedata.normalize("NFKC", phone) if c.isascii() and c.isdigit())
    national = None
    if digits.startswith("0086"):
        national = digits[4:]
    elif digits.startswith("86") and len(digits) > 11:  # 11 digits is a mobile number itself
        national = digits[2:]
    if national is None:
        return digits
    # Dialled from abroad a landline loses its trunk 0 (+86 21 ... is 021 ...); mobiles start with 1.
    return national if national.startswith(("1", "0")) else "0" + national


def pseudonym(secret: bytes, complainant_id: str | None, phone: str | None) -> str | None:
    """A keyed pseudonym ``p_`` + 16 hex of HMAC-SHA256 over the complainant's identity.

    The identity is ``complainant_id`` when present, else the phone number's digits; a
    name alone is not an identity (namesakes are common), so it gives None. The two kinds
    of identity are hashed under different prefixes, so an id that happens to equal
    someone's phone number cannot merge two people. Without the secret the pseudonym
    cannot be reversed or recomputed (phone numbers are too few to resist a plain hash).

    >>> a = pseudonym(b"k1", None, "+86 138 0013 8000")
    >>> a == pseudonym(b"k1", None, "13800138000") != pseudonym(b"k2", None, "13800138000")
    True
    >>> len(a), a.startswith("p_"), pseudonym(b"k1", "  ", "—")
    (18, True, None)
    """
    if not secret:
        raise ValueError("pseudonym secret is empty: configure one, or pseudonyms are plain hashes")
    identity = None
    if complainant_id and complainant_id.strip():
        identity = "id:" + complainant_id.strip()
    elif phone:
        digits = _phone_digits(phone)
        if digits:
            identity = "tel:" + digits
    if identity is None:
        return None
    return "p_" + hmac.new(secret, identity.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def name_pseudonym(secret: bytes, name: str | None) -> str | None:
    """The pseudonym of a complainant known only by name: ``pseudonym``'s, under its own prefix.

    A fallback for tickets with no id and no phone (letters, some exports): namesakes
    merge, so people are undercounted, never made up; a ticket with no identity at all
    counts as nobody (``detectors.aggregate``).

    >>> a = name_pseudonym(b"k1", " 张三 ")
    >>> a == name_pseudonym(b"k1", "张三") != pseudonym(b"k1", "张三", None), name_pseudonym(b"k1", " ")
    (True, None)
    """
    if not secret:
        raise ValueError("pseudonym secret is empty: configure one, or pseudonyms are plain hashes")
    name = " ".join((name or "").split())
    if not name or is_placeholder(name):
        return None
    return "p_" + hmac.new(secret, ("name:" + name).encode("utf-8"), hashlib.sha256).hexdigest()[:16]
