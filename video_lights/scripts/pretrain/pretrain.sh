#!/usr/bin/env bash
# Pretrain VideoLights-B on BLIP synthetic captions (50 epochs, batch 256), evaluating on QVHighlights val.
# Usage: [FEAT_ROOT=DIR] [CAPTIONS=FILE.jsonl] bash video_lights/scripts/pretrain/pretrain.sh [--any_option value ...]
# FEAT_ROOT (default ../pretrain/pretrain_features) holds slowfast_features/ clip_features/ blip_video_features/
# clip_query_features/ blip_query_features/ (the captions' and the eval queries' text features). CAPTIONS: the
# captions file, by default the released data/pretrain/pre_train_blip.jsonl; one made by
# `python -m video_lights.pretrain_data` works the same (README, "Pretraining on captions of your own videos").
set -euo pipefail
FEAT_ROOT=${FEAT_ROOT:-../pretrain/pretrain_features}
captions=()
if [ -n "${CAPTIONS:-}" ]; then
  captions=(--train_path "$CAPTIONS")
fi
exec ${PYTHON:-python} -m video_lights.train --preset pretrain --feat_root "$FEAT_ROOT" \
  ${captions[@]+"${captions[@]}"} --exp_id exp-pretrain-cal_0.01-slowfast_clip_blip-seed_2018 --seed 2018 "$@"
