"""Administrative regions the hotline serves: Shanghai's 16 districts by 6-digit code.

>>> SHANGHAI_DISTRICTS["310115"]
'浦东新区'
>>> district_name("310115"), district_name("440305")
('浦东新区', '440305')
"""

from __future__ import annotations

SHANGHAI_DISTRICTS: dict[str, str] = {
    "310101": "黄浦区",
    "310104": "徐汇区",
    "310105": "长宁区",
    "310106": "静安区",
    "310107": "普陀区",
    "310109": "虹口区",
    "310110": "杨浦区",
    "310112": "闵行区",
    "310113": "宝山区",
    "310114": "嘉定区",
    "310115": "浦东新区",
    "310116": "金山区",
    "310117": "松江区",
    "310118": "青浦区",
    "310120": "奉贤区",
    "310151": "崇明区",
}


def district_name(code: str) -> str:
    """The district's name, or the code itself when it is not one we know (kept as-is)."""
    return SHANGHAI_DISTRICTS.get(code, code)
