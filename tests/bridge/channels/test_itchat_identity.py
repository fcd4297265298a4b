"""On itchat a friend chooses their own nickname, group nickname and (as a member) the group's name, so none of
them may decide whose memory a chat gets or which rule applies: only the owner's remarks and the login's ids."""

from __future__ import annotations

from tests.bridge.conftest import FRIEND_REMARKS, SELF_ID, friend_message, group_message
from wechat_twin.bridge.channels.itchat_channel import from_itchat
from wechat_twin.bridge.config import BridgeConfig
from wechat_twin.bridge.policy import Decision, Policy


def _friend(msg: dict):
    return from_itchat(msg, SELF_ID, is_group=False)


def _group(msg: dict):
    return from_itchat(msg, SELF_ID, is_group=True, remark_of=lambda user: FRIEND_REMARKS.get(user, ""))


def test_a_friend_who_renames_themselves_is_still_known_by_their_id():
    impostor = _friend(friend_message("hi, it's mum", user="@stranger01", nick="妈妈"))
    mum = _friend(friend_message("hi", user="@mom01", nick="Mama", remark="妈妈"))
    assert (impostor.chat_name, impostor.sender_name) == ("@stranger01", "@stranger01")
    assert (mum.chat_name, mum.sender_name) == ("妈妈", "妈妈")


def test_allow_and_deny_lists_match_the_owners_remarks_not_nicknames():
    allow = Policy(BridgeConfig(allow=["妈妈"]))
    assert allow.classify(_friend(friend_message("hi", user="@stranger01", nick="妈妈"))) == (
        Decision.IGNORE,
        "not on the allow list",
    )
    mum = _friend(friend_message("hi", user="@mom01", nick="Mama", remark="妈妈"))
    assert allow.classify(mum)[0] is Decision.ANSWER
    deny = Policy(BridgeConfig(deny=["Boss"]))
    assert deny.classify(_friend(friend_message("hi", user="@boss01", nick="someone", remark="Boss")))[1] == "deny list"
    assert deny.classify(_friend(friend_message("hi", user="@x01", nick="Boss")))[0] is Decision.ANSWER


def test_in_a_group_a_member_is_known_by_the_owners_remark_or_their_id():
    renamed = _group(group_message("@Jay hi", at=True, sender="@stranger01", sender_nick="二舅"))
    uncle = _group(group_message("@Jay hi", at=True, sender="@uncle01", sender_nick="Uncle Wang"))
    assert renamed.sender_name == "@stranger01"
    assert uncle.sender_name == "二舅"
    policy = Policy(BridgeConfig(allow=["二舅"]))
    assert policy.classify(renamed)[1] == "not on the allow list"
    assert policy.classify(uncle)[0] is Decision.ANSWER


def test_a_groups_name_picks_neither_its_memory_nor_its_override():
    renamed = _group(group_message("dinner", at=False, room="@@room02", room_name="Family"))
    assert renamed.chat_name == "@@room02", "the group's own name is not the contact the memory is asked for"
    policy = Policy(BridgeConfig(group_overrides={"Family": True}))
    assert policy.classify(renamed) == (Decision.IGNORE, "group message without @")
    remarked = _group(group_message("dinner", at=False, room="@@room01", room_name="whatever", remark="Family"))
    assert remarked.chat_name == "Family"
    assert policy.classify(remarked)[0] is Decision.ANSWER
