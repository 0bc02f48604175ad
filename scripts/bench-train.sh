#!/usr/bin/env bash
# Training throughput (`make bench`, after the kernel table): one `kinora train --stage joint` step
# (text encoder + UNetMotionModel forward and backward, clipping, AdamW, EMA) on the default model's
# architecture (models/default configs, random weights), beside tools/bench_train_torch.py, the same
# step in PyTorch (Debian's python3-torch, OpenBLAS), with the same batch, frames, latent size and
# thread count. Kinora's per-step times come from its loss log; the first steps (latent caching, page
# faults) are dropped on both sides. Prints medians, samples/s and the ratio.
#   scripts/bench-train.sh [--md]
# Environment: BENCH_THREADS (2), BENCH_BATCH (4), BENCH_FRAMES (8), BENCH_STEPS (8).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
threads=${BENCH_THREADS:-2}; batch=${BENCH_BATCH:-4}; frames=${BENCH_FRAMES:-8}; steps=${BENCH_STEPS:-8}
md=0; [ "${1:-}" = "--md" ] && md=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
K=build/kinora
# data: exactly one batch of 64x64 clips, so every step after the first reads cached latents
$K dataset "$tmp/data" --clips 64 --frames "$frames" --size 64 --seed 5 >/dev/null
cp -r models/default "$tmp/init"
rm -f "$tmp"/init/*/*.safetensors
# a VAE with weights (one step from random: its values do not matter for speed)
$K train --stage vae --init "$tmp/init" --out "$tmp/v" --data "$tmp/data" --steps 1 --batch 1 --threads "$threads" --quiet
$K train --stage joint --init "$tmp/v" --out "$tmp/j" --data "$tmp/data" --steps "$steps" --batch "$batch" \
  --frames "$frames" --threads "$threads" --quiet --save-every 100000 --caption-dropout 0
kn=$(awk -F, 'NR > 3 {print $5}' "$tmp/j/loss_joint.csv" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
latent=$((64 / 4))
pt=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" /usr/bin/python3 tools/bench_train_torch.py models/default \
     "$threads" "$batch" "$frames" "$latent" "$((steps - 1))" | awk '/^torch_train_step_s/{print $2}')
ratio=$(awk -v a="$kn" -v b="$pt" 'BEGIN{printf "%.2f", b / a}')
if [ $md -eq 1 ]; then
  echo "| training step (joint: text encoder + UNetMotionModel fwd/bwd + AdamW) | batch $batch x $frames frames, latents ${latent}x${latent}, $threads threads | $kn s ($(awk -v a="$kn" -v b="$batch" 'BEGIN{printf "%.2f", b/a}') clips/s) | $pt s (torch) | ${ratio}x |"
else
  echo "train step (joint, default architecture)  batch $batch x $frames frames, latents ${latent}x${latent}, $threads threads: kinora $kn s, torch $pt s, ratio ${ratio} (>1: Kinora faster)"
fi
