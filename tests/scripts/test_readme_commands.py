"""The README's two quick-start commands: one line each, a virtualenv, and what .ci/run runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = "python3 -m venv .venv && . .venv/bin/activate && scripts/install"


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, re.S | re.M)
    assert section, "README.md should have a '## Quick start' section"
    return re.findall(r"```bash\n(.*?)```", section.group(1), re.S)


def test_two_single_line_commands_that_make_and_use_a_virtualenv():
    start, tests = quick_start_commands()
    for command in (start, tests):
        assert command.count("\n") == 1, command  # one line (plus the block's last newline)
        assert command.startswith(VENV), command
    assert start.strip().endswith("&& attnflow")
    assert tests.strip() == f"{VENV} test && python -m pytest"


def test_ci_runs_the_readme_test_command_verbatim_in_its_venv():
    ci = (ROOT / ".ci" / "run").read_text()
    _, tests = quick_start_commands()
    assert f"\n{tests.strip()} || exit\n" in ci
    # Nothing is pip-installed into the machine's interpreter.
    assert not re.search(r"^\s*(python3 -m )?pip3? install", ci, re.M), ci


def test_the_shell_scripts_parse():
    for script in (ROOT / "scripts" / "install", ROOT / ".ci" / "run"):
        check = subprocess.run(
            ["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False
        )
        assert check.returncode == 0, check.stderr
