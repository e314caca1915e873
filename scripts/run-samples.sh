#!/usr/bin/env bash
# OCR the bundled sample pages on a local Ray with the SQLite store; prints the summary.
# Besides the records (JSON Lines, JSON, CSV, text, ZIP) it writes a searchable PDF, hOCR
# and ALTO per page file under out/samples/pdf, hocr and alto.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A demo leaves nothing running: no local Ray kept warm for later runs.
OCR_RAY_KEEP_LOCAL_RAY_S=0 exec .venv/bin/ocr-ray run examples/samples/pages --out out/samples \
  --formats jsonl,json,csv,txt,zip,pdf,hocr,alto "$@"
