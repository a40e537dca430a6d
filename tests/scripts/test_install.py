"""scripts/install picks torch's index the way the README says, tested offline on loopback.

Two package indexes run in this process on 127.0.0.1: one plays the PyTorch CPU index and serves
a tiny stand-in `torch 2.13.0+cpu` wheel built here; the other plays PyPI and serves a stand-in
`torch 2.13.0` that reports a CUDA build, as PyPI's Linux wheel does. pip runs with no
configuration files (PIP_CONFIG_FILE=/dev/null), so this machine's wheel directory and extra
indexes play no part. An unreachable CPU index is a closed port (refused at once) or a port that
accepts and never answers (the probe gives up after ATTNFLOW_TORCH_PROBE_S). Each case makes its
own virtualenv through the script and installs torch only (`--torch-only`): seconds, not minutes.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install"
TORCH_PIN = next(
    line.split("==", 1)[1].strip()
    for line in (ROOT / "constraints.txt").read_text().splitlines()
    if line.startswith("torch==")
)
RUN_TIMEOUT_S = 120  # a bound on a broken run, not a measure of a good one


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_torch_wheel(directory: Path, version: str, cuda: str | None, origin: str) -> Path:
    """A pure-Python wheel named torch: `torch.__version__`, `torch.version.cuda`, and
    `torch.ORIGIN` saying which index it came from."""
    files = {
        "torch/__init__.py": (
            f"from torch import version\n__version__ = {version!r}\nORIGIN = {origin!r}\n"
        ).encode(),
        "torch/version.py": f"cuda = {cuda!r}\n".encode(),
    }
    info = f"torch-{version}.dist-info"
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: attnflow-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"torch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@dataclass
class Index:
    """A PEP 503 'simple' index on 127.0.0.1 with one project, torch; remembers what was asked."""

    url: str
    requests: list[str] = field(default_factory=list)

    def served_torch(self) -> bool:
        return any(path.endswith(".whl") for path in self.requests)


def _handler(root: Path, index: Index) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            index.requests.append(self.path)

    return Handler


@contextmanager
def serve_index(root: Path, wheel: Path) -> Iterator[Index]:
    project = root / "simple" / "torch"
    project.mkdir(parents=True)
    shutil.copy(wheel, project / wheel.name)
    (project / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="{wheel.name}">{wheel.name}</a></body></html>\n'
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), None)  # type: ignore[arg-type]
    index = Index(url=f"http://127.0.0.1:{server.server_address[1]}/simple")
    server.RequestHandlerClass = _handler(root, index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@dataclass
class Indexes:
    cpu: Index
    pypi: Index


@pytest.fixture
def indexes(tmp_path: Path) -> Iterator[Indexes]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    cpu_wheel = build_torch_wheel(wheels, f"{TORCH_PIN}+cpu", None, "cpu-index")
    pypi_wheel = build_torch_wheel(wheels, TORCH_PIN, "13.0", "pypi")
    with (
        serve_index(tmp_path / "cpu", cpu_wheel) as cpu,
        serve_index(tmp_path / "pypi", pypi_wheel) as pypi,
    ):
        yield Indexes(cpu=cpu, pypi=pypi)


@dataclass
class Result:
    returncode: int
    output: str
    venv: Path
    seconds: float

    def torch(self) -> tuple[str, str | None, str]:
        """(__version__, version.cuda, ORIGIN) of the torch in the new virtualenv."""
        probe = "import torch; print(torch.__version__, torch.version.cuda, torch.ORIGIN)"
        out = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", probe],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
        return out[0], None if out[1] == "None" else out[1], out[2]


def install(tmp_path: Path, cpu_index: str, pypi: Index, *args: str, **env: str) -> Result:
    """scripts/install in a clean environment: no active virtualenv, no pip configuration."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "ATTNFLOW_"))}
    clean.pop("VIRTUAL_ENV", None)
    venv = tmp_path / "venv"
    clean.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL=pypi.url,
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        ATTNFLOW_VENV=str(venv),
        ATTNFLOW_TORCH_CPU_INDEX=cpu_index,
        ATTNFLOW_TORCH_PROBE_S="1",
        **env,
    )
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    seconds = time.monotonic() - started
    print(f"scripts/install {' '.join(args)}: {seconds:.1f} s\n{proc.stdout}{proc.stderr}")
    return Result(proc.returncode, proc.stdout + proc.stderr, venv, seconds)


needs_no_gpu = pytest.mark.skipif(
    shutil.which("nvidia-smi") is not None,
    reason="`--torch auto` chooses pip's index where nvidia-smi lists a GPU",
)


@needs_no_gpu
def test_auto_takes_the_cpu_index_when_it_answers(tmp_path, indexes):
    result = install(tmp_path, indexes.cpu.url, indexes.pypi, "--torch-only")
    assert result.returncode == 0, result.output
    assert result.torch() == (f"{TORCH_PIN}+cpu", None, "cpu-index")
    assert f"torch from {indexes.cpu.url} (no NVIDIA GPU, and the CPU index answers)" in (
        result.output
    )
    assert f"done: torch {TORCH_PIN}+cpu, the CPU build" in result.output
    assert indexes.cpu.served_torch(), indexes.cpu.requests
    assert indexes.pypi.requests == []  # --no-deps: nothing else was fetched


@needs_no_gpu
def test_auto_falls_back_to_pips_index_when_the_cpu_index_refuses(tmp_path, indexes):
    closed = f"http://127.0.0.1:{free_port()}/whl/cpu"
    result = install(tmp_path, closed, indexes.pypi, "--torch-only")
    assert result.returncode == 0, result.output
    assert result.torch() == (TORCH_PIN, "13.0", "pypi")
    assert f"the CPU index {closed}: connection refused; falling back to pip's index" in (
        result.output
    )
    # A CPU machine that got the CUDA build is told so, and how to get the CPU one.
    assert f"done: torch {TORCH_PIN}, a CUDA 13.0 build" in result.output
    assert "scripts/install --torch cpu" in result.output
    assert indexes.pypi.served_torch(), indexes.pypi.requests
    assert indexes.cpu.requests == []


@needs_no_gpu
def test_auto_gives_up_on_a_silent_cpu_index_after_the_probe_time(tmp_path, indexes):
    with silent_port() as port:
        silent = f"http://127.0.0.1:{port}/whl/cpu"
        result = install(tmp_path, silent, indexes.pypi, "--torch-only")
    assert result.returncode == 0, result.output
    # The probe's own limit (ATTNFLOW_TORCH_PROBE_S=1) ended the wait, not pip's retries.
    assert f"the CPU index {silent}: no answer within 1 s; falling back" in result.output
    assert result.torch() == (TORCH_PIN, "13.0", "pypi")


def test_torch_cpu_insists_on_the_cpu_index(tmp_path, indexes):
    closed = f"http://127.0.0.1:{free_port()}/whl/cpu"
    result = install(tmp_path, closed, indexes.pypi, "--torch", "cpu", "--torch-only")
    assert result.returncode == 1, result.output
    assert f"--torch cpu: the CPU index {closed}: connection refused" in result.output
    assert indexes.pypi.requests == []
    assert not list(result.venv.glob("lib/python*/site-packages/torch"))

    result = install(tmp_path, indexes.cpu.url, indexes.pypi, "--torch", "cpu", "--torch-only")
    assert result.returncode == 0, result.output
    assert result.torch() == (f"{TORCH_PIN}+cpu", None, "cpu-index")


def test_a_gpu_user_chooses_pips_index_or_any_other(tmp_path, indexes):
    result = install(tmp_path, indexes.cpu.url, indexes.pypi, "--torch", "pypi", "--torch-only")
    assert result.returncode == 0, result.output
    assert result.torch() == (TORCH_PIN, "13.0", "pypi")
    assert indexes.cpu.requests == []  # not even probed

    # Any index URL, e.g. https://download.pytorch.org/whl/cu126; here the stand-in CPU one.
    other = tmp_path / "second"
    other.mkdir()
    unused = f"http://127.0.0.1:{free_port()}/unused"
    result = install(other, unused, indexes.pypi, "--torch", indexes.cpu.url, "--torch-only")
    assert result.returncode == 0, result.output
    assert result.torch() == (f"{TORCH_PIN}+cpu", None, "cpu-index")
    assert f"torch from {indexes.cpu.url} (--torch {indexes.cpu.url})" in result.output


def test_never_installs_into_a_python_outside_a_virtualenv(tmp_path, indexes):
    base = Path(sys.base_prefix)
    result = install(tmp_path, indexes.cpu.url, indexes.pypi, VIRTUAL_ENV=str(base))
    assert result.returncode == 1, result.output
    # Refused either way: no python3 in that prefix, or one that is not a virtualenv's.
    assert "is not a virtualenv's Python" in result.output or (
        f"{base}/bin/python3 is missing: is {base} a virtualenv?" in result.output
    ), result.output
    assert indexes.cpu.requests == []
    assert indexes.pypi.requests == []


def test_dry_run_prints_the_two_pip_steps(tmp_path, indexes):
    result = install(tmp_path, indexes.cpu.url, indexes.pypi, "test", "client", "--dry-run")
    assert result.returncode == 0, result.output
    steps = [line for line in result.output.splitlines() if line.startswith("install: $ ")]
    assert len(steps) == 2, result.output
    assert steps[0].endswith(f"--no-deps --index-url {indexes.cpu.url} torch")
    assert steps[1].endswith(f"-e {ROOT}[test,client]")
    assert indexes.cpu.served_torch() is False  # probed, nothing installed
    assert not list(result.venv.glob("lib/python*/site-packages/torch"))


def test_auto_on_a_gpu_machine_takes_pips_cuda_build_without_probing(tmp_path, indexes):
    # No GPU here, so `nvidia-smi` is a stand-in that answers as the real one does on a GPU box
    # (`nvidia-smi -L`: one "GPU n: ..." line per device); the script reads nothing else.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text('#!/bin/sh\n[ "$1" = -L ] && echo "GPU 0: NVIDIA H200 (UUID: GPU-0)"\n')
    fake.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    result = install(tmp_path, indexes.cpu.url, indexes.pypi, "--torch-only", PATH=path)
    assert result.returncode == 0, result.output
    assert "an NVIDIA GPU is present (nvidia-smi -L)" in result.output
    assert result.torch() == (TORCH_PIN, "13.0", "pypi")
    assert f"done: torch {TORCH_PIN}, a CUDA 13.0 build" in result.output
    assert "note: no NVIDIA GPU" not in result.output
    assert indexes.cpu.requests == []
