#!/usr/bin/env bash
# Reproduces the table in docs/interpolation.md: `kinora eval-interp` on the real clips shipped by
# Debian's opencv-doc (vtest.avi, box.mp4 and cup.mp4 from their .gz, Megamind.avi, tree.avi).
#   tools/eval-interp-opencv.sh [--threads N] [--frames N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=/usr/share/doc/opencv-doc/examples/data
box=$(find /usr/share/doc/opencv-doc -name 'box.mp4.gz' | head -1)
cup=$(find /usr/share/doc/opencv-doc -name 'cup.mp4.gz' | head -1)
[ -n "$box" ] && [ -n "$cup" ] || { echo "opencv-doc is not installed (apt-get install opencv-doc)" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
gunzip -c "$box" > "$T/box.mp4"
gunzip -c "$cup" > "$T/cup.mp4"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$root/build/kinora" eval-interp "$data/vtest.avi" "$T/box.mp4" "$data/Megamind.avi" "$data/tree.avi" "$T/cup.mp4" \
    --threads 2 "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
