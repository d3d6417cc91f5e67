#!/usr/bin/env bash
# The part of scripts/smoke.sh that runs inside Xvfb and the private D-Bus session.
# Expects $bin and $out in the environment.
set -euo pipefail
"$bin" --demo >"$out/app.log" 2>&1 &
app=$!
# Wait for the window to be mapped (up to 60 s on a loaded machine).
for _ in $(seq 1 120); do
  if xwininfo -root -tree 2>/dev/null | grep -q '"Custody'; then break; fi
  if ! kill -0 $app 2>/dev/null; then echo "smoke: the app exited early"; cat "$out/app.log"; exit 1; fi
  sleep 0.5
done
xwininfo -root -tree | grep '"Custody' || { echo "smoke: no Custody window"; cat "$out/app.log"; kill $app; exit 1; }
sleep 4 # let the first frames and the demo's first sync land
import -window root "$out/window.png"
if [ -n "${SMOKE_CLICKS:-}" ]; then "$SMOKE_CLICKS" "$out"; fi
kill -TERM $app
for _ in $(seq 1 40); do kill -0 $app 2>/dev/null || break; sleep 0.25; done
if kill -0 $app 2>/dev/null; then echo "smoke: the app did not stop on SIGTERM"; kill -9 $app; exit 1; fi
if grep -q "Error in Fyne call thread" "$out/app.log"; then
  echo "smoke: widgets touched off the Fyne goroutine:"; grep -A3 "Error in Fyne call thread" "$out/app.log"; exit 1
fi
