#!/usr/bin/env bash
# End-to-end benchmark: `wavecrest run benches/e2e.sql` (TUMBLE(10 s) COUNT/SUM/MAX GROUP BY
# auction over a bids CSV into a blackhole sink), reported as events per CPU-second
# (rows / (user + sys seconds)). Target: >= 5 M events per CPU-second.
#
# Usage: benches/e2e.sh [--rows N] [--no-build]
#   --rows N     rows of target/bench/bids.csv (default $ROWS, else 10000000); the CSV is
#                (re)generated with benches/gen_bids.py when missing or of another size
#   --no-build   do not run `cargo build --release` (use the existing binary)
# Environment: CARGO_TARGET_DIR (where the release binary is), WAVECREST_BIN (a binary to
# run instead of <target>/release/wavecrest; implies --no-build).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

ROWS=${ROWS:-10000000}
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) [ $# -ge 2 ] || { echo "e2e.sh: --rows needs a value" >&2; exit 2; }; ROWS=$2; shift 2 ;;
    --rows=*) ROWS=${1#*=}; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "e2e.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
ROWS=${ROWS//_/}
case "$ROWS" in ''|*[!0-9]*) echo "e2e.sh: rows must be a whole number, got '$ROWS'" >&2; exit 2 ;; esac

CSV=target/bench/bids.csv
if [ ! -f "$CSV" ] || [ "$(wc -l < "$CSV")" -ne "$ROWS" ]; then
  mkdir -p "$(dirname "$CSV")"
  echo "e2e.sh: generating $CSV ($ROWS rows)" >&2
  python3 benches/gen_bids.py "$CSV.tmp" "$ROWS"
  mv "$CSV.tmp" "$CSV"
fi

TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ -n "${WAVECREST_BIN:-}" ]; then
  BIN=$WAVECREST_BIN
else
  BIN=$TARGET_DIR/release/wavecrest
  if [ "$BUILD" = 1 ]; then
    cargo build --release --bin wavecrest
  fi
fi
[ -x "$BIN" ] || { echo "e2e.sh: no binary at $BIN" >&2; exit 1; }

TIMES=$(mktemp)
trap 'rm -f "$TIMES"' EXIT
echo "e2e.sh: $BIN run benches/e2e.sql ($ROWS rows)" >&2
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v -o "$TIMES" "$BIN" run benches/e2e.sql
  USER_S=$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$TIMES")
  SYS_S=$(awk -F': ' '/System time \(seconds\)/ {print $2}' "$TIMES")
  WALL=$(awk -F': ' '/Elapsed \(wall clock\) time/ {print $2}' "$TIMES")
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TIMES")
else
  # No GNU time: bash's `time` gives user and sys seconds too.
  TIMEFORMAT='%U %S %R'
  { time "$BIN" run benches/e2e.sql 2>&3; } 3>&2 2>"$TIMES"
  read -r USER_S SYS_S WALL < "$TIMES"
  RSS_KB=unknown
fi

awk -v rows="$ROWS" -v u="$USER_S" -v s="$SYS_S" -v wall="$WALL" -v rss="$RSS_KB" 'BEGIN {
  cpu = u + s
  printf "rows: %d\nuser: %.2f s  sys: %.2f s  cpu: %.2f s  wall: %s  max RSS: %s kB\n", rows, u, s, cpu, wall, rss
  if (cpu <= 0) { print "events per CPU-second: n/a (no CPU time measured)"; exit }
  eps = rows / cpu
  printf "events per CPU-second: %.0f (%.2f M; target >= 5 M: %s)\n", eps, eps / 1e6, (eps >= 5e6 ? "met" : "NOT met")
}'
