#!/usr/bin/env bash
# Pretrain VideoLights-B on the BLIP synthetic captions (50 epochs, batch 256), evaluating on QVHighlights val.
# Usage: bash video_lights/scripts/pretrain/pretrain.sh [--any_option value ...]
# FEAT_ROOT (default ../pretrain/pretrain_features) holds slowfast_features/ clip_features/ blip_video_features/
# clip_query_features/ blip_query_features/; the captions are data/pretrain/pre_train_blip.jsonl.
set -euo pipefail
FEAT_ROOT=${FEAT_ROOT:-../pretrain/pretrain_features}
exec ${PYTHON:-python} -m video_lights.train --preset pretrain --feat_root "$FEAT_ROOT" \
  --exp_id exp-pretrain-cal_0.01-slowfast_clip_blip-seed_2018 --seed 2018 "$@"
