#!/usr/bin/env bash
# Installs what ocr_ray needs on a Debian machine: system packages and .venv at the repo root.
#   scripts/setup.sh            Tesseract + language data, and the Python venv
#   scripts/setup.sh --dev      also the test machinery: Chromium, Docker engine, debootstrap
# Safe to re-run: installed packages and an up-to-date venv are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1

RUNTIME_APT=(python3 python3-venv python3-dev ca-certificates
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra tesseract-ocr-ita
  tesseract-ocr-spa tesseract-ocr-por tesseract-ocr-osd)
# poppler-utils: pdftotext reads back searchable PDFs in tests; ghostscript: OCRmyPDF,
# the peer in benchmarks/bench_pdf.py.
# wrk and haproxy: the load generator of benchmarks/bench_api_load.py, and Serve's
# optional fast ingress it measures (OCR_RAY_API_HAPROXY). iproute2 and docker-registry:
# the several hosts of cluster/local-hosts.sh (namespaces, links, the manager's registry).
DEV_APT=(chromium docker.io debootstrap util-linux procps poppler-utils ghostscript wrk
  haproxy iproute2 docker-registry)

packages=("${RUNTIME_APT[@]}")
(( DEV )) && packages+=("${DEV_APT[@]}")

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the registry it packages on every address's port 5000; local-hosts.sh
  # runs its own on the manager host's private address, so the system one stays off.
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

# Debian's own Python, so the venv works for every user (tests run workers as 'nobody').
PYTHON=/usr/bin/python3
extras="rapidocr,serve,cluster,notebook,dev"
stamp=".venv/.ocr-ray-installed"
want="$(cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-16) $extras"
if [[ ! -x .venv/bin/python || "$(readlink -f .venv/bin/python)" != "$(readlink -f $PYTHON)" ]]; then
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "installing Python packages into .venv ($extras)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$extras]"
  echo "$want" > "$stamp"
fi
