# attnflow: FastAPI + PyTorch (CPU) app that shows how a transformer block learns.
#
#   docker build -t attnflow .
#   docker run --rm -p 127.0.0.1:8000:8000 -v attnflow-data:/data attnflow
#
# Build arguments
#   BASE_IMAGE        any Debian/Ubuntu-like image with python3 (>= 3.11: tomllib) and venv.
#                     The default is the official slim image; the Python minor version must
#                     match the torch wheel (cp311 for the pinned local wheel).
#   TORCH_INDEX_URL   where torch comes from: the CPU-only PyTorch index by default, so a build
#                     never pulls the multi-GB CUDA build that PyPI serves for Linux.
#   TORCH_FIND_LINKS  a directory (inside the build, e.g. podman/buildah `--volume
#                     /opt/wheels:/wheels:ro`) or an http(s) URL listing torch wheels. When set,
#                     torch is installed from there only (`--no-index`), TORCH_INDEX_URL is unused.
#   PIP_INDEX_URL     the package index for everything else (a mirror, a proxy).
# The torch version is the `torch==` pin in constraints.txt; every other dependency comes from
# pyproject.toml's [project].dependencies, pinned by constraints.txt.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# builder: a virtual environment in /opt/venv with the dependencies and the `attnflow` command.
FROM ${BASE_IMAGE} AS builder

# bash with pipefail for every RUN: a failing command in a pipe fails the build.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_FIND_LINKS=
# 1 (default): drop what the CPU wheel ships for C++ development and its own test suite, about
# 200 MB: torch/include (headers: only for compiling extensions or inductor C++ kernels, and the
# image has no compiler), torch/test and torch/bin's gtest binaries, torch/share/cmake. 0 keeps all.
ARG TORCH_PRUNE=1
ARG PIP_INDEX_URL=https://pypi.org/simple

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_PROGRESS_BAR=off \
    PIP_DEFAULT_TIMEOUT=120 \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Only the two files that decide the dependency set: editing the source does not invalidate
# the (large, slow) dependency layers below.
COPY pyproject.toml constraints.txt /tmp/build/
WORKDIR /tmp/build

# 1. torch, CPU-only, at the version pinned in constraints.txt (`torch==X` also matches the
#    local version `X+cpu`). Only torch's own line is used here, as a one-line requirements file.
RUN grep -E '^torch==' constraints.txt > torch-requirements.txt \
    && if [ -n "$TORCH_FIND_LINKS" ]; then \
        pip install --no-cache-dir --no-deps --no-index --find-links "$TORCH_FIND_LINKS" \
            -r torch-requirements.txt; \
    else \
        pip install --no-cache-dir --no-deps --index-url "$TORCH_INDEX_URL" -r torch-requirements.txt; \
    fi \
    && if [ "$TORCH_PRUNE" = 1 ]; then \
        torch_dir="$(python3 -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')" \
        && rm -rf "$torch_dir/include" "$torch_dir/test" "$torch_dir/share/cmake" \
        && find "$torch_dir/bin" -mindepth 1 -maxdepth 1 ! -name torch_shm_manager -exec rm -rf {} +; \
    fi

# 2. Everything else (and torch's own dependencies), from pyproject.toml with constraints.txt.
#    torch is already installed and satisfies its requirement, so nothing fetches it again;
#    the last line fails the build should a CUDA build of torch ever slip in.
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt -c constraints.txt \
    && pip check \
    && python3 -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.version.cuda); sys.exit(torch.version.cuda is not None)'

# 3. The project, installed editable against /app, from pyproject.toml alone: the venv gets the
#    `attnflow` console script and an import hook that finds app/ and model/ under /app (where the
#    app also finds templates/ and static/, next to them), but no source. The source is copied
#    straight into the runtime stage, so a code change leaves this venv (1 GB) cached and only
#    the small last layers are rebuilt. setuptools is already in the venv (a torch dependency):
#    no build isolation, no network. The package directories are placeholders, removed again.
COPY pyproject.toml README.md /app/
RUN python3 -c 'import pathlib, tomllib; \
        root = pathlib.Path("/app"); \
        pkgs = tomllib.load(open(root / "pyproject.toml", "rb"))["tool"]["setuptools"]["packages"]; \
        [(root / p.replace(".", "/")).mkdir(parents=True, exist_ok=True) for p in pkgs]; \
        [(root / p.replace(".", "/") / "__init__.py").touch() for p in pkgs]' \
    && pip install --no-cache-dir --no-deps --no-build-isolation --editable /app \
    && rm -rf /app /tmp/build \
    && command -v attnflow

# ---------------------------------------------------------------------------------------------
# runtime: the base image + the venv + the app. No build tools, no pip cache, no tests.
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="attnflow" \
      org.opencontainers.image.description="Watch a transformer block learn (FastAPI + PyTorch CPU)" \
      org.opencontainers.image.licenses="MIT"

# A fixed, unprivileged uid/gid (10001) so volume ownership is predictable and Kubernetes'
# runAsNonRoot can verify it.
RUN groupadd --gid 10001 attnflow \
    && useradd --no-log-init --uid 10001 --gid attnflow --create-home --home-dir /home/attnflow \
       --shell /usr/sbin/nologin attnflow \
    && mkdir -p /data \
    && chown attnflow:attnflow /data

# Code and venv stay owned by root: the app user can read them, not change them.
# .dockerignore lets only runtime files into the build context (an allow-list).
COPY --from=builder /opt/venv /opt/venv
COPY . /app

# Configuration is ATTNFLOW_* environment variables; these are the container defaults.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ATTNFLOW_HOST=0.0.0.0 \
    ATTNFLOW_PORT=8000 \
    ATTNFLOW_DATA_DIR=/data

WORKDIR /app
# Byte-compile the source (the app user cannot write __pycache__ under /app) and make sure the
# entry point imports.
RUN python -m compileall -q app model \
    && attnflow --help > /dev/null

VOLUME ["/data"]
EXPOSE 8000
USER 10001:10001

# No curl in the image: the standard library does the probe, on whatever port is configured.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ATTNFLOW_PORT', '8000'), timeout=4).read()"]

# Exec form: attnflow (uvicorn) is PID 1 and receives SIGTERM itself, then shuts down gracefully.
STOPSIGNAL SIGTERM
CMD ["attnflow"]
