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

inner() {
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
}
export -f inner
export bin out
dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" bash -c inner

# Not blank: the screenshot must have many distinct colours and a real spread of brightness.
colours=$(/usr/bin/convert "$out/window.png" -format '%k' info:)
stddev=$(/usr/bin/convert "$out/window.png" -colorspace Gray -format '%[fx:standard_deviation*1000]' info:)
echo "smoke: screenshot $out/window.png has $colours colours, brightness spread $stddev/1000"
if [ "$colours" -lt 16 ] || [ "${stddev%.*}" -lt 20 ]; then
  echo "smoke: the window looks blank"; exit 1
fi
echo "smoke: ok"
