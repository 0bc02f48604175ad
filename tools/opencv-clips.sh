# Sourced by the tools that measure on Debian's opencv-doc clips: opencv_clips DIR unpacks box.mp4 and
# cup.mp4 (shipped gzipped in its html folder) into DIR, or fails saying opencv-doc is missing.
opencv_clips() {
  local box cup
  box=$(find /usr/share/doc/opencv-doc -name 'box.mp4.gz' 2>/dev/null | head -1)
  cup=$(find /usr/share/doc/opencv-doc -name 'cup.mp4.gz' 2>/dev/null | head -1)
  [ -n "$box" ] && [ -n "$cup" ] || { echo "opencv-doc is not installed (apt-get install opencv-doc)" >&2; return 1; }
  gunzip -c "$box" > "$1/box.mp4"
  gunzip -c "$cup" > "$1/cup.mp4"
}
