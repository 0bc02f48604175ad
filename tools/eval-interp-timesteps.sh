#!/usr/bin/env bash
# Reproduces the "Other timesteps" runs in docs/interpolation.md: tools/eval_interp_timesteps.py (every
# fourth frame kept, `interpolate --factor 4` against minterpolate at four times the rate) on box.mp4
# and cup.mp4 (from their .gz in Debian's opencv-doc) and vtest.avi.
#   tools/eval-interp-timesteps.sh [--factor N] [--frames N] [--threads N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
box=$(find /usr/share/doc/opencv-doc -name 'box.mp4.gz' | head -1)
cup=$(find /usr/share/doc/opencv-doc -name 'cup.mp4.gz' | head -1)
[ -n "$box" ] && [ -n "$cup" ] || { echo "opencv-doc is not installed (apt-get install opencv-doc)" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
gunzip -c "$box" > "$T/box.mp4"
gunzip -c "$cup" > "$T/cup.mp4"
"$root/tools/eval_interp_timesteps.py" "$T/box.mp4" "$T/cup.mp4" /usr/share/doc/opencv-doc/examples/data/vtest.avi "$@"
