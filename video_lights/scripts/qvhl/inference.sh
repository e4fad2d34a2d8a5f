#!/usr/bin/env bash
# Write hl_{SPLIT}_submission.jsonl (and its metrics for val) next to the checkpoint.
# Usage: bash video_lights/scripts/qvhl/inference.sh CKPT SPLIT [--any_option value ...]
#   SPLIT is val or test; the annotations are $DATA_DIR/highlight_{SPLIT}_release.jsonl (DATA_DIR defaults to the
#   repository's data/; override the file with --eval_path). FEAT_ROOT=... reads the features from there instead of
#   the folders saved in the training opt.json. Works from any folder.
set -euo pipefail
if [ $# -lt 2 ] || [[ "$1" == --* ]] || [[ "$2" == --* ]]; then
  echo "usage: $0 CKPT SPLIT [--option value ...]   (SPLIT: val or test)" >&2
  exit 2
fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DATA_DIR=${DATA_DIR:-$REPO/data}
ckpt=$1; split=$2; shift 2
exec ${PYTHON:-python} -m video_lights.inference --resume "$ckpt" --eval_split_name "$split" \
  --eval_path "$DATA_DIR/highlight_${split}_release.jsonl" ${FEAT_ROOT:+--feat_root "$FEAT_ROOT"} "$@"
