#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Custody's build and tests need, when they are missing.
# Uses sudo when not root. Safe to run again: it installs nothing when all are present.
set -euo pipefail
pkgs=(gcc pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev
      libxi-dev libxxf86vm-dev libwayland-dev libxkbcommon-dev
      xvfb xauth imagemagick x11-utils xdotool gnome-keyring dbus libgl1-mesa-dri
      libxml2-utils)
# DuckDB's Node client reads the Parquet export in app's tests (they skip without it).
if command -v npm >/dev/null 2>&1 && [ ! -d "$(dirname "$0")/parquet-check/node_modules/@duckdb/node-api" ]; then
  "$(dirname "$0")/parquet-check/install.sh" || echo "deps: DuckDB's Node client not installed; the Parquet reading test will skip"
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || true
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
