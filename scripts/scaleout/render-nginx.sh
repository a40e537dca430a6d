#!/bin/sh
# Render nginx.conf.template into a config on stdout:
#     render-nginx.sh TEMPLATE LISTEN PREFIX SERVER...   (LISTEN: [address:]port; SERVER: host:port)
# One renderer for both users: scripts/scaleout/cluster.py (loopback) and compose.yaml's nginx
# service (inside the nginx image), so POSIX sh and sed only.
set -eu
if [ $# -lt 4 ]; then
    echo "usage: render-nginx.sh TEMPLATE LISTEN PREFIX SERVER..." >&2
    exit 2
fi
template=$1 listen=$2 prefix=$3
shift 3
servers=""
for server in "$@"; do
    servers="$servers server $server max_fails=0;"
done
sed -e "s|@LISTEN@|$listen|" -e "s|@PREFIX@|$prefix|g" -e "s|@UPSTREAMS@|       $servers|" "$template"
