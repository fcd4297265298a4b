"""WeChat's own message type numbers, as exporters pass them through (MemoTrace's `Type`/`SubType`,
chatlog's JSON, WeFlow / echotrace / miyu detailed JSON): what each (type, app subtype) pair is.

WeChat 4.x stores one 64-bit `local_type` = (subtype << 32) | type; chatlog splits it into `type`
and `subType`, WeFlow and echotrace write it whole as `localType`. Type 49 is an app message whose
subtype says what it is; 10000 and 10002 are system notices, told apart by their wording.
"""

from __future__ import annotations

from wechat_twin.training.formats.support.message import Kind
from wechat_twin.training.formats.support.notices import notice_kind

TEXT = 1
APP = 49
SYSTEM_TYPES = frozenset({10000, 10002})

_TYPE_KINDS = {
    1: Kind.TEXT,
    3: Kind.IMAGE,
    34: Kind.VOICE,
    37: Kind.SYSTEM,  # friend request
    42: Kind.CONTACT_CARD,
    43: Kind.VIDEO,
    47: Kind.STICKER,
    48: Kind.LOCATION,
    50: Kind.CALL,
    66: Kind.CONTACT_CARD,
}
_APP_KINDS = {
    0: Kind.FILE,
    1: Kind.LINK,  # a text card
    3: Kind.LINK,  # music
    4: Kind.LINK,
    5: Kind.LINK,
    6: Kind.FILE,
    74: Kind.FILE,  # a file still uploading
    8: Kind.STICKER,  # uploaded GIF
    17: Kind.LOCATION,  # live location
    19: Kind.FORWARD,
    24: Kind.LINK,  # favourites note
    33: Kind.MINI_PROGRAM,
    36: Kind.MINI_PROGRAM,
    50: Kind.CONTACT_CARD,
    51: Kind.LINK,  # channels post
    57: Kind.QUOTE,
    62: Kind.PAT,
    63: Kind.LINK,  # channels live
    87: Kind.SYSTEM,  # group announcement
    92: Kind.LINK,  # music
    2000: Kind.TRANSFER,
    2001: Kind.RED_PACKET,
    2003: Kind.RED_PACKET,  # red packet cover
}


def split_local_type(local_type: int) -> tuple[int, int]:
    """(type, subtype) from WeChat 4.x's 64-bit `local_type`."""
    return local_type & 0xFFFFFFFF, local_type >> 32


def kind_of(type_: int, subtype: int, content: str) -> Kind:
    """What a message is; a system notice's subtype and wording say whether it is a recall, a pat
    or another notice."""
    if type_ in SYSTEM_TYPES:
        return notice_kind(content, str(subtype))
    if type_ == APP:
        return _APP_KINDS.get(subtype, Kind.OTHER)
    return _TYPE_KINDS.get(type_, Kind.OTHER)
