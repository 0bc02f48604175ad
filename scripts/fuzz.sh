#!/usr/bin/env bash
# libFuzzer runs: scripts/fuzz.sh SECONDS [HARNESS...]
# Builds each fuzz/fuzz_*.c with clang -fsanitize=fuzzer,address,undefined straight from the sources it
# needs (not the Makefile objects) into build/fuzz/, seeds it from the shared test vectors and the
# project's own vectors (copied at run time, nothing committed; the video harness from short clips that
# FFmpeg makes at run time), runs it for SECONDS and fails on any
# crash, leak or sanitizer report. Prints one line per harness and a closing "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-60}
shift || true
SHARED=${KINORA_SHARED:-$(cd "$root/.." && pwd)/shared}
out=build/fuzz
mkdir -p "$out"
CC=${FUZZ_CC:-clang}
if ! command -v "$CC" > /dev/null; then echo "fuzz: $CC not found (scripts/setup.sh installs clang)"; echo "0 passed, 1 failed"; exit 1; fi
flags="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Iinclude -Isrc $(pkg-config --cflags jansson 2>/dev/null)"
libs="$(pkg-config --libs jansson 2>/dev/null || echo -ljansson) -lm -pthread"
common="src/core/core.c src/io/safetensors.c src/io/config.c src/io/files.c"

sources_for() {   # the library sources a harness links
  case "$1" in
    fuzz_config) echo "$common src/sched/*.c" ;;
    fuzz_exif) echo "$common src/io/image.c" ;;
    fuzz_video) echo "src/core/core.c src/io/*.c" ;;
    fuzz_interp_times) echo "src/core/core.c src/core/pool.c src/core/cpu.c src/io/*.c" $(ls src/interp/*.c | grep -v '_avx2\.c$') ;;
    *) echo "$common" ;;
  esac
}

libs_for() {   # the system libraries a harness needs beyond jansson
  case "$1" in
    fuzz_exif) pkg-config --libs libpng libjpeg 2>/dev/null || echo "-lpng16 -ljpeg" ;;
    fuzz_video|fuzz_interp_times)
      pkg-config --libs libpng libjpeg libavcodec libavformat libavutil libswscale libswresample freetype2 ;;
  esac
}

cflags_for() {   # the system headers a harness needs beyond jansson's
  case "$1" in
    fuzz_video|fuzz_interp_times) pkg-config --cflags libpng libavcodec libavformat freetype2 ;;
  esac
}

isa_objects_for() {   # the *_avx2.c sources a harness links, built with their own flags (as the Makefile does)
  local h=$1 f o
  case "$h" in
    fuzz_interp_times)
      mkdir -p "$out/obj-$h"
      for f in src/interp/*_avx2.c; do
        o="$out/obj-$h/$(basename "$f" .c).o"
        # shellcheck disable=SC2086
        $CC $flags -mavx2 -mfma -mf16c -c "$f" -o "$o" || return 1
        echo "$o"
      done ;;
  esac
}

seed() {   # seed DIR HARNESS: small real inputs of the harness's format
  local dir=$1 name=$2 dirs=()
  mkdir -p "$dir"
  [ -d "$SHARED/testvectors" ] && dirs+=("$SHARED/testvectors")
  [ -d tests/vectors ] && dirs+=(tests/vectors)
  [ -d tests/data ] && dirs+=(tests/data)
  if [ "$name" = fuzz_interp_times ]; then   # 10 fps in, 20 out, six frames: steady, then one late and one back
    perl -e 'print pack("C3 d6", 9, 19, 4, 0, 0.1, 0.2, 0.3, 0.4, 0.5), "\x80" x 96' > "$dir/steady"
    perl -e 'print pack("C3 d6", 9, 19, 4, 0, 0.1, 0.9, 0.3, 0.4, "nan"), "\x40" x 96' > "$dir/uneven"
    return
  fi
  if [ "$name" = fuzz_video ]; then   # one short clip in each container and codec family FFmpeg makes here,
    local spec ext                    # an interlaced MPEG-2 among them (the deinterlacer's path), and two
                                      # half transparent (VP9 with alpha, ProRes 4444: the alpha's path)
    for spec in "mp4:-c:v libx264 -pix_fmt yuv420p" "mkv:-c:v ffv1" "avi:-c:v mjpeg -pix_fmt yuvj420p" "gif:" \
                "y4m:-pix_fmt yuv420p" "webm:-c:v libvpx-vp9 -pix_fmt yuv420p" "mov:-c:v png" \
                "ts:-c:v mpeg2video -flags +ildct+ilme -top 1 -pix_fmt yuv420p" "nut:-c:v rawvideo -pix_fmt rgb24" \
                "alpha.webm:-vf format=rgba,colorchannelmixer=aa=0.5 -c:v libvpx-vp9 -pix_fmt yuva420p" \
                "alpha.mov:-vf format=rgba,colorchannelmixer=aa=0.5 -c:v prores_ks -profile:v 4444 -pix_fmt yuva444p10le"; do
      ext=${spec%%:*}
      # shellcheck disable=SC2086
      ffmpeg -v error -y -f lavfi -i testsrc=size=32x24:rate=10 -t 0.5 ${spec#*:} "$dir/seed.$ext" || true
    done
    return
  fi
  [ ${#dirs[@]} -eq 0 ] && return
  case "$name" in
    fuzz_safetensors)
      find "${dirs[@]}" -name '*.safetensors' -size -64k 2>/dev/null | head -40 | while read -r f; do
        cp "$f" "$dir/$(echo "$f" | md5sum | cut -c1-12)"
      done
      # a large model file contributes its header only: the parser's interesting part
      find "${dirs[@]}" -name '*.safetensors' -size +64k 2>/dev/null | head -4 | while read -r f; do
        head -c 65536 "$f" > "$dir/head-$(echo "$f" | md5sum | cut -c1-12)"
      done ;;
    fuzz_config)
      find "${dirs[@]}" -name '*.json' -size -64k 2>/dev/null | head -60 | while read -r f; do
        cp "$f" "$dir/$(echo "$f" | md5sum | cut -c1-12)"
      done ;;
    fuzz_exif)   # orientation 6 in both byte orders: one IFD0 entry (tag 0x0112, SHORT, count 1)
      printf 'Exif\0\0II*\0\10\0\0\0\1\0\22\1\3\0\1\0\0\0\6\0\0\0\0\0\0\0' > "$dir/ii"
      printf 'Exif\0\0MM\0*\0\0\0\10\0\1\1\22\0\3\0\0\0\1\0\6\0\0\0\0\0\0' > "$dir/mm" ;;
  esac
}

harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do harnesses+=("$(basename "$f" .c)"); done
fi
pass=0; fail=0
for h in "${harnesses[@]}"; do
  bin="$out/$h"
  # shellcheck disable=SC2046
  if ! objs=$(isa_objects_for "$h" 2> "$out/$h.build.log") ||
     ! $CC $flags $(cflags_for "$h") "fuzz/$h.c" $(sources_for "$h") $objs -o "$bin" $libs $(libs_for "$h") >> "$out/$h.build.log" 2>&1; then
    cat "$out/$h.build.log"; echo "not ok - fuzz $h: build failed"; fail=$((fail+1)); continue
  fi
  corpus="$out/corpus-$h"; seeds="$out/seeds-$h"
  rm -rf "$seeds"; mkdir -p "$corpus"; seed "$seeds" "$h"
  log="$out/$h.log"
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$out/$h-" "$corpus" "$seeds" > "$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  if [ $rc -eq 0 ]; then
    echo "ok - fuzz $h: ${secs}s, ${runs:-?} runs, no crash"; pass=$((pass+1))
  else
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written|artifact' "$log" | head -20
    echo "not ok - fuzz $h: crashed (exit $rc), log $log"; fail=$((fail+1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
