#!/usr/bin/env bash
# The main job on the embedded synthetic dataset, end to end on CPU:
# generate the data, evaluate the untrained model, train the full VideoLights model, run inference on the best
# checkpoint, score it with the standalone evaluator, print a before/after table and save a saliency plot.
# The model is the full VideoLights architecture with every loss (BiCMF, feature refinement, MR->HD feedback,
# hard pos/neg, alignment), at half width (hidden 128, FFN 512) and batch 8 so that it learns in a few CPU minutes.
# Env: DEMO_OUT (default demo_output), DEMO_EPOCHS (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
OUT=${DEMO_OUT:-demo_output}
EPOCHS=${DEMO_EPOCHS:-8}
start=$(date +%s)

python -m video_lights.data.synthetic --out "$OUT/data" --seed 0
rm -rf "$OUT/results"
python -m video_lights.train --preset synthetic --feat_root "$OUT/data" --results_root "$OUT/results" \
  --exp_id demo --n_epoch "$EPOCHS" --eval_epoch 2 --eval_untrained --num_workers 0 --device cpu --seed 2018 \
  --hidden_dim 128 --dim_feedforward 512 --bsz 8 --lr 2e-4 --feat_cache
run_dir=$(ls -d "$OUT"/results/hl-video_tef-demo-* | tail -n 1)
python standalone_eval/eval.py --submission_path "$run_dir/hl_val_submission.jsonl" \
  --gt_path "$OUT/data/annotations/highlight_val_release.jsonl" \
  --save_path "$run_dir/standalone_eval_metrics.json" --not_verbose
python scripts/demo_report.py "$run_dir" --gt_path "$OUT/data/annotations/highlight_val_release.jsonl"
echo "demo finished in $(( $(date +%s) - start )) s; run folder: $run_dir"
