#!/usr/bin/env bash
# YouTube Highlights: one model per domain with the authors' settings (their youtube_uni/train.sh: CLIP+SlowFast
# video, CLIP text, bsz 4, lr 2e-4, 2000 epochs, their five seeds); prints mAP mean and std per domain.
# Nothing is selected on the evaluation videos: each run evaluates once, after its last epoch (the authors keep the
# best of every 5th epoch by mAP on the same valid file they report).
# Usage: bash video_lights/scripts/youtube_uni/train.sh [--any_option value ...]
# Env: FEAT_ROOT (default ../Datasets/processed/youtube_uni: vid_clip/ vid_slowfast/ txt_clip/ ({qid}.npz)),
#      DOMAINS (default: all 6), SEEDS (default "0 1 1009 2017 2018"), N_EPOCH (default 2000),
#      RESULTS_ROOT (default results/youtubeuni).
set -euo pipefail
FEAT_ROOT=${FEAT_ROOT:-../Datasets/processed/youtube_uni}
DOMAINS=${DOMAINS:-"dog gymnastics parkour skating skiing surfing"}
SEEDS=${SEEDS:-"0 1 1009 2017 2018"}
N_EPOCH=${N_EPOCH:-2000}
RESULTS_ROOT=${RESULTS_ROOT:-results/youtubeuni}
for domain in $DOMAINS; do
  for seed in $SEEDS; do
    ${PYTHON:-python} -m video_lights.train --preset youtube_highlights --feat_root "$FEAT_ROOT" \
      --dset_domain "$domain" --seed "$seed" --n_epoch "$N_EPOCH" --eval_epoch "$N_EPOCH" \
      --results_root "$RESULTS_ROOT/$domain" --exp_id "seed_$seed" "$@"
  done
done
${PYTHON:-python} -m video_lights.domain_report "$RESULTS_ROOT" --domains $DOMAINS
