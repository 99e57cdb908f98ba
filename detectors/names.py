"""Person names in narratives: which tokens may be someone's name, so that none becomes a term.

Terms travel into alerts (``top_terms``, the Chinese summary) that many people read, so a
complainant's or a clerk's name must never be one. jieba's part-of-speech tags cannot
tell (its dictionary tags 许可, 华为 and 胡萝卜 as person names), and a named-entity model
costs more than the whole of ingest. Three cheap rules, each aimed at how names really
appear in 12315 narratives, are applied where terms are picked (``detectors.text``):

1. A token of two or three Han characters beginning with a surname
   (``data/surnames.txt``) that jieba's dictionary does not know: jieba's HMM joins
   unknown names (蔡明琳, 张伟) into such tokens. Firm-name fragments of that shape
   (华讯) go too; they are counted under their firm anyway. Or one it knows as a person
   name (tag ``nr``) whose other characters are all common in given names
   (``data/given_name_chars.txt``): 李娜, 王建国, but not 许可, 华为 or 胡萝卜, which
   jieba also tags ``nr``.
2. A surname followed by a form of address or a placeholder (王先生, 李女士, 张某某,
   刘经理): a person, even if not a full name.
3. A token of two or three Han characters that starts with a surname right after a word
   that introduces a person (店员, 经理, 我叫, 投诉人 ...): 店员李娜, where 李娜 is in
   jieba's dictionary and rule 1 cannot see it.

And the ticket's own ``complainant_name`` is removed from its terms exactly
(``detectors.enrich``). These are heuristics: ``tests/test_detectors/test_names.py``
measures them on narratives full of names.

>>> names = Names(known={"许可": "nr", "李娜": "nr", "李白": "nr", "高价": "n"})
>>> [t for t in ("蔡明琳", "许可", "李娜", "高价", "王先生", "张某某", "退费") if names.shaped(t)]
['蔡明琳', '李娜', '王先生', '张某某']
>>> names.in_context(["店员", "李白", "态度", "恶劣"])
{'李白'}
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterable, Mapping, Sequence

# Forms of address and placeholders that follow a surname.
ADDRESS = ("先生", "女士", "小姐", "某某", "某", "师傅", "经理", "老师", "阿姨", "老板", "总", "同学", "大爷", "大妈",
           "律师", "医生", "主任", "店长", "姐", "哥")
# Words after which a name usually comes.
INTRODUCERS = frozenset({
    "我叫", "名叫", "叫", "本人", "姓名", "投诉人", "举报人", "消费者", "联系人", "负责人", "店员", "店长", "经理",
    "客服", "业务员", "销售", "销售员", "老板", "老板娘", "员工", "工作人员", "服务员", "教练", "老师", "导购", "主管",
    "快递员", "司机", "师傅", "医生", "护士", "律师", "顾问", "专员", "家属", "丈夫", "妻子", "儿子", "女儿", "母亲",
    "父亲", "朋友", "同事", "邻居", "先生", "女士",
})
_HAN_2_3 = re.compile("[\u4e00-\u9fff]{2,3}")


def _surnames() -> tuple[frozenset[str], frozenset[str]]:
    text = importlib.resources.files("detectors").joinpath("data/surnames.txt").read_text("utf-8")
    words = [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]
    return frozenset(w for w in words if len(w) == 1), frozenset(w for w in words if len(w) == 2)


SINGLE_SURNAMES, COMPOUND_SURNAMES = _surnames()
GIVEN_NAME_CHARS = frozenset(
    importlib.resources.files("detectors").joinpath("data/given_name_chars.txt").read_text("utf-8").split("\n", 1)[1]
    .replace("\n", ""))
_ADDRESSED = re.compile(
    "(?:" + "|".join(sorted(COMPOUND_SURNAMES)) + "|[" + "".join(sorted(SINGLE_SURNAMES)) + "])"
    "(?:" + "|".join(ADDRESS) + ")")


# jieba's HMM joins an unknown name to the character before it (投诉人 -> 投诉 + 人杜芳,
# 叫 -> 叫伍) or after it (张伟称, 李娜于): what an unknown token holds without them.
_JOINED = re.compile("[人叫由让给找被与跟]?(?P<core>.+?)[称说讲于在等也的了曾]*")
# (a surname alone is a name only when it was joined to one of those: 叫伍, not 伍)


def _core(token: str) -> str:
    core = _JOINED.fullmatch(token)
    return core.group("core") if core else token


def starts_with_surname(token: str) -> bool:
    return token[:1] in SINGLE_SURNAMES or token[:2] in COMPOUND_SURNAMES


class Names:
    """Tells name-shaped tokens. *known*: the words of jieba's dictionary that start with a
    surname, with their part-of-speech tags (a token in it is a word jieba knows, not an
    unknown its HMM joined); *domain*: the domain dictionary's words, never names."""

    def __init__(self, known: Mapping[str, str], domain: Iterable[str] = ()) -> None:
        self._known = known
        self._domain = frozenset(domain)

    def shaped(self, token: str) -> bool:
        """Rules 1 and 2: could this token, wherever it stands, be or hold a person's name?"""
        if token in self._domain:
            return False
        if token not in self._known:
            token = _core(token)  # an unknown token may be a name joined to its neighbours
            if len(token) == 1:
                return token in SINGLE_SURNAMES  # the surname of a name jieba split (叫伍 + 英宇)
        if not starts_with_surname(token):
            return False
        if _ADDRESSED.fullmatch(token):
            return True
        if _HAN_2_3.fullmatch(token) is None:
            return False
        tag = self._known.get(token)
        if tag is None:
            return True
        given = token[2:] if token[:2] in COMPOUND_SURNAMES else token[1:]
        return tag == "nr" and bool(given) and GIVEN_NAME_CHARS.issuperset(given)

    def in_context(self, tokens: Sequence[str]) -> set[str]:
        """Rule 3: the name-like tokens right after a word that introduces a person."""
        if INTRODUCERS.isdisjoint(tokens):  # most narratives: one C-level pass
            return set()
        found: set[str] = set()
        for i in range(1, len(tokens)):
            token = tokens[i]
            if (tokens[i - 1] in INTRODUCERS and token not in self._domain and _HAN_2_3.fullmatch(token)
                    and starts_with_surname(token)):
                found.add(token)
        return found
