#!/usr/bin/env bash
# Install Debian's nginx for the scale-out demo and tests (scripts/scaleout/cluster.py).
# Only the binary is used: cluster.py runs it as a non-daemon child with its own prefix, config,
# pid and logs in a temporary directory, on 127.0.0.1. The package's own service is not started
# (a temporary policy-rc.d keeps apt from starting it).
# Idempotent; set ATTNFLOW_SKIP_APT=1 to never call apt-get.
set -euo pipefail

if [[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null 2>&1; then
    (/usr/sbin/nginx -v 2>&1 || nginx -v 2>&1) >&2
    exit 0
fi
if [[ ${ATTNFLOW_SKIP_APT:-0} == 1 ]]; then
    echo "setup-nginx.sh: nginx is missing and ATTNFLOW_SKIP_APT=1" >&2
    exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "setup-nginx.sh: must run as root to install nginx with apt-get" >&2
    exit 1
fi
# Keep apt from starting the package's own service (it would listen on port 80): invoke-rc.d
# reads exit code 101 from policy-rc.d as "not allowed". Ours is removed afterwards.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq nginx >/dev/null
/usr/sbin/nginx -v
