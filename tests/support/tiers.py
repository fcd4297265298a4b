"""The test tiers, given by the fixtures a test uses, so that a new test lands in the right one by default.

- `engine`: the test depends on the engine `--engine` picks (it uses `engine_name`, directly or through the
  shared server or another fixture). scripts/test.sh runs these once more on the transformers engine.
- `slow`: the test trains or starts a model engine; every `engine` test is one. A fixture that trains or
  starts an engine says so with `@slow_fixture`; a test that trains inline carries `pytest.mark.slow`.
- `browser`: the test drives Chromium (the `browser` fixture).

`pytest -m "not slow"` is the quick loop.

One tier is declared by the test module instead, since no fixture can tell it: `serial` (`pytestmark`), for
tests that bound the server's wall-clock time. scripts/test.sh runs everything else on two pytest-xdist workers
and these alone afterwards, where no other worker's training skews the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

Fixture = TypeVar("Fixture", bound=Callable)
_SLOW = "twin_trains_or_starts_an_engine"


def slow_fixture(function: Fixture) -> Fixture:
    """Mark a fixture function (under its `@pytest.fixture`) as one that trains or starts an engine."""
    setattr(function, _SLOW, True)
    return function


def tiers(item: pytest.Item) -> list[str]:
    """The tier markers `item` gets from its fixtures (their whole closure)."""
    names = getattr(item, "fixturenames", ())
    definitions = getattr(item, "_fixtureinfo", None)
    found = []
    if "engine_name" in names:
        found.append("engine")
    heavy = definitions is not None and any(
        getattr(definition.func, _SLOW, False)
        for name in names
        for definition in definitions.name2fixturedefs.get(name, ())
    )
    if "engine" in found or heavy:
        found.append("slow")
    if "browser" in names:
        found.append("browser")
    return found
