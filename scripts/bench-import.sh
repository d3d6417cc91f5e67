#!/usr/bin/env bash
# bench-import.sh — issue 17's "ESPI import, the whole command", measured side by side:
#
#   1. `custody import` of a generated Green Button bulk feed (20 meters × 365 days × 96
#      fifteen-minute readings = 700,800 readings, 192 MB), into a new database;
#   2. the same feed through scripts/bench-import-python.py (ElementTree + sqlite3), the
#      script a user would otherwise write;
#   3. modernc SQLite's own multi-row INSERT ceiling for the same readings, one row each, in
#      the table Custody used until it packed a day's readings into one row (`espibench ceiling`);
#   4. `custody import` of the same readings with the ReadingType after every IntervalBlock
#      (the worst case for memory), for its peak RSS.
#
# Each is run ROUNDS times, interleaved, in this one sitting; the figures are per CPU-second
# (user + system, from wait4's rusage), the steady figure on a shared machine. The summary
# takes each command's median.
#
# Usage: scripts/bench-import.sh [ROUNDS] [METERS] [DAYS]     (default 3 20 365)
# Needs go and python3. Builds a headless custody (-tags ci, no cgo) in a temporary folder.
#
# BASELINE=REV (a commit, e.g. de87c5c, main before issue 17) also builds that revision and
# runs its import in each round beside the others, so "before" and "after" come from the same
# sitting on the same machine (the figures move with the machine and its load).
set -euo pipefail

ROUNDS=${1:-3}
METERS=${2:-20}
DAYS=${3:-365}
N=$((METERS * DAYS * 96))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/custody-bench-import.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "building custody (headless) and espibench in $WORK" >&2
(cd "$ROOT" && CGO_ENABLED=0 go build -tags ci -o "$WORK/custody" . && go build -o "$WORK/espibench" ./scripts/espibench)
if [ -n "${BASELINE:-}" ]; then
	echo "building custody at $BASELINE (the baseline)" >&2
	git -C "$ROOT" worktree add --detach "$WORK/baseline-src" "$BASELINE" >/dev/null
	trap 'git -C "$ROOT" worktree remove --force "$WORK/baseline-src" 2>/dev/null; rm -rf "$WORK"' EXIT
	(cd "$WORK/baseline-src" && CGO_ENABLED=0 go build -tags ci -o "$WORK/custody-baseline" .)
fi
"$WORK/espibench" gen -meters "$METERS" -days "$DAYS" "$WORK/feed.xml" >&2
"$WORK/espibench" gen -meters "$METERS" -days "$DAYS" -rt-last "$WORK/feed-rtlast.xml" >&2
echo "feed: $(du -m "$WORK/feed.xml" | cut -f1) MB, $N readings; python3: $(python3 --version 2>&1)" >&2

results="$WORK/results.txt"
: >"$results"
for r in $(seq 1 "$ROUNDS"); do
	rm -f "$WORK"/*.db*
	"$WORK/espibench" measure -label custody -readings "$N" -- "$WORK/custody" --db "$WORK/c.db" import "$WORK/feed.xml" 2>/dev/null | tee -a "$results"
	"$WORK/espibench" measure -label python -readings "$N" -- python3 "$ROOT/scripts/bench-import-python.py" "$WORK/feed.xml" "$WORK/p.db" 2>/dev/null | tee -a "$results"
	"$WORK/espibench" ceiling -meters "$METERS" -days "$DAYS" "$WORK/s.db" | tee -a "$results"
	if [ -n "${BASELINE:-}" ]; then
		"$WORK/espibench" measure -label baseline -readings "$N" -- "$WORK/custody-baseline" --db "$WORK/b.db" import "$WORK/feed.xml" 2>/dev/null | tee -a "$results"
	fi
	"$WORK/espibench" measure -label custody-rtlast -readings "$N" -- "$WORK/custody" --db "$WORK/r.db" import "$WORK/feed-rtlast.xml" 2>/dev/null | tee -a "$results"
done

# Median readings per CPU-second of each command, then the ratios the issue asks for.
median() { grep "^$1:" "$results" | sed -E 's/.* ([0-9]+) readings\/cpu-s.*/\1/' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
peak() { grep "^$1:" "$results" | sed -E 's/.*peak RSS ([0-9.]+) MB.*/\1/' | sort -n | tail -1; }
c=$(median custody)
p=$(median python)
s=$(median sqlite-ceiling)
echo
echo "median readings per CPU-second over $ROUNDS rounds:"
echo "  custody import          $c   (peak RSS up to $(peak custody) MB)"
echo "  python ElementTree      $p"
echo "  sqlite multi-row INSERT $s"
echo "  custody, ReadingType last: $(median custody-rtlast) (peak RSS up to $(peak custody-rtlast) MB)"
if [ -n "${BASELINE:-}" ]; then
	echo "  baseline $BASELINE      $(median baseline)   (peak RSS up to $(peak baseline) MB)"
fi
awk -v c="$c" -v p="$p" -v s="$s" 'BEGIN {
	printf "  custody / python  = %.2fx  (target >= 5x)\n", c / p
	printf "  custody / ceiling = %.0f%%   (target >= 60%%)\n", 100 * c / s
}'
