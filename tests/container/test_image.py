"""Build the real Dockerfile with podman, run the image and drive the API through it.

    python3 -m pytest -m container tests/container -q      (scripts/container/ci.sh does setup)

No Docker engine and no container registry here, so: rootful podman (runc, cgroupfs; see
scripts/container/setup-podman.sh), a locally made base image (localhost/attnflow-base:bookworm,
scripts/container/make-base-image.sh, kept between runs), the torch CPU wheel mounted from the
host's wheel directory, host networking bound to 127.0.0.1 on a free port.

Environment knobs: ATTNFLOW_TEST_BASE_IMAGE (default localhost/attnflow-base:bookworm; made by
make-base-image.sh when missing), ATTNFLOW_TEST_IMAGE (tag to build, default
localhost/attnflow:test), ATTNFLOW_TORCH_WHEELS (host wheel dir, default /opt/wheels; without a
torch wheel there the build uses the Dockerfile's default CPU index), ATTNFLOW_TEST_CONTEXT (build
context, default the repository root).
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

Completed = subprocess.CompletedProcess[str]

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "container"
BASE_IMAGE = os.environ.get("ATTNFLOW_TEST_BASE_IMAGE", "localhost/attnflow-base:bookworm")
IMAGE = os.environ.get("ATTNFLOW_TEST_IMAGE", "localhost/attnflow:test")
WHEELS = Path(os.environ.get("ATTNFLOW_TORCH_WHEELS", "/opt/wheels"))
CONTEXT = Path(os.environ.get("ATTNFLOW_TEST_CONTEXT", str(ROOT)))

BUILD_TIMEOUT_S = 3600
HEALTHY_TIMEOUT_S = 180
STOP_GRACE_S = 10
TRAIN_STEPS = 20
MAX_IMAGE_BYTES = 1_000_000_000  # 1,000 MB: the CPU torch is most of it


# ------------------------------------------------------------------------------------------------
# podman plumbing


def _podman_unusable() -> str | None:
    """Why podman cannot run containers here, or None when it can."""
    podman = shutil.which("podman")
    if podman is None:
        return "podman is not installed (scripts/container/setup-podman.sh installs it, as root)"
    if os.geteuid() != 0:
        return "the container test uses rootful podman and must run as root"
    try:
        info = subprocess.run(
            [podman, "info", "--format", "{{.Host.OCIRuntime.Name}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`podman info` failed: {exc}"
    if info.returncode != 0:
        return f"`podman info` failed: {info.stderr.strip()[-500:]}"
    return None


def podman(*args: str, timeout: float = 120, check: bool = True) -> Completed:
    proc = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {proc.returncode}\n"
            f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
        )
    return proc


def _ulimit_args() -> list[str]:
    """Ulimits the host can grant: podman's defaults ask for more and fail (RLIMIT error).

    setup-podman.sh puts these in containers.conf too; passing them keeps the test independent.
    """
    args = []
    for name, res, want in (
        ("nofile", resource.RLIMIT_NOFILE, 20000),
        ("nproc", resource.RLIMIT_NPROC, 32768),
    ):
        hard = resource.getrlimit(res)[1]
        value = want if hard == resource.RLIM_INFINITY else min(want, hard)
        args += ["--ulimit", f"{name}={value}:{value}"]
    return args


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _has_torch_wheel(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("torch-*.whl"))


# ------------------------------------------------------------------------------------------------
# HTTP through the container's port


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: Any = None, timeout: float = 120) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, dict(err.headers.items()), err.read())


# ------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def podman_ready() -> None:
    reason = _podman_unusable()
    if reason is not None:
        pytest.skip(f"podman cannot run here: {reason}")


@pytest.fixture(scope="module")
def base_image(podman_ready: None) -> str:
    """The local stand-in for python:3.11-slim-bookworm, made once and then kept."""
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        if BASE_IMAGE != "localhost/attnflow-base:bookworm":
            pytest.fail(f"base image {BASE_IMAGE} does not exist (make it, or unset the variable)")
        made = subprocess.run(
            [str(SCRIPTS / "make-base-image.sh")],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert made.returncode == 0, f"make-base-image.sh failed:\n{made.stderr[-4000:]}"
    return BASE_IMAGE


@pytest.fixture(scope="module")
def image(base_image: str, container_report: dict[str, str], tmp_path_factory) -> str:
    """`podman build` of the repository's Dockerfile, the way docs/deploy.md describes it."""
    args = ["build", "--pull=never", "--format", "docker", "--network", "host"]
    args += ["--build-arg", f"BASE_IMAGE={base_image}", "--tag", IMAGE]
    if _has_torch_wheel(WHEELS):
        args += ["--volume", f"{WHEELS}:/wheels:ro", "--build-arg", "TORCH_FIND_LINKS=/wheels"]
    args.append(str(CONTEXT))
    log = tmp_path_factory.mktemp("build") / "build.log"
    started = time.monotonic()
    with log.open("w") as out:
        # nice: the build shares the machine's cores with other people's tests.
        proc = subprocess.run(
            ["nice", "-n", "10", "podman", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    elapsed = time.monotonic() - started
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, f"podman build failed ({elapsed:.0f} s):\n{text[-6000:]}"
    cached = sum(1 for line in text.splitlines() if line.startswith("--> Using cache"))
    container_report["build"] = f"{elapsed:.1f} s ({cached} cached steps) -> {IMAGE}"
    print(f"\nbuild: {elapsed:.1f} s, {cached} steps from cache")
    return IMAGE


@dataclass
class Running:
    name: str
    url: str
    volume: str


@pytest.fixture(scope="module")
def container(image: str, container_report: dict[str, str]) -> Iterator[Running]:
    tag = uuid.uuid4().hex[:10]
    name, volume, port = f"attnflow-test-{tag}", f"attnflow-test-data-{tag}", _free_port()
    # Only 127.0.0.1 may be used on these machines: host network, the app bound to loopback.
    env = ["--env", "ATTNFLOW_HOST=127.0.0.1", "--env", f"ATTNFLOW_PORT={port}"]
    run = ["run", "--detach", "--pull=never", "--name", name, "--network", "host", *env]
    podman(*run, "--volume", f"{volume}:/data", *_ulimit_args(), image)
    try:
        yield Running(name=name, url=f"http://127.0.0.1:{port}", volume=volume)
    finally:
        logs = podman("logs", name, check=False)
        if logs.returncode == 0:
            print(f"\n--- container logs ({name}) ---\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}")
        podman("rm", "--force", "--time", "0", name, check=False)
        podman("volume", "rm", "--force", volume, check=False)


def _state(name: str) -> dict[str, Any]:
    out = podman("inspect", "--format", "{{json .State}}", name).stdout
    return json.loads(out)


def _wait_healthy(running: Running) -> float:
    """Run the image's own HEALTHCHECK until it passes (no systemd here to schedule it)."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < HEALTHY_TIMEOUT_S:
        state = _state(running.name)
        if not state.get("Running"):
            logs = podman("logs", running.name, check=False)
            pytest.fail(
                f"container exited with {state.get('ExitCode')} before it was healthy:\n"
                f"{logs.stdout[-4000:]}{logs.stderr[-4000:]}"
            )
        check = podman("healthcheck", "run", running.name, check=False, timeout=60)
        if check.returncode == 0:
            return time.monotonic() - started
        last = (check.stdout + check.stderr).strip()
        time.sleep(1)
    pytest.fail(f"not healthy after {HEALTHY_TIMEOUT_S} s; last health check: {last[-1000:]}")


# ------------------------------------------------------------------------------------------------
# tests


def test_image_config(image: str, container_report: dict[str, str]) -> None:
    """What the Dockerfile promises: non-root, HEALTHCHECK, SIGTERM, exec-form CMD, /data, env."""
    inspect = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspect["Config"]
    env = dict(item.split("=", 1) for item in config.get("Env", []))

    user = config.get("User", "")
    assert user, "no USER: runs as root"
    assert user.split(":")[0] not in ("0", "root"), f"runs as {user!r}"
    assert config.get("Cmd") == ["attnflow"], config.get("Cmd")
    assert not config.get("Entrypoint"), f"no shell entrypoint in front: {config.get('Entrypoint')}"
    assert config.get("StopSignal") in ("SIGTERM", "15"), config.get("StopSignal")
    assert "/data" in (config.get("Volumes") or {}), config.get("Volumes")
    assert "8000/tcp" in (config.get("ExposedPorts") or {}), config.get("ExposedPorts")
    assert env.get("ATTNFLOW_HOST") == "0.0.0.0"
    assert env.get("ATTNFLOW_PORT") == "8000"
    assert env.get("ATTNFLOW_DATA_DIR") == "/data"
    health = config.get("Healthcheck") or inspect.get("Healthcheck") or {}
    assert health.get("Test"), "no HEALTHCHECK (an OCI-format build drops it: --format docker)"
    assert "/healthz" in " ".join(health["Test"]), health

    size = int(inspect["Size"])
    container_report["image size"] = f"{size / 1e6:.0f} MB ({size:,} bytes) {image}"
    print(f"\nimage size: {size / 1e6:.0f} MB ({size:,} bytes)")
    # Where the bytes are: du of the final stage's file system, and of its biggest parts.
    # One du per path: a single du call counts each file once, under the first path that has it.
    du = (
        "for p in / /usr /app /opt/venv /opt/venv/lib/python3*/site-packages/*; "
        "do du -sxm $p; done | sort -rn | head -12"
    )
    usage = podman(
        "run",
        "--rm",
        "--pull=never",
        "--network",
        "none",
        "--user",
        "0",
        *_ulimit_args(),
        image,
        "sh",
        "-c",
        du,
    ).stdout
    container_report["du -m"] = " | ".join(" ".join(line.split()) for line in usage.splitlines())
    print(f"du -sxm (MB):\n{usage}")
    assert size <= MAX_IMAGE_BYTES, (
        f"image is {size / 1e6:.0f} MB, above {MAX_IMAGE_BYTES / 1e6:.0f}"
    )

    # Only runtime files: the .dockerignore allow-list keeps tests, docs, .git and caches out,
    # and no CUDA build of torch slipped in.
    probe = (
        "import json, os, torch; print(json.dumps(sorted(os.listdir('/app')))); "
        "print(torch.version.cuda); print(os.getuid())"
    )
    run = ["run", "--rm", "--pull=never", "--network", "none", *_ulimit_args()]
    listing = podman(*run, image, "python", "-c", probe).stdout.strip().splitlines()
    top = json.loads(listing[-3])
    for unwanted in (".git", "tests", "docs", "bench", "scripts", "data", "Dockerfile"):
        assert unwanted not in top, f"/app contains {unwanted}: {top}"
    for wanted in ("app", "model", "templates", "static", "pyproject.toml"):
        assert wanted in top, f"/app lacks {wanted}: {top}"
    assert listing[-2] == "None", f"torch.version.cuda is {listing[-2]}"
    assert listing[-1] != "0", "the container runs as root"


def test_serves_api(container: Running, container_report: dict[str, str]) -> None:
    """Healthy, then: a session, a forward pass, 20 training steps, a safetensors checkpoint."""
    waited = _wait_healthy(container)
    container_report["healthy after"] = f"{waited:.1f} s"
    assert http("GET", f"{container.url}/healthz").json()["status"] == "ok"

    # The page and its static files: templates/ and static/ are found next to the code in /app.
    page = http("GET", f"{container.url}/")
    assert page.status == 200, page.body[:2000]
    assert b"<html" in page.body.lower()
    assets = re.findall(rb"""(?:src|href)=["'](/static/[^"'?#]+)""", page.body)
    assert assets, "the page links no /static/ files"
    asset = http("GET", f"{container.url}{assets[0].decode()}")
    assert asset.status == 200, (assets[0], asset.status)
    # plotly.js comes from the (slimmed) plotly package; /docs from the fastapi-offline one.
    plotly = http("GET", f"{container.url}/static/vendor/plotly.min.js")
    assert plotly.status == 200, plotly.status
    assert len(plotly.body) > 1_000_000, len(plotly.body)  # no Accept-Encoding: the raw file
    docs = http("GET", f"{container.url}/docs")
    assert docs.status == 200, docs.status
    bundle = re.search(rb'src="(/docs-assets/[^"]+\.js)"', docs.body)
    assert bundle, docs.body[:2000]
    assert http("GET", f"{container.url}{bundle.group(1).decode()}").status == 200

    # The data volume is writable by the app's (non-root) user.
    podman("exec", container.name, "python", "-c", "open('/data/.write-probe', 'w').close()")

    created = http("POST", f"{container.url}/api/sessions", {})
    assert created.status == 201, created.body[:2000]
    session = created.json()
    sid = session["id"]
    api = f"{container.url}/api/sessions/{sid}"

    forward = http("POST", f"{api}/forward", {"text": "the cat sat on the mat ."})
    assert forward.status == 200, forward.body[:2000]
    result = forward.json()
    assert result["tokens"], result.keys()
    assert result["stages"], result.keys()
    assert result["predictions"], result.keys()

    train = http("POST", f"{api}/train", {"steps": TRAIN_STEPS})
    assert train.status == 200, train.body[:2000]
    trained = train.json()
    assert trained["step"] == TRAIN_STEPS
    assert len(trained["records"]) == TRAIN_STEPS
    losses = [record["loss"] for record in trained["records"]]
    assert all(math.isfinite(loss) for loss in losses), losses
    assert trained.get("diverged") is None, trained["diverged"]

    info = http("GET", api).json()
    assert info["step"] == TRAIN_STEPS, info

    checkpoint = http("GET", f"{api}/checkpoint")
    assert checkpoint.status == 200, checkpoint.body[:2000]
    blob = checkpoint.body
    assert len(blob) > 8, len(blob)
    (header_len,) = struct.unpack("<Q", blob[:8])
    assert 0 < header_len <= len(blob) - 8, (header_len, len(blob))
    header = json.loads(blob[8 : 8 + header_len])
    assert "__metadata__" in header, sorted(header)[:10]
    container_report["checkpoint"] = f"{len(blob):,} bytes, header {header_len:,} bytes"


def test_stops_cleanly_on_sigterm(container: Running, container_report: dict[str, str]) -> None:
    """`podman stop -t 10` sends SIGTERM to uvicorn (PID 1); it must exit by itself, cleanly."""
    _wait_healthy(container)
    started = time.monotonic()
    podman("stop", "--time", str(STOP_GRACE_S), container.name, timeout=STOP_GRACE_S + 60)
    elapsed = time.monotonic() - started
    container_report["stop (SIGTERM)"] = f"{elapsed:.1f} s"
    print(f"\nstopped in {elapsed:.1f} s")

    state = _state(container.name)
    out = podman("logs", container.name)
    logs = out.stdout + out.stderr
    assert not state.get("Running"), state
    # Had SIGTERM been ignored, podman would have waited the full grace period, then SIGKILLed.
    assert elapsed < STOP_GRACE_S, f"took {elapsed:.1f} s: SIGTERM did not stop it\n{logs[-3000:]}"
    assert state.get("ExitCode") == 0, f"exit code {state.get('ExitCode')}\n{logs[-3000:]}"
    assert not state.get("OOMKilled"), state
    assert "Traceback" not in logs, logs[-4000:]
    clean = re.search(r"shutdown complete|finished server process", logs, re.IGNORECASE)
    assert clean, f"no clean-shutdown line in the logs:\n{logs[-3000:]}"
