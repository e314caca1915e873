#!/bin/bash
# Container health check: head | worker | api | store (the test-time store server). Cheap on purpose: `ray health-check`
# starts a Python that imports Ray (about 1.6 s of CPU), and with one check per
# container every few seconds that alone took a fifth of a 2-core node and timed out
# under load, so swarm killed healthy containers just when the stack (re)started.
# `ray start --block` exits when a Ray process of the node dies, so a live container
# whose node answers is a live node.
set -u
role="${1:-worker}"

port_open() {  # host port: a TCP connection within 3 s
  timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

case "$role" in
  head) port_open 127.0.0.1 6379 ;;
  worker) pgrep -x raylet >/dev/null && port_open "${OCR_RAY_HEAD_HOST:-ray-head}" 6379 ;;
  api) timeout 8 python3 -c "import urllib.request as r; r.urlopen('http://127.0.0.1:${OCR_RAY_API_PORT:-8000}/health', timeout=5)" ;;
  store) port_open "${OCR_RAY_MONGO_HOST:-127.0.0.1}" "${OCR_RAY_MONGO_PORT:-27017}" ;;
  *) echo "usage: healthcheck.sh head|worker|api|store" >&2; exit 2 ;;
esac
