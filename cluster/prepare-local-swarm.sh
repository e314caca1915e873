#!/usr/bin/env bash
# Prepares a single-node Docker Swarm on a bare Debian machine for tests and demos:
# a Docker engine on its own socket, `swarm init`, a Debian base image made with
# debootstrap (no registry needed), and the ocr-ray image. Prints the DOCKER_HOST to use.
# Idempotent: a running engine, an existing swarm and unchanged images are reused.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${OCR_RAY_DOCKER_STATE:-/var/lib/ocr-ray-docker}
SOCKET=${OCR_RAY_DOCKER_SOCKET:-/run/ocr-ray-docker.sock}
IMAGE=${OCR_RAY_IMAGE:-ocr-ray:latest}
BASE=ocr-ray-base:bookworm
export DOCKER_HOST="unix://$SOCKET"
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"

if ! docker info >/dev/null 2>&1; then
  $SUDO mkdir -p "$STATE" /run/ocr-ray-docker
  # No iptables or bridge here: containers use the host network (see cluster/README.md).
  # The storage driver is the engine's choice: overlay2 where the filesystem allows it
  # (a container starts in seconds), else vfs (each container a full copy of the image).
  # Its own session: the engine outlives whatever started this script.
  $SUDO sh -c "setsid nohup dockerd --iptables=false --bridge=none \
    --host '$DOCKER_HOST' --data-root '$STATE' --exec-root /run/ocr-ray-docker \
    --pidfile /run/ocr-ray-docker.pid >'$STATE.log' 2>&1 &"
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null
fi

if [[ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]]; then
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi
# Under vfs every container is a full copy of the image: keep no exited task containers.
docker swarm update --task-history-limit 0 >/dev/null

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  $SUDO debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  $SUDO tar -C "$rootfs" -c . | docker import - "$BASE" >/dev/null
  $SUDO rm -rf "$rootfs"
fi

# The build reaches PyPI through the host's network, so it trusts the host's CAs.
cp /etc/ssl/certs/ca-certificates.crt cluster/build-ca.crt
trap 'rm -f cluster/build-ca.crt' EXIT
# TEST_STORE=1: the tests' stack runs its MongoDB-wire test server from this image.
docker build --network host --build-arg BASE="$BASE" --build-arg TEST_STORE=1 -t "$IMAGE" \
  -f cluster/Dockerfile . >&2
docker image prune -f >/dev/null  # what earlier builds left behind
echo "DOCKER_HOST=$DOCKER_HOST"
