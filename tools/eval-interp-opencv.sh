#!/usr/bin/env bash
# Reproduces the table in docs/interpolation.md: `kinora eval-interp` on the real clips shipped by
# Debian's opencv-doc (vtest.avi, box.mp4 and cup.mp4 from their .gz, Megamind.avi, tree.avi).
#   tools/eval-interp-opencv.sh [--threads N] [--frames N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=/usr/share/doc/opencv-doc/examples/data
. "$root/tools/opencv-clips.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
opencv_clips "$T"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$root/build/kinora" eval-interp "$data/vtest.avi" "$T/box.mp4" "$data/Megamind.avi" "$data/tree.avi" "$T/cup.mp4" \
    --threads 2 "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
