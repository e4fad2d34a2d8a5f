#!/usr/bin/env bash
# Build the sdist and the wheel, install the wheel (with the video extra) into a fresh virtual environment outside
# the checkout, and run commands from that install only: whatever the wheel lacks fails here.
#
#   bash scripts/check_wheel.sh        # scripts/test.sh runs it after pytest (CI)
#
# From a temporary folder, with the checkout off sys.path: `videolights --version` and `--help`; `videolights eval`
# on a shared reference submission (when ../shared is there); `videolights data synth` + a one-epoch
# `videolights train` + `videolights infer` on its best checkpoint; the authors' bash launcher from the package
# data (--help); `videolights predict` on a features file with tiny random extractors.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SHARED=${VIDEOLIGHTS_SHARED:-$REPO/../shared}
PY=${PYTHON:-python}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "[wheel] building the sdist and the wheel"
"$PY" -m build --no-isolation --outdir "$TMP/dist" . > "$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; exit 1; }
ls "$TMP/dist"
WHEEL=$(ls "$TMP"/dist/*.whl)

echo "[wheel] installing it into a fresh venv"
python3 -m venv "$TMP/venv"
V="$TMP/venv/bin"
pipi() { "$V/python" -m pip install -q "$@" > "$TMP/pip.log" 2>&1 || { cat "$TMP/pip.log"; exit 1; }; }
pipi torch==2.13.0
pipi "$WHEEL[video]"

mkdir "$TMP/work"
cd "$TMP/work"
export PYTHONPATH=  # nothing from the checkout
run() { echo "[wheel] $*"; "$@"; }

want=$("$V/python" -c "import importlib.metadata as m; print(m.version('video_lights'))")
got=$("$V/videolights" --version)
echo "[wheel] videolights --version: $got"
[ "$got" = "videolights $want" ] || { echo "expected videolights $want"; exit 1; }
"$V/python" - "$REPO" <<'EOF'
import sys, video_lights, standalone_eval
for m in (video_lights, standalone_eval):
    assert not m.__file__.startswith(sys.argv[1]), f"{m.__name__} imported from the checkout: {m.__file__}"
print("imported from", video_lights.__file__)
EOF
run "$V/videolights" --help > /dev/null

if [ -d "$SHARED/data/reference_submissions" ]; then
  run "$V/videolights" eval \
    --submission_path "$SHARED/data/reference_submissions/moment_detr_sample/sample_val_preds.jsonl.gz" \
    --gt_path "$SHARED/data/qvhighlights/highlight_val_release.jsonl" --save_path metrics.json --not_verbose
  "$V/python" -c "import json; print('MR-full-R1@0.5', json.load(open('metrics.json'))['brief']['MR-full-R1@0.5'])"
else
  echo "[wheel] $SHARED absent: videolights eval on a reference submission skipped"
fi

TINY=(--hidden_dim 32 --dim_feedforward 64 --nheads 4 --enc_layers 1 --dec_layers 2 --num_queries 5
      --contrastive_hdim 16)
run "$V/videolights" data synth --out data --seed 0 --n_train 32 --n_val 8 --n_test 0
run "$V/videolights" train --preset synthetic --feat_root data --results_root results --exp_id wheel --n_epoch 1 \
  --eval_epoch 1 --num_workers 0 --device cpu --bsz 8 "${TINY[@]}"
ckpt=$(ls results/*-wheel-*/model_best.ckpt)
run "$V/videolights" infer --resume "$ckpt" --eval_results_dir inferred
[ -s inferred/hl_val_submission.jsonl ]
launcher=$("$V/python" -c "import os, video_lights; print(os.path.join(os.path.dirname(video_lights.__file__), 'scripts', 'qvhl', 'train.sh'))")
[ -f "$launcher" ] || { echo "the wheel lacks the launchers ($launcher)"; exit 1; }

"$V/python" - <<'EOF'
# tiny random extractors and an untrained checkpoint of their widths; a features file of a 9-s video
import numpy as np, torch
from video_lights.config import parse_args
from video_lights.features import blip2, clip, slowfast
from video_lights.model import build_model
from video_lights.model.checkpoint import save_checkpoint
from video_lights.predict import VideoFeatures
clip.save_tiny_random("w/clip"); blip2.save_tiny_random("w/blip2"); slowfast.save_tiny_random("w/sf.safetensors")
opt = parse_args(["--preset", "qvhl", "--device", "cpu", "--results_root", "run", "--v_feat_dim", "336",
                  "--t_feat_dim", "64", "--hidden_dim", "32", "--dim_feedforward", "64", "--nheads", "4",
                  "--enc_layers", "1", "--dec_layers", "2", "--num_queries", "5", "--contrastive_hdim", "16"])
torch.manual_seed(0)
save_checkpoint("model.ckpt", build_model(opt), epoch=0, opt=opt)
rng = np.random.default_rng(0)
VideoFeatures({"slowfast": rng.normal(size=(5, 288)).astype(np.float32),
               "clip": rng.normal(size=(5, 16)).astype(np.float32),
               "blip2": rng.normal(size=(5, 32)).astype(np.float32)}, 9.0, 2.0).save("video.npz")
EOF
run "$V/videolights" predict video.npz --query "a man cooks food" --checkpoint model.ckpt --slowfast w/sf.safetensors \
  --clip w/clip --blip2 w/blip2 --device cpu --json predictions.json
"$V/python" -c "import json; p = json.load(open('predictions.json')); print('predicted', len(p['predictions']), 'query')"
echo "[wheel] OK: $(basename "$WHEEL") installs and runs outside the checkout"
