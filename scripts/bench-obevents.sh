#!/bin/sh
# Open Banking events through the whole path a user runs: `custody sync --once` of an obevents
# source draining a queue of pre-signed PS256 events from the Open Banking simulator, each in
# its own process; only custody's CPU time (getrusage of the child) is counted.
#
#   scripts/bench-obevents.sh [EVENTS [PER_POLL [RUNS]]]
#
# EVENTS (default 20000) are queued; PER_POLL (default 10, the most several banks answer at
# once) is both the bank's cap and the source's max_events, so the sync commits once per
# PER_POLL events. Set CUSTODY_TEST_CPUPROFILE=file to write custody's CPU profile.
set -eu
cd "$(dirname "$0")/.."
n=${1:-20000}
per=${2:-10}
runs=${3:-2}
OBEVENTS_N=$n OBEVENTS_MAX=$per exec go test -tags ci -run '^$' -bench SyncOnceObevents -benchtime 1x -count "$runs" ./app/
