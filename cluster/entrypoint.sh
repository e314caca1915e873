#!/bin/sh
# Role of this container: head | worker | api | store-test (the test-time MongoDB-wire
# server, SecantusDB, in images built with TEST_STORE=1; never for production).
# On an overlay network every container has its own address; on the host network (a
# single-node swarm without iptables) they share one, so per-node agent ports are
# picked free rather than left at Ray's fixed defaults.
set -eu
role="${1:-worker}"
head="${OCR_RAY_HEAD_HOST:-ray-head}"
ip_arg=""
[ -n "${OCR_RAY_NODE_IP:-}" ] && ip_arg="--node-ip-address=$OCR_RAY_NODE_IP"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

node_ports() {
  echo "--dashboard-agent-listen-port=$(free_port) --dashboard-agent-grpc-port=$(free_port)" \
       "--metrics-export-port=$(free_port) --runtime-env-agent-port=$(free_port)"
}

# A TCP probe, not `ray health-check`: that imports Ray (1.6 s of CPU) and, with no head,
# retries for 40 s per call, so every container polling it starved a restarting stack.
wait_for_head() {
  for _ in $(seq 180); do
    timeout 3 bash -c "exec 3<>/dev/tcp/$head/6379" 2>/dev/null && return 0
    sleep 1
  done
  echo "Ray head $head:6379 did not answer" >&2
  exit 1
}

# A clean `ray stop` on SIGTERM, inside swarm's stop grace period.
trap 'ray stop --grace-period 20 >/dev/null 2>&1; exit 0' TERM INT

case "$role" in
  head)
    autoscale=""
    if [ "${OCR_RAY_AUTOSCALER:-0}" = "1" ]; then
      config=/src/cluster/autoscaler.yaml
      idle="${OCR_RAY_AUTOSCALER_IDLE_MINUTES:-}"
      case "$idle" in
        "") ;;
        *[!0-9.]*|*.*.*|.|*.) echo "OCR_RAY_AUTOSCALER_IDLE_MINUTES: not a number: $idle" >&2; exit 2 ;;
        *) config=/tmp/autoscaler.yaml
           sed "s/^idle_timeout_minutes: .*/idle_timeout_minutes: $idle/" \
             /src/cluster/autoscaler.yaml >"$config" ;;
      esac
      autoscale="--autoscaling-config=$config"
    fi
    ray start --head --block --port=6379 --num-cpus=0 --ray-client-server-port=10001 \
      --dashboard-host="${OCR_RAY_DASHBOARD_HOST:-0.0.0.0}" --disable-usage-stats \
      $ip_arg $autoscale &
    ;;
  worker)
    wait_for_head
    # shellcheck disable=SC2046
    ray start --block --address="$head:6379" --num-cpus="${OCR_RAY_WORKER_CPUS:-1}" \
      --disable-usage-stats $(node_ports) $ip_arg &
    ;;
  api)
    wait_for_head
    # shellcheck disable=SC2046
    ray start --address="$head:6379" --num-cpus=0 --resources='{"ocr_api": 1}' \
      --disable-usage-stats $(node_ports) $ip_arg
    ocr-ray serve --address auto --host "${OCR_RAY_API_HOST:-0.0.0.0}" \
      --port "${OCR_RAY_API_PORT:-8000}" &
    ;;
  store-test)
    exec secantusd-py --host "${OCR_RAY_MONGO_HOST:-0.0.0.0}" --port "${OCR_RAY_MONGO_PORT:-27017}" \
      --storage-path /data/db --log-level WARNING
    ;;
  *)
    echo "usage: entrypoint.sh head|worker|api|store-test" >&2
    exit 2
    ;;
esac
wait $!
