#!/bin/sh
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring "login"
# collection, so the keyring integration test talks to a real Secret Service and never
# touches the user's own keyring. Usage: scripts/with-keyring.sh CMD [ARGS...]
set -eu
# Keep Go's caches when HOME is swapped for a throwaway keyring home.
if command -v go >/dev/null 2>&1; then
  export GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)" GOPATH="$(go env GOPATH)"
fi
export HOME="$(mktemp -d)"
export XDG_RUNTIME_DIR="$HOME/.run"
mkdir -p "$HOME/.local/share/keyrings" "$XDG_RUNTIME_DIR"
chmod 700 "$HOME/.local" "$HOME/.local/share" "$HOME/.local/share/keyrings" "$XDG_RUNTIME_DIR"
exec dbus-run-session -- sh -c '
  printf %s "ci-keyring-pass" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  exec "$@"' sh "$@"
