#!/usr/bin/env bash
# TVSum: one model per domain, fixed settings, several seeds; prints top-5 mAP mean and std per domain.
# Nothing is tuned or selected on the evaluation video: each run evaluates once, after its last epoch.
# Usage: bash video_lights/scripts/tvsum/train.sh [--any_option value ...]
# Env: FEAT_ROOT (default ../Datasets/tvsum: video_features/ with {vid}_rgb.npy+{vid}_opt.npy, query_features/),
#      DOMAINS (default: all 10), SEEDS (default "2018 2019 2020"), N_EPOCH (default 2000),
#      RESULTS_ROOT (default results/tvsum/v-i3d-t-clip).
set -euo pipefail
FEAT_ROOT=${FEAT_ROOT:-../Datasets/tvsum}
DOMAINS=${DOMAINS:-"BK BT DS FM GA MS PK PR VT VU"}
SEEDS=${SEEDS:-"2018 2019 2020"}
N_EPOCH=${N_EPOCH:-2000}
RESULTS_ROOT=${RESULTS_ROOT:-results/tvsum/v-i3d-t-clip}
for domain in $DOMAINS; do
  for seed in $SEEDS; do
    ${PYTHON:-python} -m video_lights.train --preset tvsum --feat_root "$FEAT_ROOT" --dset_domain "$domain" \
      --seed "$seed" --n_epoch "$N_EPOCH" --eval_epoch "$N_EPOCH" --results_root "$RESULTS_ROOT/$domain" \
      --exp_id "seed_$seed" "$@"
  done
done
${PYTHON:-python} -m video_lights.domain_report "$RESULTS_ROOT" --domains $DOMAINS
