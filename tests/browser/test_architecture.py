"""The page's module boundaries (issue 8 item 5), read from the sources: no browser needed."""

from __future__ import annotations

import re
from pathlib import Path

JS = Path(__file__).resolve().parents[2] / "static" / "js"
IMPORT = re.compile(r"""^import .* from "([^"]+)";""", re.MULTILINE)


def imports(path: Path) -> list[str]:
    return [
        (path.parent / m).resolve().relative_to(JS).as_posix()
        for m in IMPORT.findall(path.read_text())
    ]


def test_only_the_controller_talks_to_the_server():
    callers = sorted(
        p.relative_to(JS).as_posix() for p in JS.rglob("*.js") if "api.js" in imports(p)
    )
    assert callers == ["control/controller.js"]
    for path in JS.rglob("*.js"):
        if not path.is_relative_to(JS / "control"):
            assert "fetch(" not in path.read_text() or path.name == "api.js", path
            assert "WebSocket" not in path.read_text() or path.name == "api.js", path


def test_views_import_no_controller_and_no_other_view_state():
    for path in (JS / "views").glob("*.js"):
        for target in imports(path):
            assert not target.startswith("control/"), (path.name, target)
            assert target != "main.js", path.name


def test_the_stream_message_types_are_listed_once():
    types = ["hello", "step", "eval", "attention", "run", "compare", "compare_done", "bye"]
    holders = [p for p in JS.rglob("*.js") if re.search(r"\bcompare_done\b", p.read_text())]
    assert [p.relative_to(JS).as_posix() for p in holders] == ["control/controller.js"]
    text = holders[0].read_text()
    for kind in types:
        assert re.search(rf"^\s+{kind}: \(", text, re.MULTILINE), kind


def test_no_view_creates_or_deletes_sessions():
    for path in (JS / "views").glob("*.js"):
        text = path.read_text()
        assert "createSession" not in text, path.name
        assert "deleteSession" not in text, path.name
