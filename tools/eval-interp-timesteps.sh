#!/usr/bin/env bash
# Reproduces the "Other timesteps" runs in docs/interpolation.md: tools/eval_interp_timesteps.py (every
# fourth frame kept, `interpolate --factor 4` against minterpolate at four times the rate) on box.mp4
# and cup.mp4 (from their .gz in Debian's opencv-doc) and vtest.avi.
#   tools/eval-interp-timesteps.sh [--factor N] [--frames N] [--threads N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tools/opencv-clips.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
opencv_clips "$T"
"$root/tools/eval_interp_timesteps.py" "$T/box.mp4" "$T/cup.mp4" /usr/share/doc/opencv-doc/examples/data/vtest.avi "$@"
