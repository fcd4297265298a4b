"""The chat page's two text tables (no browser): the same keys and placeholders, and every key the pages use
(the chat page and its blind test share the tables)."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from wechat_twin.server.web.router import STATIC_DIR

LANGUAGES = ("zh", "en")
PAGES = ("index.html", "blind.html")


def _table(language: str) -> dict[str, str]:
    return json.loads((STATIC_DIR / f"texts.{language}.json").read_text(encoding="utf-8"))


def _scripts(page_html: str) -> list[str]:
    """The files a page's <script> tags load, in order."""
    html = (STATIC_DIR / page_html).read_text(encoding="utf-8")
    return re.findall(r'<script src="/chat/static/([\w.]+\.js)"', html)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def table_differences(tables: dict[str, dict[str, str]]) -> list[str]:
    """What keeps two tables from being one table in two languages: a key in one only, or other placeholders."""
    problems = []
    (first, a), (second, b) = tables.items()
    problems += [f"{key!r} is in texts.{first}.json only" for key in sorted(a.keys() - b.keys())]
    problems += [f"{key!r} is in texts.{second}.json only" for key in sorted(b.keys() - a.keys())]
    for key in sorted(a.keys() & b.keys()):
        if _placeholders(a[key]) != _placeholders(b[key]):
            problems.append(f"{key!r}: {sorted(_placeholders(a[key]))} against {sorted(_placeholders(b[key]))}")
    return problems


def test_both_tables_have_the_same_keys_and_placeholders():
    assert table_differences({language: _table(language) for language in LANGUAGES}) == []


@pytest.mark.parametrize("only_in", LANGUAGES)
def test_a_string_added_to_one_table_only_is_caught(only_in):
    tables = {language: _table(language) for language in LANGUAGES}
    tables[only_in]["new_button"] = "New button"
    assert table_differences(tables) == [f"'new_button' is in texts.{only_in}.json only"]
    tables[only_in].pop("new_button")
    tables[only_in]["who_clone"] = tables[only_in]["who_clone"].replace("{base}", "{model}")
    assert len(table_differences(tables)) == 1


def test_every_key_the_page_uses_is_in_the_tables_and_every_key_is_used():
    keys = _table("en").keys()
    used_in_html: set[str] = set()
    script = ""
    for page_html in PAGES:
        html = (STATIC_DIR / page_html).read_text(encoding="utf-8")
        code = "\n".join((STATIC_DIR / name).read_text(encoding="utf-8") for name in _scripts(page_html))
        in_html = set(re.findall(r'data-t(?:-[a-z-]+)?="(\w+)"', html))
        in_script = set(re.findall(r'\b(?:t|textButton|button|askForKey)\("(\w+)"', code))
        assert in_html and in_script
        assert in_html - keys == set() and in_script - keys == set(), page_html
        used_in_html |= in_html
        script += code
    # A key only some code path names (a ternary, a `_title` that textButton adds) still appears quoted.
    titled = {f"{key}_title" for key in re.findall(r'textButton\("(\w+)"', script)}
    unused = {key for key in keys if key not in used_in_html | titled and f'"{key}"' not in script}
    assert unused == set()


@pytest.mark.parametrize("page", PAGES)
def test_the_page_loads_the_shared_script_before_its_own(page):
    """common.js holds what both pages use (language, key prompt, HTTP): each page's own script needs it first."""
    scripts = _scripts(page)
    assert scripts[0] == "common.js" and len(scripts) == 2, scripts
    assert all((STATIC_DIR / name).is_file() for name in scripts)


@pytest.mark.parametrize("page", PAGES)
def test_the_page_has_no_text_of_its_own_outside_the_tables(page):
    html = (STATIC_DIR / page).read_text(encoding="utf-8")
    body = re.sub(r"<!--.*?-->", "", html.split("<body>", 1)[1], flags=re.S)
    text = re.sub(r"<[^>]+>", " ", body)
    assert text.split() == []
    assert not re.search(r'(?<![\w-])(?:placeholder|title|aria-label)="', body)


def test_the_tables_ship_in_the_package():
    pyproject = (Path(__file__).parents[3] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"wechat_twin.server.web" = ["static/*"]' in pyproject
    assert {path.name for path in STATIC_DIR.glob("texts.*.json")} == {f"texts.{lang}.json" for lang in LANGUAGES}
