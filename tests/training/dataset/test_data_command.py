"""`twin-train data` end to end: outputs, report, options, bad input, and the sample export."""

from __future__ import annotations

import csv
import itertools
import json
import stat
from pathlib import Path

import pytest

from tests.training.formats.export_files import T0, conversation, read_jsonl, run_data, shape_e, write_csv
from wechat_twin.training.dataset.pipeline import PipelineOptions, run

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "examples" / "memotrace_sample" / "messages.csv"
REPORT_KEYS = {
    "inputs",
    "owner_name",
    "system_prompt",
    "messages_read",
    "messages_kept",
    "dropped",
    "redactions",
    "links_replaced",
    "chats",
    "chats_used",
    "group_chats",
    "group_chats_excluded",
    "sessions",
    "sessions_dropped",
    "samples_train",
    "samples_dev",
    "turns",
    "token_length",
    "malformed_rows",
    "warnings",
    "settings",
    "memory",
    "rhythm",
    "options",
    "window",
}


def mixed_export(path: Path) -> Path:
    """Two friends, one group, a phone number, media, and a session the owner never answers."""
    rows = conversation("7", "小王", T0, pairs=3)
    rows += conversation("8", "Tom", T0 + 100, pairs=2)
    rows += [
        ("7", False, T0 + 7200, "my number is 13800138000", "", "小王", "小王"),
        ("7", False, T0 + 7210, "<msg><img/></msg>", "", "小王", "小王", 3, 0),
        ("7", True, T0 + 7260, "saved~ [旺柴]", "", "小王", "小王"),
        ("7", False, T0 + 90000, "anyone there?", "", "小王", "小王"),
        ("9", False, T0 + 50, "打球吗", "", "周末群", "阿强"),
        ("9", False, T0 + 60, "去", "", "周末群", "Sunny"),
        ("9", True, T0 + 70, "go go~", "", "周末群", ""),
    ]
    rows.sort(key=lambda row: row[2])
    return shape_e(path, rows)


def test_dataset_files_report_and_modes(tmp_path):
    export = mixed_export(tmp_path / "messages.csv")
    out = tmp_path / "out"
    result = run_data(export, "--out", out, "--owner-name", "Jay")
    assert result.exit_code == 0, result.output
    assert "read 17 messages" in result.output and "redacted: phone 1" in result.output

    for name in ("train.jsonl", "dev.jsonl", "report.json", "memory.sqlite"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert sorted(p.name for p in out.iterdir()) == ["dev.jsonl", "memory.sqlite", "report.json", "train.jsonl"]

    samples = read_jsonl(out / "train.jsonl") + read_jsonl(out / "dev.jsonl")
    for sample in samples:
        roles = [m["role"] for m in sample["messages"]]
        assert roles[0] == "system" and "Jay" in sample["messages"][0]["content"]
        assert roles[1] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in itertools.pairwise(roles))
    contents = [m["content"] for s in samples for m in s["messages"]]
    assert "my number is <phone>" in contents
    assert "question 0" in contents and "answer 0 [旺柴]" in contents
    assert not any("打球吗" in c for c in contents)  # the group stays out

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert set(report) == REPORT_KEYS
    assert report["messages_read"] == 17
    assert report["messages_read"] == report["messages_kept"] + sum(report["dropped"].values())
    assert report["dropped"] == {"group_chat": 3, "image": 1, "session_without_owner": 1}
    assert report["redactions"]["phone"] == 1
    assert (report["chats"], report["group_chats_excluded"], report["chats_used"]) == (3, 1, 2)
    assert report["sessions"] == 3 and report["sessions_dropped"] == 1
    assert report["samples_train"] + report["samples_dev"] == len(samples)
    for path in out.iterdir():
        assert b"13800138000" not in path.read_bytes()


def test_include_groups_names_the_speakers(tmp_path):
    out = tmp_path / "out"
    result = run_data(mixed_export(tmp_path / "m.csv"), "--out", out, "--include-groups", "--dev-fraction", "0")
    assert result.exit_code == 0, result.output
    contents = [m["content"] for s in read_jsonl(out / "train.jsonl") for m in s["messages"]]
    assert "阿强: 打球吗\nSunny: 去" in contents


def test_allow_and_deny_lists(tmp_path):
    export = mixed_export(tmp_path / "m.csv")
    run_data(export, "--out", tmp_path / "allow", "--allow", "Tom")
    report = json.loads((tmp_path / "allow" / "report.json").read_text())
    assert report["chats_used"] == 1 and report["dropped"]["not_in_allow_list"] == 13
    run_data(export, "--out", tmp_path / "deny", "--deny", "7")
    report = json.loads((tmp_path / "deny" / "report.json").read_text())
    assert report["chats_used"] == 1 and report["dropped"]["denied_contact"] == 10


def test_word_list_in_drop_mode_drops_the_message(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("question 1\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run_data(mixed_export(tmp_path / "m.csv"), "--out", out, "--redact-words", words, "--redact-mode", "drop")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["dropped"]["redact_word"] == 2  # one per friend


def test_session_gap_is_configurable(tmp_path):
    rows = [
        ("7", False, T0, "a", "", "w", "w"),
        ("7", True, T0 + 10, "b", "", "w", "w"),
        ("7", False, T0 + 3610, "c", "", "w", "w"),
        ("7", True, T0 + 3620, "d", "", "w", "w"),
    ]
    export = shape_e(tmp_path / "m.csv", rows)
    for gap, sessions in (("3600", 1), ("3599", 2)):
        run_data(export, "--out", tmp_path / gap, "--session-gap", gap, "--dev-fraction", "0")
        assert json.loads((tmp_path / gap / "report.json").read_text())["sessions"] == sessions


def test_overlapping_exports_out_of_time_order_are_sorted_and_deduplicated(tmp_path):
    """A re-export that overlaps the first one, its rows not in time order: each message once,
    sessions in time order."""
    first = [
        ("7", True, T0 + 10, "在的~", "", "小王", "小王"),
        ("7", False, T0, "在吗", "", "小王", "小王"),
        ("7", True, T0 + 10, "在的~", "", "小王", "小王"),  # exported twice in one file
    ]
    second = [
        ("7", True, T0 + 7210, "好 [旺柴]", "", "小王", "小王"),
        ("7", False, T0 + 7200, "明天见?", "", "小王", "小王"),
        ("7", False, T0, "在吗", "", "小王", "小王"),  # overlaps the first export
    ]
    exports = [shape_e(tmp_path / "a" / "messages.csv", first), shape_e(tmp_path / "b" / "messages.csv", second)]
    out = tmp_path / "out"
    result = run_data(*exports, "--out", out, "--dev-fraction", "0", "--system-prompt", "")
    assert result.exit_code == 0, result.output
    samples = [[m["content"] for m in s["messages"]] for s in read_jsonl(out / "train.jsonl")]
    assert samples == [["在吗", "在的~"], ["明天见?", "好 [旺柴]"]]
    report = json.loads((out / "report.json").read_text())
    assert report["dropped"] == {"duplicate": 2} and report["messages_kept"] == 4


def test_llamafactory_export(tmp_path):
    out = tmp_path / "out"
    assert run_data(mixed_export(tmp_path / "m.csv"), "--out", out, "--llamafactory").exit_code == 0
    info = json.loads((out / "llamafactory" / "dataset_info.json").read_text())
    assert info["wechat_twin_train"]["formatting"] == "sharegpt"
    assert info["wechat_twin_train"]["file_name"] == "train.jsonl"
    first = read_jsonl(out / "llamafactory" / "train.jsonl")[0]
    assert first["system"] and first["conversations"][0]["from"] == "human"
    assert first["conversations"][-1]["from"] == "gpt"
    for name in ("train.jsonl", "dev.jsonl", "dataset_info.json"):
        assert stat.S_IMODE((out / "llamafactory" / name).stat().st_mode) == 0o600, name


def test_a_rerun_replaces_the_files_and_leaves_no_temporary_folder(tmp_path):
    export, out = mixed_export(tmp_path / "m.csv"), tmp_path / "out"
    run_data(export, "--out", out)
    (out / "notes.txt").write_text("mine")
    assert run_data(export, "--out", out, "--max-turns", "2").exit_code == 0
    names = ["dev.jsonl", "memory.sqlite", "notes.txt", "report.json", "train.jsonl"]
    assert sorted(p.name for p in out.iterdir()) == names
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_unknown_file_is_an_error_and_nothing_is_written(tmp_path):
    bogus = tmp_path / "notes.csv"
    bogus.write_text("name,price\nmilk,3\n", encoding="utf-8")
    result = run_data(bogus, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert f"error: {bogus}: not a known chat export format" in result.output
    assert not (tmp_path / "out").exists()


def test_missing_columns_is_an_error(tmp_path):
    path = write_csv(tmp_path / "m.csv", ["localId", "TalkerId", "Type", "SubType", "StrContent"], [[1, 2, 1, 0, "x"]])
    result = run_data(path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert f"error: {path}: MemoTrace CSV is missing required columns: IsSender, CreateTime" in result.output
    assert not (tmp_path / "out").exists()


def test_no_owner_messages_is_an_error_and_the_old_dataset_stays(tmp_path):
    out = tmp_path / "out"
    run_data(mixed_export(tmp_path / "good.csv"), "--out", out)
    before = (out / "train.jsonl").read_bytes()
    only_friend = shape_e(tmp_path / "friend.csv", [("7", False, T0, "hello?", "", "w", "w")])
    result = run_data(only_friend, "--out", out)
    assert result.exit_code == 1
    assert f"error: {only_friend}: no messages from the owner" in result.output
    assert (out / "train.jsonl").read_bytes() == before


def test_a_folder_is_searched_and_unrelated_files_are_skipped(tmp_path):
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    text = "小红 - 微信聊天记录\n\n小红 (2024-01-01 10:00:00):hi\nJay (2024-01-01 10:00:05):yo~ [旺柴]\n"
    (folder / "sub" / "小红.txt").write_text(text, encoding="utf-8")
    (folder / "index.txt").write_text("微信聊天记录 Jay\n\n\n小红\n", encoding="utf-8")
    (folder / "avatar.png").write_bytes(b"\x89PNG\x00\x00")
    out = tmp_path / "out"
    result = run_data(folder, "--out", out, "--me", "Jay", "--dev-fraction", "0")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["inputs"] == [{"path": str(folder / "sub" / "小红.txt"), "format": "wechatexporter", "messages": 2}]
    assert any("index.txt: skipped" in w for w in report["warnings"])
    assert report["owner_name"] == "Jay"


def test_format_can_be_forced(tmp_path):
    path = tmp_path / "dump.txt"
    path.write_text(
        '{"chat": "c", "sender": "a", "is_me": false, "time": 1, "text": "hi"}\n'
        '{"chat": "c", "sender": "me", "is_me": true, "time": 2, "text": "yo"}\n',
        encoding="utf-8",
    )
    assert run_data(path, "--out", tmp_path / "out", "--format", "jsonl").exit_code == 0
    assert run_data(path, "--out", tmp_path / "bad", "--format", "nope").exit_code == 2


def test_no_system_prompt_when_asked(tmp_path):
    out = tmp_path / "out"
    run_data(mixed_export(tmp_path / "m.csv"), "--out", out, "--system-prompt", "")
    assert read_jsonl(out / "train.jsonl")[0]["messages"][0]["role"] == "user"


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "out"
    return run([SAMPLE], PipelineOptions(out=out, owner_name="Jay")), out


def test_the_sample_export_builds_a_dataset_with_exact_counts(sample_report):
    report, out = sample_report
    with open(SAMPLE, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))[1:]
    assert report["messages_read"] == len(rows) > 2000
    assert report["messages_read"] == report["messages_kept"] + sum(report["dropped"].values())
    assert report["redactions"] == {"email": 2, "id_number": 1, "bank_card": 1, "phone": 2, "custom": 0}
    assert report["group_chats_excluded"] == 2
    assert report["dropped"]["quote_without_text"] == sum(1 for r in rows if r[2:4] == ["49", "57"])
    assert (report["dropped"]["repeated_text"], report["dropped"]["too_long"]) == (3, 1)  # spam, a pasted article
    assert report["malformed_rows"]["count"] == 0
    assert report["samples_dev"] > 0
    train = read_jsonl(out / "train.jsonl")
    replies = [m["content"] for s in train for m in s["messages"] if m["role"] == "assistant"]
    assert sum(r.rstrip().endswith("]") for r in replies) / len(replies) > 0.9  # the owner's emoji habit survives
    assert any("\n" in r for r in replies)  # and the bursts
