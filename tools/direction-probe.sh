#!/usr/bin/env bash
# Direction probe of a model (docs/training.md): does "moving left" move the object left, and not
# just "moving"? Generates 6 objects x 4 directions x 2 seeds on a plain white background and
# measures the object's centroid (pixels far from the frame's median colour) in the keyframes.
#   tools/direction-probe.sh MODEL_DIR OUT_DIR [KINORA_BINARY]
# Prints, per captioned direction, the mean centroid shift (second half of the keyframes minus
# the first half, in pixels, x right and y down), the mean shift along the captioned direction, and
# how many clips move more than 2 px along the captioned axis with the captioned sign while that
# axis dominates. Keyframes already in OUT_DIR are reused.
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,9p "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
model=$1 out=$2 bin=${3:-$root/build/kinora}
mkdir -p "$out"
for obj in "red apple" rocket star "soccer ball" fish "blue heart"; do
  for d in left right up down; do
    for s in 0 1; do
      f="$out/$(echo "$obj" | tr ' ' _)_${d}_$s"
      [ -f "$f/00007.png" ] || "$bin" generate "a $obj moving $d on a plain white background" --model "$model" \
        --seed $s --threads 1 -o "$f.y4m" --keyframes-out "$f" >/dev/null
    done
  done
done
/usr/bin/python3 - "$out" <<'EOF'
import glob, os, sys
import numpy as np
from PIL import Image
out = sys.argv[1]
want = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
shifts = {d: [] for d in want}
correct = {d: 0 for d in want}
for f in sorted(glob.glob(out + "/*_?")):
    if not os.path.isdir(f):
        continue
    d = f.split("_")[-2]
    cs = []
    for i in range(len(glob.glob(f + "/*.png"))):
        a = np.asarray(Image.open(f"{f}/{i:05d}.png").convert("RGB")).astype(float)
        bg = np.median(a.reshape(-1, 3), axis=0)
        ys, xs = np.nonzero(np.sqrt(((a - bg) ** 2).sum(-1)) > 60)
        cs.append((xs.mean(), ys.mean()) if len(xs) > 5 else (np.nan, np.nan))
    cs = np.array(cs)
    h = len(cs) // 2
    v = np.nanmean(cs[h:], 0) - np.nanmean(cs[:h], 0)
    w = np.array(want[d])
    shifts[d].append(v)
    if np.all(np.isfinite(v)):
        ax = int(np.argmax(np.abs(v)))
        correct[d] += int(w[ax] != 0 and np.sign(v[ax]) == w[ax] and abs(v[ax]) > 2)
print("caption  mean shift (x, y) px   along caption   correct")
for d in want:
    v = np.nanmean(np.array(shifts[d]), 0)
    along = np.nanmean([s @ np.array(want[d]) for s in shifts[d]])
    print(f"{d:7s}  ({v[0]:+5.2f}, {v[1]:+5.2f})        {along:+6.2f}        {correct[d]}/{len(shifts[d])}")
alls = [s @ np.array(want[d]) for d in want for s in shifts[d]]
print(f"all                            {np.nanmean(alls):+6.2f}        {sum(correct.values())}/{sum(len(s) for s in shifts.values())}")
EOF
