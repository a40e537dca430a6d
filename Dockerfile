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
#   SLIM              1 (default) drops what the app never loads from the venv (see below); 0 keeps it.
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
# 1 (default): drop from the venv what the app never loads, about 250 MB (the image's size is
# checked by tests/container: under 1,000 MB): torch/include (C++ headers, only for compiling
# extensions; the image has no compiler), torch/test, torch/bin's gtest binaries and
# torch/share/cmake; the symbol tables of torch's shared libraries (`strip --strip-unneeded`:
# the dynamic symbols stay, so only C++ backtraces get poorer); the test suites packages ship
# (numpy, sympy, networkx: */tests); static libraries; plotly's figure classes, validators and
# Jupyter extensions (the app only serves its plotly.min.js); and pip itself. 0 keeps it all.
ARG SLIM=1
ARG PIP_INDEX_URL=https://pypi.org/simple

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_PROGRESS_BAR=off \
    PIP_DEFAULT_TIMEOUT=120 \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# binutils for `strip` (SLIM=1). The builder stage only: none of it reaches the runtime image,
# so any version of the base image's archive will do (hence no pin).
# hadolint ignore=DL3008
RUN if [ "$SLIM" = 1 ]; then \
        apt-get update -qq \
        && apt-get install -y -qq --no-install-recommends binutils >/dev/null \
        && rm -rf /var/lib/apt/lists/*; \
    fi

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
    && if [ "$SLIM" = 1 ]; then \
        torch_dir="$(python3 -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')" \
        && rm -rf "$torch_dir/include" "$torch_dir/test" "$torch_dir/share/cmake" \
        && find "$torch_dir/bin" -mindepth 1 -maxdepth 1 ! -name torch_shm_manager -exec rm -rf {} + \
        && find "$torch_dir" -name '*.so*' -type f -exec strip --strip-unneeded {} +; \
    fi

# 2. Everything else (and torch's own dependencies), from pyproject.toml with constraints.txt.
#    torch is already installed and satisfies its requirement, so nothing fetches it again;
#    the CUDA check fails the build should a CUDA build of torch ever slip in (it runs after the
#    pruning, so it also proves a stripped torch still imports).
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt -c constraints.txt \
    && pip check \
    && if [ "$SLIM" = 1 ]; then \
        site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
        && find "$site" -depth -type d -name tests -path "$site/*/*" -exec rm -rf {} + \
        && find "$site" -name '*.a' -type f -delete \
        && rm -rf "$site/plotly/graph_objs" "$site/plotly/graph_objects" "$site/plotly/validators" \
            "$site/plotly/labextension" "$site/plotly/package_data/widgetbundle.js"; \
    fi \
    && python3 -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.version.cuda); sys.exit(torch.version.cuda is not None)' \
    && python3 -c 'import pathlib, importlib.resources as r; print("plotly.js", pathlib.Path(str(r.files("plotly") / "package_data" / "plotly.min.js")).stat().st_size, "bytes")'

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
    && command -v attnflow \
    && if [ "$SLIM" = 1 ]; then pip uninstall --yes --quiet pip; fi \
    && rm -rf /app /tmp/build

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
