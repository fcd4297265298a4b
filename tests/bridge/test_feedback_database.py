"""Where the bridge keeps its feedback (and its own tables): the data folder's SQLite file by default, or a
PostgreSQL database it shares with the server's replicas (`feedback_db`, TWIN_FEEDBACK_DB, `--feedback-db`)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from wechat_twin.bridge.cli import app
from wechat_twin.bridge.config import load_config
from wechat_twin.feedback.store import FeedbackStore

URL = "postgresql://twin@db.internal/twin"


def test_the_default_is_the_data_folders_file_and_a_url_stays_a_url(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TWIN_FEEDBACK_DB", raising=False)
    assert load_config(None, data_dir=tmp_path).database == tmp_path / "feedback.db"
    settings = tmp_path / "bridge.toml"
    settings.write_text(f'feedback_db = "{URL}"\n', encoding="utf-8")
    assert load_config(settings).database == URL, "a Path would fold postgresql:// into postgresql:/"
    monkeypatch.setenv("TWIN_FEEDBACK_DB", str(tmp_path / "env.db"))
    assert load_config(settings).database == tmp_path / "env.db", "the environment overrides the file"
    assert load_config(settings, feedback_db=URL + "2").database == URL + "2", "the command line overrides both"


def test_export_feedback_reads_a_postgresql_database(postgres_url: str, tmp_path: Path) -> None:
    store = FeedbackStore(postgres_url)
    pair = store.record_exchange("@a", "A", "alice", None, [{"role": "user", "content": "hi"}], candidates=["a", "b"])
    store.record_choice(pair, 0, "owner")
    store.close()
    result = CliRunner().invoke(app, ["export-feedback", "--db", postgres_url, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "1 preference pairs and 0 labels" in result.output
    assert (tmp_path / "out" / "preference.jsonl").read_text(encoding="utf-8").count("\n") == 1


def test_export_feedback_names_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export-feedback", "--db", str(tmp_path / "nope.db"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "nope.db: no feedback database there" in result.output
