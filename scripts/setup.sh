#!/usr/bin/env bash
# Installs every Debian package Kinora's build, tests, benchmarks and demo need. Idempotent.
set -euo pipefail
PKGS=(
  build-essential pkg-config clang            # compilers (clang for the libFuzzer harnesses)
  libjansson-dev                              # JSON configs
  libpng-dev libjpeg-dev                      # images
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev ffmpeg   # video and sound in/out, ffprobe in tests
  libsqlite3-dev libmicrohttpd-dev            # the service: job store, HTTP
  libfreetype-dev fonts-noto-color-emoji unicode-data   # the training data set (emoji sprites)
  python3-torch python3-numpy libopenblas0-pthread      # PyTorch references for tests and benchmarks
  python3-pil                                 # tools/direction-probe.sh reads the keyframes
  curl                                        # service tests
  opencv-doc                                  # real footage for the interpolation benchmark
  chromium                                    # end-to-end test of the web page
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
