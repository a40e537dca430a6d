"""The README's API round trips (curl and Python), run as written against a live uvicorn server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def api_section() -> str:
    """README text from its "## API" heading to the next second-level heading."""
    match = re.search(r"^## API\n(.*?)(?=^## )", README.read_text(encoding="utf-8"), re.S | re.M)
    assert match, "README.md should have an '## API' section"
    return match.group(1)


def code_block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", api_section(), re.S)
    assert len(blocks) == 1, f"README's API section should hold one {language} block"
    return blocks[0]


def sessions_on(server_url: str) -> int:
    """The server's own count of sessions in memory (the attnflow_sessions gauge)."""
    with urllib.request.urlopen(f"{server_url}/metrics", timeout=30) as response:
        text = response.read().decode()
    match = re.search(r"^attnflow_sessions (\d+)", text, re.M)
    assert match, text
    return int(match.group(1))


def run(command: list[str], server_url: str, cwd: Path) -> str:
    """Run an example; it must leave the server with the sessions it found (it deletes its own)."""
    env = {**os.environ, "ATTNFLOW_URL": server_url}
    before = sessions_on(server_url)
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sessions_on(server_url) == before, "the example left sessions behind"
    return result.stdout


@pytest.mark.slow
def test_the_python_round_trip_in_the_docs_runs(live_server, tmp_path):
    script = tmp_path / "roundtrip.py"
    script.write_text(code_block("python"), encoding="utf-8")
    out = run([sys.executable, str(script)], live_server.url, tmp_path)
    assert "imported at step 50" in out
    assert "run finished at step 80 (30 step messages)" in out
    assert "history: 80 steps" in out


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash"
)
def test_the_curl_round_trip_in_the_docs_runs(live_server, tmp_path):
    out = run(["bash", "-euo", "pipefail", "-c", code_block("bash")], live_server.url, tmp_path)
    assert "imported at step 50" in out
    assert "4 heads, 7 tokens" in out
    assert (tmp_path / "run.safetensors").stat().st_size > 0
    assert (tmp_path / "metrics.csv").read_text().startswith("step,loss")
