#!/usr/bin/env bash
# Kernel benchmark (`make bench`): kn_gemm / kn_conv2d / kn_attention / group norm / SiLU throughput
# at SD-UNet shapes beside OpenBLAS sgemm (numpy) and PyTorch (torch.nn.functional), both limited to the
# same thread count. Each program reports the median of REPS runs per shape; per round, each kind
# (gemm, conv, other) runs on both sides back to back. Across ROUNDS rounds the table keeps, per side,
# the best round (BENCH_STAT=best, the default: on a shared machine it is the round least disturbed by
# other jobs) or the median round (BENCH_STAT=median).
#   scripts/bench.sh [--md]      --md prints a Markdown table (as in docs/benchmarks.md)
# Environment: BENCH_THREADS (2), BENCH_REPS (7), BENCH_ROUNDS (3), BENCH_STAT (best|median).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
threads=${BENCH_THREADS:-2}; reps=${BENCH_REPS:-7}; rounds=${BENCH_ROUNDS:-3}; stat=${BENCH_STAT:-best}
md=0; [ "${1:-}" = "--md" ] && md=1
bin=build/bench/bench_ops
[ -x "$bin" ] || make -j2 "$bin" >/dev/null
py=/usr/bin/python3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Each kind is timed on both sides back to back, so the two see nearly the same machine load.
for r in $(seq "$rounds"); do
  "$bin" "$threads" "$reps" gemm > "$tmp/kn.gemm.$r"
  # The environment may pin OpenBLAS to a core type and cache size; let it detect the CPU itself.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" \
    "$py" bench/ref_blas_torch.py gemm "$threads" "$reps" > "$tmp/ref.gemm.$r"
  for kind in conv other; do
    "$bin" "$threads" "$reps" $kind > "$tmp/kn.$kind.$r"
    OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
      "$py" bench/ref_blas_torch.py $kind "$threads" "$reps" > "$tmp/ref.$kind.$r"
  done
done
isa=$(awk '/^isa/{print $2; exit}' "$tmp/kn.gemm.1")
core=$(awk '/^blas_core/{print $2; exit}' "$tmp/ref.gemm.1")
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
fam=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
# per (kind + shape) key, the median or the best round of the last field (best: highest GFLOP/s,
# lowest milliseconds)
med() { cat "$@" | awk '/^(gemm|conv|attn|gn|silu) /{k=$1; for(i=2;i<NF;i++) k=k" "$i; print k"\t"$NF}' |
        sort -t$'\t' -k1,1 -k2,2g | awk -F'\t' -v stat="$stat" '{v[$1]=v[$1]" "$2}
          END{for(k in v){n=split(v[k],a," "); t=(k ~ /^(gn|silu) /);
              x = stat == "median" ? a[int((n+1)/2)] : (t ? a[1] : a[n]); print k"\t"x}}'; }
med "$tmp"/kn.*.* > "$tmp/kn"; med "$tmp"/ref.*.* > "$tmp/ref"
if [ $md -eq 1 ]; then
  echo "Measured $(date -u +%Y-%m-%d) on $cpu (CPU family $fam), $(nproc) cores, $threads threads; Kinora ISA path: $isa;"
  echo "OpenBLAS kernel: $core (OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset); each figure: the $stat of $rounds rounds, each round the median of $reps runs."
  echo
  echo "| op | shape | Kinora | reference | ratio |"
  echo "|---|---|---|---|---|"
fi
join -t$'\t' <(sort "$tmp/kn") <(sort "$tmp/ref") | sort -t$'\t' -k1,1 | awk -F'\t' -v md=$md '
  { split($1, f, " "); kind = f[1]; shape = substr($1, length(kind) + 2)
    time = (kind == "gn" || kind == "silu")
    unit = time ? "ms" : "GFLOP/s"
    ref = kind == "gemm" ? "OpenBLAS sgemm" : "torch"
    ratio = time ? $3 / $2 : $2 / $3   # > 1: Kinora faster
    name = kind == "gemm" ? "kn_gemm (x W^T)" : kind == "conv" ? "kn_conv2d 3x3 pad 1" : kind == "attn" ? "kn_attention (self)" : kind == "gn" ? "kn_group_norm" : "kn_activation SiLU"
    dims = kind == "gemm" ? "M,N,K = " shape : kind == "conv" ? "B,C,H,W,Cout,k = " shape : kind == "attn" ? "B,L,H,dh = " shape : kind == "gn" ? "B,C,S,G = " shape : "n = " shape
    if (md) printf "| %s | %s | %s %s | %s %s (%s) | %.2fx |\n", name, dims, $2, unit, $3, unit, ref, ratio
    else printf "%-22s %-28s kinora %9s %-7s ref %9s (%s)  ratio %.2f\n", name, dims, $2, unit, $3, ref, ratio }'
[ $md -eq 1 ] || echo "isa $isa, OpenBLAS core $core, $threads threads, CPU: $cpu (family $fam)"
