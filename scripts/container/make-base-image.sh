#!/usr/bin/env bash
# Build a local stand-in for python:3.11-slim-bookworm when no container registry is reachable.
#
#   scripts/container/make-base-image.sh [--force]
#
# debootstrap (minbase + python3, python3-venv, python3-pip, ca-certificates) -> rootfs tarball ->
# `podman import` as localhost/attnflow-base:bookworm. Debian bookworm's python3 is 3.11, which
# matches the cp311 torch wheel. The host's extra CA certificates (/usr/local/share/ca-certificates,
# e.g. a TLS-inspecting egress proxy's CA) are copied in and update-ca-certificates is run, and
# /etc/pip.conf points pip at the system bundle, so `pip install` inside `podman build` can reach
# the package index exactly like pip on the host does.
#
# Cached twice: nothing happens when the image already exists (`podman image exists`), and the
# rootfs tarball is kept under $ATTNFLOW_CACHE_DIR (default /var/cache/attnflow), keyed by the
# host's CA certificates, so a wiped podman store is refilled with a plain `podman import`.
#
# Env: ATTNFLOW_BASE_IMAGE (default localhost/attnflow-base:bookworm),
#      ATTNFLOW_DEBIAN_MIRROR (default: the host's deb.debian.org mirror), ATTNFLOW_CACHE_DIR.
set -euo pipefail

IMAGE=${ATTNFLOW_BASE_IMAGE:-localhost/attnflow-base:bookworm}
MIRROR=${ATTNFLOW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${ATTNFLOW_CACHE_DIR:-/var/cache/attnflow}
SUITE=bookworm
INCLUDE=python3,python3-venv,python3-pip,ca-certificates
FORCE=0
[[ ${1:-} == --force ]] && FORCE=1

log() { echo "make-base-image: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "must run as root (debootstrap and rootful podman)"
    exit 1
fi

if [[ $FORCE == 0 ]] && podman image exists "$IMAGE"; then
    log "$IMAGE exists, nothing to do (--force rebuilds it)"
    exit 0
fi

# The tarball key: suite, package list and the extra CAs baked into it.
ca_files=()
if [[ -d /usr/local/share/ca-certificates ]]; then
    while IFS= read -r -d '' f; do ca_files+=("$f"); done \
        < <(find /usr/local/share/ca-certificates -type f -name '*.crt' -print0 | sort -z)
fi
key=$( { echo "$SUITE $INCLUDE v1"; ((${#ca_files[@]})) && cat "${ca_files[@]}"; } | sha256sum | cut -c1-12)
mkdir -p "$CACHE_DIR"
tarball=$CACHE_DIR/$SUITE-minbase-python3-$key.tar

if [[ $FORCE == 1 || ! -s $tarball ]]; then
    work=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    rootfs=$work/rootfs
    log "debootstrap $SUITE into $rootfs (a few minutes)"
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        exit 1
    }

    if ((${#ca_files[@]})); then
        log "adding ${#ca_files[@]} host CA certificate(s)"
        mkdir -p "$rootfs/usr/local/share/ca-certificates"
        cp "${ca_files[@]}" "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" /usr/sbin/update-ca-certificates >/dev/null
    fi
    # pip (Debian's and any venv's) trusts the system bundle, which now holds the extra CAs.
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"

    # Slim it down like the official slim images: no apt lists, .debs, docs or man pages.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
        "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log "$rootfs"/debootstrap

    log "packing $tarball"
    tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    # Older tarballs (other CA sets) are dead weight.
    find "$CACHE_DIR" -maxdepth 1 -name "$SUITE-minbase-python3-*.tar" ! -name "$(basename "$tarball")" -delete
fi

log "importing $tarball as $IMAGE"
podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "attnflow local base: debian $SUITE minbase + $INCLUDE" \
    "$tarball" "$IMAGE" >/dev/null
podman image ls "$IMAGE" >&2
