"""The import's outputs do not change when the pipeline is made faster (issue 31): same bytes, same rows.

Each case runs `twin-train data` on one export with one set of options and compares digests of
what it writes with `import_digests.json` beside this file: the sha256 of every dataset file and of
report.json, and for memory.sqlite the sha256 of each table's rows (shadow tables of the FTS5
index included), sorted, so a faster build that lays pages out differently still has to store the
same rows. The digests were recorded by this module's `record` (run
`python -m tests.training.dataset.test_import_unchanged`) on main at ec8fd22, before the pipeline
was changed for speed; report.json's were re-recorded once after, when the shared-facts rule added
`facts_not_shared` to every report, again when issue 30 added `options` and `window`, and when
`--redact-names` joined the recorded options (nothing else changed any time). They are digests
rather than files so the test data stays a few kilobytes.
Re-record only for a change that is meant to change the output, and say so in its commit.

The exports: the three sample exports under examples/, a crafted one with what the privacy
filter, groups and windowing must handle, and a generated one in the benchmark's shape (bench/ingest.py's
generator: a change there changes those cases' digests too).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.training.formats.export_files import T0, conversation, run_data, shape_e

REPO = Path(__file__).resolve().parents[3]
DIGESTS = Path(__file__).with_name("import_digests.json")
GENERATED_MESSAGES = 20_000


def _sample(name: str) -> Callable[[Path], Path]:
    def copy(folder: Path) -> Path:
        return Path(shutil.copy(REPO / "examples" / name / "messages.csv", folder / "messages.csv"))

    return copy


def _crafted(folder: Path) -> Path:
    """Numbers the privacy filter must and must not redact (full-width too), a group with an unnamed
    speaker, an owner who opens and a friend who trails, a turn over the token budget, and duplicates."""
    rows = conversation("7", "小王", T0, pairs=4)
    texts = [
        "call me 138 0013 8000 or ＋８６ １３９００１３９０００",
        "身份证 11010519491231002X 卡号 6222 0202 0000 0000 006, 不是卡 6222 0202 0000 0000 001",
        "mail a.b+c@example.com, order SF1380013800012, 2024-03-09 12:00",
        "座机 (021) 6234 5678 / 0755-8765-4321 又及 010 1234 5678",
        "长" * 1500,
        "短" * 450,
    ]
    for i, text in enumerate(texts):
        rows += [("8", True, T0 + 5000 + 200 * i, "owner opens", "", "Amy", "Amy")] if i == 0 else []
        rows += [("8", False, T0 + 5060 + 200 * i, text, "", "Amy", "Amy")]
        rows += [("8", True, T0 + 5120 + 200 * i, f"got it {i} 你好 test@example.org", "", "Amy", "Amy")]
    rows += [("8", False, T0 + 9000, "trailing question?", "", "Amy", "Amy")]
    for i in range(6):
        speaker = ("", "m1", "m2")[i % 3]
        rows += [("9@chatroom", False, T0 + 100 * i, f"群聊 {i} 火锅 hotpot", "", "群", speaker)]
        rows += [("9@chatroom", True, T0 + 100 * i + 30, f"我也去 {i}", "", "群", "")]
    repeated = "a long enough message that is sent again and again to look like a forward ok"
    rows += [("10", False, T0 + 20000 + 10 * i, repeated, "Bo", "Bob", "Bob") for i in range(3)]
    rows += [("10", True, T0 + 20100, "stop forwarding", "Bo", "Bob", "Bob")]
    for session in range(30):
        rows += conversation("11", "小雨", T0 + 90000 + 10000 * session, pairs=2)
    return shape_e(folder / "messages.csv", rows)


def _generated(folder: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from bench.ingest import generate

    path = folder / "messages.csv"
    generate(path, GENERATED_MESSAGES)
    return path


def _words(folder: Path) -> Path:
    path = folder / "words.txt"
    path.write_text("# private words\n火锅\nre:test@\\w+\n", encoding="utf-8")
    return path


# case -> (export, extra options; a Path-making callable is replaced by what it writes)
CASES: dict[str, tuple[Callable[[Path], Path], tuple]] = {
    "memotrace_sample": (_sample("memotrace_sample"), ()),
    "memotrace_sample_options": (
        _sample("memotrace_sample"),
        ("--llamafactory", "--include-groups", "--max-turns", "4", "--session-gap", "600"),
    ),
    "memory_sample": (_sample("memory_sample"), ()),
    "rhythm_sample": (_sample("rhythm_sample"), ()),
    "crafted": (_crafted, ("--include-groups", "--max-tokens", "300")),
    "crafted_words": (_crafted, ("--include-groups", "--redact-words", _words)),
    "crafted_no_privacy": (_crafted, ("--no-privacy", "--llamafactory")),
    "generated": (_generated, ()),
    "generated_groups": (_generated, ("--include-groups", "--llamafactory")),
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def memory_rows(path: Path) -> dict[str, str]:
    """Each table's rows (every table sqlite_master lists, the FTS5 index's shadow tables too), sorted, hashed."""
    conn = sqlite3.connect(path)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        digests = {"sqlite_master": _sha(repr(schema).encode())}
        for table in tables:
            rows = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{table}"'))
            digests[table] = _sha("\n".join(rows).encode())
        return digests
    finally:
        conn.close()


def digests_of(case: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Run the case in `folder` (relative paths, so report.json names no temporary folder)."""
    make, options = CASES[case]
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(folder)
    export = make(folder).relative_to(folder)
    args = [option(folder).relative_to(folder) if callable(option) else option for option in options]
    result = run_data(export, "--out", "data", *args)
    assert result.exit_code == 0, result.output
    out = folder / "data"
    files = sorted(p for p in out.rglob("*") if p.is_file())
    digests: dict[str, object] = {
        str(p.relative_to(out)): _sha(p.read_bytes()) for p in files if p.name != "memory.sqlite"
    }
    if (out / "memory.sqlite").exists():
        digests["memory.sqlite rows"] = memory_rows(out / "memory.sqlite")
    return digests


@pytest.mark.parametrize("case", list(CASES))
def test_outputs_equal_mains(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = json.loads(DIGESTS.read_text(encoding="utf-8"))[case]
    assert digests_of(case, tmp_path / case, monkeypatch) == expected


def record() -> None:
    """Write import_digests.json from the code as it is now (see the module docstring for when)."""
    import tempfile

    recorded = {}
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as monkeypatch:
        for case in CASES:
            recorded[case] = digests_of(case, Path(tmp) / case, monkeypatch)
    DIGESTS.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    record()
