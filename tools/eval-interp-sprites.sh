#!/usr/bin/env bash
# Interpolation on the footage the default model makes: `kinora dataset` sprite clips (64x64, 33
# frames, the training distribution), in docs/interpolation.md "Generated clips".
#  1. `kinora eval-interp` on 12 clips (every other frame dropped and rebuilt, against minterpolate);
#  2. build/tools/interp_keyframes on 40 clips with 8, 12 and 17 keyframes placed as `generate`
#     places them: the frames between filled pair by pair (constant velocity, bilinear) and by the
#     whole-video engine that generate uses.
#   tools/eval-interp-sprites.sh [--threads N]     (needs `make tools`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
K="$root/build/kinora"
[ -x "$root/build/tools/interp_keyframes" ] || { echo "run make tools first" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$K" dataset "$T/a" --clips 12 --size 64 --frames 33 --seed 7 --png >/dev/null
for c in "$T"/a/clips/*/; do
    ffmpeg -v error -framerate 16 -i "$c/%02d.png" -c:v ffv1 "${c%/}.mkv"
done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$K" eval-interp "$T"/a/clips/*.mkv --threads 2 "$@"
"$K" dataset "$T/b" --clips 40 --size 64 --frames 33 --seed 11 >/dev/null
for k in 8 12 17; do "$root/build/tools/interp_keyframes" "$T/b" 40 33 64 $k | tail -1; done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
