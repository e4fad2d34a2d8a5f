#!/usr/bin/env bash
# Write hl_{SPLIT}_submission.jsonl (and its metrics for val) next to the checkpoint.
# Usage: bash video_lights/scripts/qvhl/inference.sh CKPT SPLIT [--any_option value ...]
#   SPLIT is val or test; the annotations are data/highlight_{SPLIT}_release.jsonl (override with --eval_path).
set -euo pipefail
if [ $# -lt 2 ] || [[ "$1" == --* ]] || [[ "$2" == --* ]]; then
  echo "usage: $0 CKPT SPLIT [--option value ...]   (SPLIT: val or test)" >&2
  exit 2
fi
ckpt=$1; split=$2; shift 2
exec ${PYTHON:-python} -m video_lights.inference --resume "$ckpt" --eval_split_name "$split" \
  --eval_path "data/highlight_${split}_release.jsonl" "$@"
