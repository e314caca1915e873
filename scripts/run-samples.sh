#!/usr/bin/env bash
# OCR the bundled sample pages on a local Ray with the SQLite store; prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ocr-ray run examples/samples/pages --out out/samples "$@"
