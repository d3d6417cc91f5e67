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
dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" "$(dirname "$0")/smoke-inner.sh"

# Not blank: the screenshot must have many distinct colours and a real spread of brightness.
colours=$(/usr/bin/convert "$out/window.png" -format '%k' info:)
stddev=$(/usr/bin/convert "$out/window.png" -colorspace Gray -format '%[fx:standard_deviation*1000]' info:)
echo "smoke: screenshot $out/window.png has $colours colours, brightness spread $stddev/1000"
if [ "$colours" -lt 16 ] || [ "${stddev%.*}" -lt 20 ]; then
  echo "smoke: the window looks blank"; exit 1
fi
echo "smoke: ok"
