"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, last one a check.

>>> code = "91310115" + "MA1K3" + "ABCD"
>>> full = code + uscc_check_digit(code)
>>> is_uscc(full), is_uscc(full[:-1] + ("0" if full[-1] != "0" else "1"))
(True, False)
"""

from __future__ import annotations

# The 31 characters of the code's alphabet (no I, O, S, V, Z), in value order.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_digit(first17: str) -> str:
    """The 18th character for the first 17 (which must use the code's alphabet)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_uscc(code: str) -> bool:
    """True when *code* is 18 characters of the alphabet with a correct check character."""
    if len(code) != 18 or any(c not in _VALUE for c in code):
        return False
    return uscc_check_digit(code[:17]) == code[17]
