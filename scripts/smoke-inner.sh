#!/usr/bin/env bash
# The part of scripts/smoke.sh that runs inside Xvfb and the private D-Bus session: start
# `custody --demo`, wait for its window and the demo's first sync, then visit every view with
# the keyboard (Ctrl+1…5) at 1400×900 and at 800×600, zoom the usage chart with the wheel, and
# keep a screenshot of each in $out. Expects $bin and $out in the environment.
set -euo pipefail
"$bin" --demo >"$out/app.log" 2>&1 &
app=$!
alive() {
  kill -0 $app 2>/dev/null || { echo "smoke: the app exited ($1)"; cat "$out/app.log"; exit 1; }
}
# Wait for the window to be mapped (up to 60 s on a loaded machine).
for _ in $(seq 1 120); do
  if xwininfo -root -tree 2>/dev/null | grep -q '"Custody'; then break; fi
  alive "before its window appeared"
  sleep 0.5
done
xwininfo -root -tree | grep '"Custody' || { echo "smoke: no Custody window"; cat "$out/app.log"; kill $app; exit 1; }
sleep 6 # the first frames, and the demo's first sync of every source
import -window root "$out/window.png"

# Every view at two window sizes: the smallest supported (800×600) and a large one. With no
# window manager the window sits at +0+0, so the screenshot is the screen cropped to it.
win=$(xdotool search --name '^Custody' | head -1)
for size in 1400x900 800x600; do
  w=${size%x*}; h=${size#*x}
  xdotool windowsize "$win" "$w" "$h"
  sleep 2
  # No window manager: move the pointer into the window so it has the keyboard focus.
  xdotool mousemove $((w / 2)) $((h / 2))
  sleep 0.5
  shot() { sleep 2.5; alive "while showing $1 at $size"; import -window root -crop "${size}+0+0" +repage "$out/$size-$1.png"; }
  xdotool key ctrl+1; shot usage
  # The wheel over the chart (right of the meter list, below the cards).
  xdotool mousemove $((w * 2 / 3)) $((h / 2)); xdotool click 4 click 4 click 4; shot usage-zoomed
  xdotool mousemove $((w / 2)) $((h / 2))
  xdotool key ctrl+2; shot events
  xdotool key ctrl+3; shot messages
  xdotool key ctrl+4; shot sources
  xdotool key ctrl+5; shot activity
done

kill -TERM $app
for _ in $(seq 1 40); do kill -0 $app 2>/dev/null || break; sleep 0.25; done
if kill -0 $app 2>/dev/null; then echo "smoke: the app did not stop on SIGTERM"; kill -9 $app; exit 1; fi
if grep -q "Error in Fyne call thread" "$out/app.log"; then
  echo "smoke: widgets touched off the Fyne goroutine:"; grep -A3 "Error in Fyne call thread" "$out/app.log"; exit 1
fi
if grep -q "^panic:" "$out/app.log"; then echo "smoke: the app panicked"; cat "$out/app.log"; exit 1; fi
