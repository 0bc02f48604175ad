#!/usr/bin/env bash
# Real-size UNet call (`make bench`, issue #3): the Stable Diffusion 1.5 UNet + AnimateDiff v1.5-2
# motion adapter shapes (about 1.3 B parameters, random f16 weights written once to build/big by
# tools/torch_unet_ref.py big: 2.9 GB of disk, about 4 minutes), latents [1, 4, 16, 32, 32], timestep 500,
# a [1, 77, 768] context. Kinora (bench/bench_unet.c) and the PyTorch reference of the same
# architecture (tools/bench_unet_torch.py) run the same call on the same weights and inputs in this
# invocation; each reports the median of REPS calls after a warm-up and its peak resident memory.
# Environment: BENCH_THREADS (2), BENCH_UNET_REPS (3), BENCH_SKIP_UNET=1 skips this section.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ "${BENCH_SKIP_UNET:-0}" = 1 ] && exit 0
threads=${BENCH_THREADS:-2}; reps=${BENCH_UNET_REPS:-3}
big=build/big
[ -f "$big/unet/diffusion_pytorch_model.safetensors" ] || /usr/bin/python3 tools/torch_unet_ref.py big "$big"
[ -x build/bench/bench_unet ] || make -j2 build/bench/bench_unet >/dev/null
kn=$(build/bench/bench_unet "$big/unet" "$big/motion_adapter" "$big/io.safetensors" "$threads" "$reps" 2>/dev/null)
pt=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" /usr/bin/python3 tools/bench_unet_torch.py \
     "$big/unet" "$big/motion_adapter" "$big/io.safetensors" "$threads" "$reps" 2>/dev/null)
get() { echo "$1" | awk -v k="$2" '$1 == k {print $2}'; }
ks=$(get "$kn" kinora_unet_call_s); ps=$(get "$pt" torch_unet_call_s)
echo "real-size UNet call [1,4,16,32,32], $threads threads: kinora $ks s (peak RSS $(get "$kn" kinora_peak_rss_mib) MiB," \
     "weights $(get "$kn" weights_mib) MiB f16), torch reference $ps s (peak RSS $(get "$pt" torch_peak_rss_mib) MiB)," \
     "ratio $(awk -v a="$ks" -v b="$ps" 'BEGIN{printf "%.2f", b/a}') (>1: Kinora faster); max |diff| $(get "$pt" max_abs_diff)"
