#!/usr/bin/env bash
# Score a Charades-STA checkpoint on the test file (named split "val", as the reference does).
# Usage: bash video_lights/scripts/charades_sta/inference.sh CKPT [--any_option value ...]
set -euo pipefail
if [ $# -lt 1 ] || [[ "$1" == --* ]]; then
  echo "usage: $0 CKPT [--option value ...]" >&2
  exit 2
fi
ckpt=$1; shift
exec ${PYTHON:-python} -m video_lights.inference --resume "$ckpt" --eval_split_name val \
  --eval_path data/charades_sta/charades_sta_test_tvr_format.jsonl "$@"
