#!/usr/bin/env bash
# Several Docker hosts on this one machine, for tests and demos of a multi-machine swarm:
#   cluster/local-hosts.sh up N     a manager host and N worker hosts, one swarm
#   cluster/local-hosts.sh down     everything it made, gone
# Each host is a Docker engine in a network namespace of its own (and a UTS namespace,
# so each has its own node name), joined to a private bridge by a veth pair, with its
# own data-root, exec-root, pidfile and socket. The manager advertises its bridge
# address, runs a registry (Debian's docker-registry) that the others pull the image
# from, and each worker joins with the command `ocr-ray cluster add-node` prints. The
# namespaces share this machine's filesystem, which stands in for NFS or CephFS.
# Traffic stays on the bridge: no host has a route anywhere else.
# Prints one line per host: NAME ADDRESS DOCKER_HOST. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

NET=${OCR_RAY_HOSTS_NET:-10.77.0}  # a /24 of the hosts' private network
BRIDGE=ocr-hosts
STATE=${OCR_RAY_HOSTS_STATE:-/var/lib/ocr-ray-hosts}
RUN=/run/ocr-ray-hosts
SOURCE=${OCR_RAY_DOCKER_SOCKET:-/run/ocr-ray-docker.sock}  # prepare-local-swarm.sh's engine
IMAGE=${OCR_RAY_IMAGE:-ocr-ray:latest}
REGISTRY="$NET.10:5000"
[[ $(id -u) -eq 0 ]] || { echo "local-hosts.sh: run as root (namespaces, links)" >&2; exit 2; }

host_name() { echo "ocr-host$1"; }  # 0 is the manager
host_addr() { echo "$NET.$((10 + $1))"; }
host_sock() { echo "unix://$RUN/$(host_name "$1").sock"; }
on() { local i=$1; shift; DOCKER_HOST="$(host_sock "$i")" "$@"; }
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

link_up() {  # the bridge, and host $1's namespace on it
  local name addr
  name=$(host_name "$1") addr=$(host_addr "$1")
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  [[ -e "/run/netns/$name" ]] && return 0
  ip netns add "$name"
  ip link add "$name" type veth peer name eth0 netns "$name"
  ip link set "$name" master "$BRIDGE" up
  ip -n "$name" addr add "$addr/24" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" link set lo up
}

engine_up() {  # host $1's Docker engine, in its namespaces
  local name
  name=$(host_name "$1")
  on "$1" docker info >/dev/null 2>&1 && return 0
  mkdir -p "$STATE/$name" "$RUN/$name"
  # nsenter, not `ip netns exec`: that remounts /sys, and dockerd then finds no cgroups.
  setsid nohup nsenter --net="/run/netns/$name" unshare --uts sh -c \
    "hostname $name && exec dockerd --iptables=false \
      --bridge=none --insecure-registry $REGISTRY --host $(host_sock "$1") \
      --data-root $STATE/$name --exec-root $RUN/$name --pidfile $RUN/$name.pid" \
    >"$STATE/$name.log" 2>&1 &
  for _ in $(seq 60); do on "$1" docker info >/dev/null 2>&1 && return 0; sleep 1; done
  echo "local-hosts.sh: the engine of $name did not start (see $STATE/$name.log)" >&2
  exit 1
}

registry_up() {  # on the manager's address, so every host reaches it on the bridge
  local config="$STATE/registry.yml"
  answers "$NET.10" 5000 && return 0
  mkdir -p "$STATE/registry"
  printf 'version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "%s"}\n' \
    "$STATE/registry" "$REGISTRY" >"$config"
  setsid nohup nsenter --net="/run/netns/$(host_name 0)" docker-registry serve "$config" \
    >"$STATE/registry.log" 2>&1 &
  for _ in $(seq 30); do
    answers "$NET.10" 5000 && return 0
    sleep 1
  done
  echo "local-hosts.sh: the registry did not start (see $STATE/registry.log)" >&2
  exit 1
}

image_up() {  # the image built on prepare-local-swarm.sh's engine, into the registry
  local built
  built=$(DOCKER_HOST="unix://$SOURCE" docker image inspect -f '{{.Id}}' "$IMAGE")
  [[ "$(on 0 docker image inspect -f '{{.Id}}' "$REGISTRY/$IMAGE" 2>/dev/null)" == "$built" ]] \
    && return 0
  DOCKER_HOST="unix://$SOURCE" docker save "$IMAGE" | on 0 docker load -q >/dev/null
  on 0 docker tag "$IMAGE" "$REGISTRY/$IMAGE"
  on 0 docker push -q "$REGISTRY/$IMAGE" >/dev/null
}

join() {  # host $1 joins as a worker, with the command the operator is given
  [[ "$(on "$1" docker info --format '{{.Swarm.LocalNodeState}}')" == "active" ]] && return 0
  local command
  command=$(on 0 .venv/bin/ocr-ray cluster add-node | tail -n 1)
  [[ "$command" == "docker swarm join --token "* ]] || {
    echo "local-hosts.sh: add-node printed: $command" >&2
    exit 1
  }
  # shellcheck disable=SC2086  # the printed command, word by word
  on "$1" $command >/dev/null
}

up() {
  local workers=$1 i
  for i in $(seq 0 "$workers"); do link_up "$i"; engine_up "$i"; done
  if [[ "$(on 0 docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]]; then
    on 0 docker swarm init --advertise-addr "$(host_addr 0)" >/dev/null
  fi
  on 0 docker swarm update --task-history-limit 0 >/dev/null
  registry_up
  image_up
  for i in $(seq 1 "$workers"); do join "$i"; done
  for i in $(seq 0 "$workers"); do
    echo "$(host_name "$i") $(host_addr "$i") $(host_sock "$i")"
  done
}

down() {
  local name
  for ns in /run/netns/ocr-host*; do
    [[ -e "$ns" ]] || continue
    name=$(basename "$ns")
    if [[ -e "$RUN/$name.pid" ]]; then
      kill "$(cat "$RUN/$name.pid")" 2>/dev/null || true
    fi
  done
  pkill -f "docker-registry serve $STATE/registry.yml" 2>/dev/null || true
  for _ in $(seq 30); do
    pgrep -f "dockerd .*--exec-root $RUN/" >/dev/null || break
    sleep 1
  done
  pkill -9 -f "dockerd .*--exec-root $RUN/" 2>/dev/null || true
  for ns in /run/netns/ocr-host*; do
    [[ -e "$ns" ]] || continue
    name=$(basename "$ns")
    ip link del "$name" 2>/dev/null || true
    ip netns del "$name"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  # Containers' mounts under the data-roots go with their engines; then the state.
  grep -o " $STATE/[^ ]*\| $RUN/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$STATE" "$RUN"
}

case "${1:-}" in
  up) up "${2:-2}" ;;
  down) down ;;
  *) echo "usage: cluster/local-hosts.sh up [WORKERS] | down" >&2; exit 2 ;;
esac
