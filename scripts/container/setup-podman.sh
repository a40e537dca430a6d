#!/usr/bin/env bash
# Make podman/buildah usable on a Docker-less Debian bookworm host (run as root).
#
# - installs podman, buildah, runc and debootstrap from Debian's archive (skipped when present);
# - writes /etc/containers/containers.conf: runc as the OCI runtime (crun fails on hosts with
#   hybrid cgroup v1 hierarchies like this one), cgroupfs instead of systemd (no systemd here),
#   a file events logger (no journald) and default ulimits at or below the host's own limits
#   (podman's defaults ask for more than this host allows and fail with an RLIMIT error).
#
# Idempotent; safe to call from CI every time. Set ATTNFLOW_SKIP_APT=1 to never call apt-get.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "setup-podman.sh: must run as root (rootful podman is what works on these hosts)" >&2
    exit 1
fi

need=()
for bin in podman buildah runc debootstrap; do
    command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if ((${#need[@]})); then
    if [[ ${ATTNFLOW_SKIP_APT:-0} == 1 ]]; then
        echo "setup-podman.sh: missing ${need[*]} and ATTNFLOW_SKIP_APT=1" >&2
        exit 1
    fi
    echo "setup-podman.sh: installing podman buildah runc debootstrap" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # uidmap/fuse-overlayfs/slirp4netns come in as podman's recommends on bookworm; ask for the
    # ones we rely on explicitly so a --no-install-recommends apt config does not drop them.
    apt-get install -y -qq podman buildah runc debootstrap uidmap >/dev/null
fi

# Ulimits: never above what this host grants (ulimit -Hn / -Hu), capped at sane values.
hard_nofile=$(ulimit -Hn)
hard_nproc=$(ulimit -Hu)
nofile=20000
nproc=32768
[[ $hard_nofile != unlimited && $hard_nofile -lt $nofile ]] && nofile=$hard_nofile
[[ $hard_nproc != unlimited && $hard_nproc -lt $nproc ]] && nproc=$hard_nproc

mkdir -p /etc/containers
conf=/etc/containers/containers.conf
new=$(mktemp)
cat >"$new" <<CONF
# Written by attnflow scripts/container/setup-podman.sh
[containers]
default_ulimits = [
  "nofile=${nofile}:${nofile}",
  "nproc=${nproc}:${nproc}",
]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
if ! cmp -s "$new" "$conf" 2>/dev/null; then
    if [[ -e $conf ]] && ! grep -q 'attnflow scripts/container/setup-podman.sh' "$conf"; then
        cp -p "$conf" "$conf.attnflow-bak"
        echo "setup-podman.sh: kept the previous $conf as $conf.attnflow-bak" >&2
    fi
    install -m 0644 "$new" "$conf"
fi
rm -f "$new"

podman --version >&2
podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Store.GraphDriverName}}' >&2
