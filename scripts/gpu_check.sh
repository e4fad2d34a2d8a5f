#!/usr/bin/env bash
# The CUDA paths and the GPU timing table in one command, for the day a GPU is lent (under 10 minutes on one H100):
#
#   bash scripts/gpu_check.sh [OUT]          # OUT: default gpu_check_output; the log and the table land there
#
# Needs a CUDA build of torch and the video extra already installed in the active Python (no download happens:
# extraction runs tiny random extractor weights on a generated video; the timing tables use random full-size ones).
# Checks, each PASS or FAIL with its log:
#   1. fp16 AMP training with a GradScaler (--amp on) for 2 epochs; its scaler state saved, and a --resume_all
#      run that restores it and trains a third epoch;
#   2. --compile (torch.compile of the training forward) for 1 epoch;
#   3. pinned memory (the DataLoader's, on by default on CUDA) with 2 workers;
#   4. torchrun with NCCL and 1 process;
#   5. extract --fp16 (and --bf16) on a generated video.
# Then the timing table: the train step at batch 32 and 256 (fp32 / fp16 AMP / compile, scripts/bench_precision.py),
# one epoch of the synthetic preset, the inference forward (scripts/bench_model.py), and extraction in seconds
# of video per second per precision (scripts/bench_extract.py).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check_output}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/gpu_check.log"
: > "$LOG"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
declare -a RESULTS=()

step() {  # step NAME COMMAND...: run it, log it, time it, record PASS / FAIL (a failure does not stop the others)
  local name=$1; shift
  local t0=$(date +%s)
  echo "=== $name: $*" >> "$LOG"
  if "$@" >> "$LOG" 2>&1; then RESULTS+=("| $name | PASS | $(( $(date +%s) - t0 )) s |")
  else RESULTS+=("| $name | FAIL (see $LOG) | $(( $(date +%s) - t0 )) s |"); fi
  echo "${RESULTS[-1]}"
}

python - <<'EOF' || { echo "gpu_check: no CUDA device visible to torch (a CUDA build of torch is needed)"; exit 2; }
import torch
assert torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}, "
      f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
EOF

DATA="$OUT/data"
step "synthetic data" python -m video_lights.data.synthetic --out "$DATA" --seed 0
TRAIN=(python -m video_lights.train --preset synthetic --feat_root "$DATA" --device cuda --num_workers 2
       --eval_epoch 1 --seed 2018)

amp_and_resume() {
  rm -rf "$OUT/amp"
  "${TRAIN[@]}" --results_root "$OUT/amp" --exp_id amp --n_epoch 2 --amp on || return 1
  local run; run=$(ls -d "$OUT"/amp/*-amp-* | tail -n 1)
  python - "$run/model_latest.ckpt" <<'EOF' || return 1
import sys
from video_lights.model.checkpoint import read_checkpoint
ckpt = read_checkpoint(sys.argv[1])
assert "scaler" in ckpt and ckpt["scaler"]["scale"] > 0, "no GradScaler state in the checkpoint"
print(f"scaler state saved: scale {ckpt['scaler']['scale']}, epoch {ckpt['epoch']}")
EOF
  "${TRAIN[@]}" --results_root "$OUT/amp" --exp_id amp_resumed --n_epoch 3 --amp on --resume_all \
    --resume "$run/model_latest.ckpt" || return 1
  local resumed; resumed=$(ls -d "$OUT"/amp/*-amp_resumed-* | tail -n 1)
  grep -q "\[Epoch\] 003" "$resumed/train.log.txt" || { echo "the resumed run did not train epoch 3"; return 1; }
}
step "fp16 AMP + GradScaler, resumed" amp_and_resume
step "--compile" "${TRAIN[@]}" --results_root "$OUT/compile" --exp_id compile --n_epoch 1 --compile

pinned() {
  python - "$DATA" <<'EOF' || return 1
import sys
from video_lights.config import parse_args
from video_lights.engine.evaluation import pin_memory
opt = parse_args(["--preset", "synthetic", "--feat_root", sys.argv[1], "--device", "cuda"])
assert pin_memory(opt), "pinned memory is off on CUDA"
print("pin_memory on for CUDA")
EOF
  "${TRAIN[@]}" --results_root "$OUT/pinned" --exp_id pinned --n_epoch 1 --amp off
}
step "pinned memory, 2 workers" pinned
step "torchrun NCCL, 1 process" torchrun --standalone --nproc_per_node 1 -m video_lights.train --preset synthetic \
  --feat_root "$DATA" --device cuda --num_workers 0 --eval_epoch 1 --n_epoch 1 --results_root "$OUT/torchrun" \
  --exp_id torchrun

extract_half() {
  python - "$OUT/extract" <<'EOF' || return 1
import json, os, sys
sys.path.insert(0, "tests")
from synthetic_videos import make_video
from video_lights.features import blip2, clip, slowfast
root = sys.argv[1]
os.makedirs(f"{root}/videos", exist_ok=True)
make_video(f"{root}/videos/v1.mp4", fps=30, duration=8.0, size=(320, 180), codec="libx264")
clip.save_tiny_random(f"{root}/clip")
blip2.save_tiny_random(f"{root}/blip2")
slowfast.save_tiny_random(f"{root}/slowfast.safetensors")
EOF
  local p
  for p in fp16 bf16; do
    python -m video_lights.extract --out "$OUT/extract/feats_$p" --videos "$OUT/extract/videos" \
      --slowfast "$OUT/extract/slowfast.safetensors" --clip "$OUT/extract/clip" --blip2 "$OUT/extract/blip2" \
      --device cuda "--$p" || return 1
  done
}
step "extract --fp16 / --bf16" extract_half

epoch() {
  local t0; t0=$(python -c "import time; print(time.time())")
  "${TRAIN[@]}" --results_root "$OUT/epoch" --exp_id epoch --n_epoch 1 --eval_epoch 100 --amp off || return 1
  python -c "import time; print(f'one synthetic epoch, fp32, incl. start-up: {time.time() - $t0:.1f} s')"
}

{
  echo; echo "## GPU timing table"
  python -c "import torch; print(torch.cuda.get_device_name(), 'torch', torch.__version__)"
  for bsz in 32 256; do
    python scripts/bench_precision.py --device cuda --bsz "$bsz" --modes fp32 amp compile
  done
  epoch
  python scripts/bench_model.py --device cuda --eval_bsz 100
  python scripts/bench_model.py --device cuda --eval_bsz 100 --amp --amp_dtype float16
  python scripts/bench_extract.py --device cuda --seconds 60 --precisions fp32 fp16 bf16
} 2>&1 | tee -a "$LOG" | grep -v "^\s*$" > "$OUT/timings.md"
cat "$OUT/timings.md"

echo; echo "| check | result | time |"; echo "|---|---|---|"
printf '%s\n' "${RESULTS[@]}"
! printf '%s\n' "${RESULTS[@]}" | grep -q FAIL
