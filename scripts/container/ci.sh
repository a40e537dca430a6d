#!/usr/bin/env bash
# CI step "container": lint the Dockerfile, then build and run the image with podman.
#
#   scripts/container/ci.sh [extra pytest args]
#
# 1. hadolint Dockerfile: zero warnings (any ignore must be justified in a comment beside it).
# 2. setup-podman.sh (root): podman/buildah/runc/debootstrap + /etc/containers/containers.conf.
# 3. make-base-image.sh: the local base image, reused when it exists.
# 4. pytest -m container tests/container: build the real Dockerfile, run it, drive the API,
#    stop it with SIGTERM. It skips (with the reason) only where podman cannot run at all.
# The build runs under `nice -n 10` (inside the test): other jobs share these cores.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

# The project's virtualenv (scripts/install test) has hadolint and pytest; the machine's own
# interpreter is never installed into.
if [[ -z ${VIRTUAL_ENV:-} && -f .venv/bin/activate ]]; then
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
echo "== container: hadolint Dockerfile"
if ! command -v hadolint >/dev/null 2>&1; then
    echo "container: hadolint not found; install the test tools first: scripts/install test" >&2
    exit 1
fi
hadolint Dockerfile
echo "hadolint: no warnings"

if [[ $(id -u) -eq 0 ]]; then
    echo "== container: podman setup"
    if "$here/setup-podman.sh"; then
        echo "== container: base image"
        nice -n 10 "$here/make-base-image.sh"
    else
        # Leave the verdict to the test: it skips with the reason if podman cannot run.
        echo "container: setup-podman.sh failed; the container test decides below" >&2
    fi
else
    echo "container: not root, skipping podman setup; the container test decides below" >&2
fi

echo "== container: pytest -m container tests/container"
exec python3 -m pytest -m container tests/container -q "$@"
