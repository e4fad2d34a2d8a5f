#!/usr/bin/env bash
# Train VideoLights on TACoS with the authors' settings (their tacos/train.sh: SlowFast+CLIP video, CLIP text, 2-s
# clips, every clip kept, 100 epochs, lr 2e-4), scored on the test file as they do (named split "test" here).
# Usage: bash video_lights/scripts/tacos/train.sh [--any_option value ...]
# FEAT_ROOT (default ../Datasets/tacos) holds slowfast_features/ clip_features/ clip_text_features/ ({qid}.npz).
set -euo pipefail
FEAT_ROOT=${FEAT_ROOT:-../Datasets/tacos}
exec ${PYTHON:-python} -m video_lights.train --preset tacos --feat_root "$FEAT_ROOT" \
  --exp_id exp-bicmf_1-en_3-dec_3-cal_0.002-slowfast_clip --seed 2018 "$@"
