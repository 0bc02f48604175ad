#!/usr/bin/env bash
# One command: install packages, build, and generate a video.
#   scripts/demo.sh ["PROMPT"] [OUT]
# Until Kinora's own default model's weights ship (models/default holds its configs and tokenizer;
# the weights come from `kinora train`, docs/training.md), this uses the small test model built from
# the shared reference case (random weights: the video shows structured noise, not the prompt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
prompt=${1:-"a red apple bouncing"}
out=${2:-demo.mp4}
scripts/setup.sh
make -j"$(nproc)" all >/dev/null
if [ -f models/default/unet/diffusion_pytorch_model.safetensors ]; then
  model=models/default
else
  SHARED=${KINORA_SHARED:-$(cd "$root/.." && pwd)/shared}
  /usr/bin/python3 tools/make_small_model.py "$SHARED/testvectors/pipeline_t2v_a" build/small-model
  model=build/small-model
  echo "demo: no default model yet; using the small random-weight test model ($model)"
fi
build/kinora generate "$prompt" --model "$model" -o "$out" --size 64x64 --keyframes 8 --frames 32 --fps 16 --steps 20 --json
echo "demo: wrote $out"
