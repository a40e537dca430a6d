"""README's settings list names every field of app/settings.py, with the right defaults."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
NAME = re.compile(r"`([A-Z][A-Z0-9_]+)`")
# `NAME` [number (MiB)...: the default as the README states it, when it starts with a number.
NUMERIC_DEFAULT = re.compile(r"`([A-Z][A-Z0-9_]+)` \[(\d+(?:\.\d+)?)(?![\d.])( MiB)?")


def settings_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^### Settings\n(.*?)(?=^#)", text, re.S | re.M)
    assert match, "README.md should have a '### Settings' section"
    return match.group(1)


def test_every_setting_is_listed_and_nothing_else():
    fields = {name.upper() for name in Settings.model_fields}
    listed = {name for name in NAME.findall(settings_section()) if not name.startswith("ATTNFLOW_")}
    assert fields - listed == set(), "settings missing from README's list"
    assert listed - fields == set(), "README lists settings that do not exist"


def test_listed_numeric_defaults_are_the_real_ones():
    defaults = Settings.model_fields
    stated = NUMERIC_DEFAULT.findall(settings_section())
    assert len(stated) >= 15, stated  # most settings are numbers; the pattern must find them
    for name, number, mib in stated:
        value = float(number) * (1024 * 1024 if mib else 1)
        default = defaults[name.lower()].default
        assert value == float(default), f"{name}: README says {number}{mib}, Settings has {default}"
