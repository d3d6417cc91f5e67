#!/usr/bin/env bash
# Starts the real binary in a real X window under Xvfb and checks the screenshot: a Custody
# window exists and what it shows is not blank. Usage: scripts/smoke.sh BINARY [OUTDIR]
set -euo pipefail
bin=$(realpath "$1")
out=${2:-smoke-artifacts}
mkdir -p "$out"
out=$(realpath "$out")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR="$work/run" HOME="$work/home" CUSTODY_DB="$work/smoke.db"
mkdir -p "$XDG_RUNTIME_DIR" "$HOME"; chmod 700 "$XDG_RUNTIME_DIR"

export bin out
dbus-run-session -- xvfb-run -a -s "-screen 0 1400x900x24 -nolisten tcp" "$(dirname "$0")/smoke-inner.sh"

# Not blank: every screenshot must have many distinct colours and a real spread of brightness.
blank=0
for f in "$out"/*.png; do
  colours=$(/usr/bin/convert "$f" -format '%k' info:)
  stddev=$(/usr/bin/convert "$f" -colorspace Gray -format '%[fx:round(standard_deviation*1000)]' info:)
  echo "smoke: $(basename "$f"): $colours colours, brightness spread $stddev/1000"
  if [ "$colours" -lt 16 ] || [ "$stddev" -lt 20 ]; then echo "smoke: $(basename "$f") looks blank"; blank=1; fi
done
[ $blank -eq 0 ] || exit 1

# Every view must look different from the one before it: the keys really switched views, and the
# wheel really zoomed the chart.
for size in 1400x900 800x600; do
  prev=""
  for v in usage usage-zoomed events messages sources activity; do
    f="$out/$size-$v.png"
    dims=$(/usr/bin/convert "$f" -format '%wx%h' info:)
    if [ "$dims" != "$size" ]; then echo "smoke: $(basename "$f") is $dims, want $size"; exit 1; fi
    if [ -n "$prev" ]; then
      diff=$(/usr/bin/compare -metric AE "$out/$size-$prev.png" "$f" /dev/null 2>&1 || true)
      diff=${diff%% *}
      echo "smoke: $size $prev -> $v: $diff pixels differ"
      if [ "${diff%.*}" -lt 500 ]; then echo "smoke: $v looks the same as $prev at $size"; exit 1; fi
    fi
    prev=$v
  done
done
echo "smoke: ok (screenshots in $out)"
