#!/bin/sh
# Serve the status page on $PORT; curl checks the upstream first.
set -e
curl -fsS "${UPSTREAM:-http://127.0.0.1:9000}/health" || echo "upstream not ready"
exec busybox httpd -f -p "${PORT:-8080}" -h /srv/app/public
