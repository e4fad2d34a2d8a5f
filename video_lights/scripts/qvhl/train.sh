#!/usr/bin/env bash
# Train VideoLights-B on QVHighlights (200 epochs, SlowFast+CLIP+BLIP-2 video, CLIP+BLIP-2 text).
# Usage (from the repository root): bash video_lights/scripts/qvhl/train.sh [--any_option value ...]
# FEAT_ROOT (default ../Datasets/qvhl/features) holds slowfast_features/ clip_features/ blip_video_features/
# clip_text_features/ blip_aug_text_features_openai/. Extra arguments override the preset.
set -euo pipefail
FEAT_ROOT=${FEAT_ROOT:-../Datasets/qvhl/features}
exec ${PYTHON:-python} -m video_lights.train --preset qvhl --feat_root "$FEAT_ROOT" \
  --exp_id exp-bicmf_1-en_3-dec_3-tcl-hl-scsl-cal_0.2-slowfast_clip_blip-seed_2018 --seed 2018 "$@"
