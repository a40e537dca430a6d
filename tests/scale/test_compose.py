"""compose.yaml's scale-out (profile `scale`) agrees with scripts/scaleout: every replica shares
the data dir and is in nginx's upstreams, nginx's published port is the one it listens on, and
the config it renders passes `nginx -t`. (No compose runs here; this is what can be checked.)"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from scripts.scaleout.cluster import RENDER, nginx_binary

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parents[2]
APP_PORT = 8000  # the image's ATTNFLOW_PORT (Dockerfile)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def render_arguments(compose: dict) -> list[str]:
    """The render-nginx.sh arguments in nginx's command: TEMPLATE LISTEN PREFIX SERVER..."""
    words = shlex.split(compose["services"]["nginx"]["command"][-1])
    start = next(i for i, word in enumerate(words) if word.endswith("render-nginx.sh")) + 1
    return words[start : words.index(">")]


def replicas(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in compose["services"].items() if n.startswith("replica-")}


def test_the_single_service_stays_the_default(compose):
    single = compose["services"]["attnflow"]
    assert "profiles" not in single
    for name, service in compose["services"].items():
        assert name == "attnflow" or service["profiles"] == ["scale"], name


def test_every_replica_shares_one_data_dir_and_publishes_nothing(compose):
    assert len(replicas(compose)) >= 2
    for name, service in replicas(compose).items():
        assert "ATTNFLOW_SHARED_DATA_DIR=true" in service["environment"], name
        assert "ATTNFLOW_DATA_DIR=/data" in service["environment"], name
        assert service["volumes"] == ["attnflow-shared:/data"], name
        assert "ports" not in service, name
    assert "attnflow-shared" in compose["volumes"]
    assert "attnflow-shared:/data" not in compose["services"]["attnflow"]["volumes"]


def test_nginx_routes_to_exactly_the_replicas_and_publishes_its_listen_port(compose):
    nginx = compose["services"]["nginx"]
    template, listen, _prefix, *servers = render_arguments(compose)
    assert sorted(servers) == sorted(f"{name}:{APP_PORT}" for name in replicas(compose))
    assert sorted(nginx["depends_on"]) == sorted(replicas(compose))
    [published] = nginx["ports"]
    assert published.startswith("${ATTNFLOW_BIND:-127.0.0.1}:")  # loopback unless asked
    assert published.rsplit(":", 1)[1] == listen
    mount, target = nginx["volumes"][0].removesuffix(":ro").split(":")
    assert (ROOT / mount / Path(template).relative_to(target)).is_file()


def test_the_config_nginx_renders_in_compose_passes_nginx_t(compose, tmp_path):
    try:
        nginx = nginx_binary()
    except RuntimeError as missing:
        pytest.skip(str(missing))
    template, listen, _prefix, *servers = render_arguments(compose)
    local = [f"127.0.0.1:{s.rsplit(':', 1)[1]}" for s in servers]  # no compose DNS here
    template = str(ROOT / "scripts" / "scaleout" / Path(template).name)
    rendered = subprocess.run(
        ["sh", RENDER, template, listen, str(tmp_path), *local],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.findall(r"@(?:LISTEN|UPSTREAMS|PREFIX)@", rendered) == []
    (tmp_path / "nginx.conf").write_text(rendered)
    test = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert test.returncode == 0, test.stderr


@pytest.mark.parametrize("script", ["render-nginx.sh", "setup-nginx.sh"])
def test_the_scaleout_scripts_parse(script):
    shell = "sh" if script == "render-nginx.sh" else "bash"  # the first runs in the nginx image
    path = ROOT / "scripts" / "scaleout" / script
    check = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
