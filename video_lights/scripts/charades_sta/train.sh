#!/usr/bin/env bash
# Train VideoLights-B on Charades-STA (100 epochs, 1-s clips), scored on the test file as the paper does.
# Usage: bash video_lights/scripts/charades_sta/train.sh [--any_option value ...]
# FEAT_ROOT (default ../Datasets/charades) holds slowfast_features/ clip_features/ blip_video_features/
# clip_text_features/ blip_text_features/.
set -euo pipefail
FEAT_ROOT=${FEAT_ROOT:-../Datasets/charades}
exec ${PYTHON:-python} -m video_lights.train --preset charades_sta --feat_root "$FEAT_ROOT" \
  --exp_id exp-bicmf_1-en_3-dec_3-cal_0.3-slowfast_clip_blip-seed_2018 --seed 2018 "$@"
