#!/usr/bin/env bash
# Finetune VideoLights-B on QVHighlights from a pretrained checkpoint (weights only; epochs restart at 0).
# Usage: bash video_lights/scripts/qvhl/train_from_pretrain.sh PRETRAIN_CKPT [--any_option value ...]
set -euo pipefail
if [ $# -lt 1 ] || [[ "$1" == --* ]]; then
  echo "usage: $0 PRETRAIN_CKPT [--option value ...]  (e.g. results/pretrain/final/.../model_best.ckpt)" >&2
  exit 2
fi
ckpt=$1; shift
FEAT_ROOT=${FEAT_ROOT:-../Datasets/qvhl/features}
exec ${PYTHON:-python} -m video_lights.train --preset qvhl --feat_root "$FEAT_ROOT" --resume "$ckpt" \
  --exp_id exp-from_pretrain-slowfast_clip_blip-seed_2018 --seed 2018 "$@"
