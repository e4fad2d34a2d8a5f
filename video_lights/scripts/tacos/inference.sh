#!/usr/bin/env bash
# Score a TACoS checkpoint on the test file ($DATA_DIR/tacos/test.jsonl, DATA_DIR defaulting to the repository's
# data/). FEAT_ROOT=... reads the features from there instead of the folders saved in the training opt.json.
# Usage: bash video_lights/scripts/tacos/inference.sh CKPT [--any_option value ...]
set -euo pipefail
if [ $# -lt 1 ] || [[ "$1" == --* ]]; then
  echo "usage: $0 CKPT [--option value ...]" >&2
  exit 2
fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DATA_DIR=${DATA_DIR:-$REPO/data}
ckpt=$1; shift
exec ${PYTHON:-python} -m video_lights.inference --resume "$ckpt" --eval_split_name test \
  --eval_path "$DATA_DIR/tacos/test.jsonl" ${FEAT_ROOT:+--feat_root "$FEAT_ROOT"} "$@"
