#!/usr/bin/env bash
# Checkpoint cost benchmark: the Nexmark q5-style query of benches/checkpoint_cost.sql
# (HOP(2 s, 10 s) bid counts per auction, then the maximum per window, blackhole sink) run
# by the release binary through the whole runtime (source, workers, sink and, with
# checkpoints, the coordinator), alternately without checkpoints ("off") and with
# `--state-dir` and `--checkpoint-interval` ("on", a fresh state directory each run).
# Each run reads the same fixed number of generator events; its throughput is the rows read
# divided by the job's run time, as the run's own summary line reports it. Runs alternate
# off, on, on, off, off, on, ... so that a drift in machine load hits both modes alike.
# Prints every run, the median of each mode and the ratio on ÷ off (target: >= 0.90, i.e.
# checkpointing every 10 s costs < 10% throughput).
#
# Usage: benches/checkpoint_cost.sh [--events N] [--pairs K] [--interval D] [--no-build]
#   --events N     generator events per run (default $EVENTS, else 300000000; choose N so
#                  that a run takes >= 60 s, i.e. several checkpoint intervals)
#   --pairs K      number of off/on pairs (default 3)
#   --interval D   --checkpoint-interval of the "on" runs (default 10s)
#   --no-build     do not run `cargo build --release` (use the existing binary)
# Environment: CARGO_TARGET_DIR (where the release binary is), WAVECREST_BIN (a binary to
# run instead of <target>/release/wavecrest; implies --no-build).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

EVENTS=${EVENTS:-300000000}
PAIRS=3
INTERVAL=10s
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --events) [ $# -ge 2 ] || { echo "checkpoint_cost.sh: --events needs a value" >&2; exit 2; }; EVENTS=$2; shift 2 ;;
    --pairs) [ $# -ge 2 ] || { echo "checkpoint_cost.sh: --pairs needs a value" >&2; exit 2; }; PAIRS=$2; shift 2 ;;
    --interval) [ $# -ge 2 ] || { echo "checkpoint_cost.sh: --interval needs a value" >&2; exit 2; }; INTERVAL=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "checkpoint_cost.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
EVENTS=${EVENTS//_/}
for v in "$EVENTS" "$PAIRS"; do
  case "$v" in ''|*[!0-9]*|0) echo "checkpoint_cost.sh: --events and --pairs must be positive whole numbers" >&2; exit 2 ;; esac
done

TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ -n "${WAVECREST_BIN:-}" ]; then
  BIN=$WAVECREST_BIN
else
  BIN=$TARGET_DIR/release/wavecrest
  if [ "$BUILD" = 1 ]; then
    cargo build --release --bin wavecrest
  fi
fi
[ -x "$BIN" ] || { echo "checkpoint_cost.sh: no binary at $BIN" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
sed "s/@EVENTS@/$EVENTS/" benches/checkpoint_cost.sql > "$WORK/q5.sql"

# Runs one mode; appends "mode rows seconds checkpoints checkpoint-bytes" to $WORK/runs.
run() {
  local mode=$1 args=() state="$WORK/state"
  rm -rf "$state"
  if [ "$mode" = on ]; then args=(--state-dir "$state" --checkpoint-interval "$INTERVAL"); fi
  "$BIN" run "${args[@]}" "$WORK/q5.sql" 2> "$WORK/stderr"
  local summary rows secs chk bytes
  summary=$(grep ' rows in,' "$WORK/stderr") || { cat "$WORK/stderr" >&2; exit 1; }
  rows=$(sed -E 's/^wavecrest: ([0-9]+) rows in.*/\1/' <<< "$summary")
  secs=$(sed -E 's/.*, ([0-9.]+) s \(.*/\1/' <<< "$summary")
  chk=$(sed -nE 's/^wavecrest: ([0-9]+) checkpoints written/\1/p' "$WORK/stderr")
  # The largest checkpoint file kept (the last periodic ones hold the window state).
  bytes=$( (ls -l "$state"/chk-*.json 2>/dev/null || true) | awk 'BEGIN {m = 0} $5 > m {m = $5} END {print m}')
  if [ "$mode" = on ]; then
    # Keep the largest checkpoint of the runs, for the format comparison at the end.
    local largest
    largest=$( (ls -S "$state"/chk-*.json 2>/dev/null || true) | head -1)
    if [ -n "$largest" ] && [ "$(stat -c %s "$largest")" -gt "$(stat -c %s "$WORK/largest.json" 2>/dev/null || echo 0)" ]; then
      cp "$largest" "$WORK/largest.json"
    fi
  fi
  echo "$mode $rows $secs ${chk:-0} $bytes" >> "$WORK/runs"
  awk -v m="$mode" -v r="$rows" -v s="$secs" -v c="${chk:-0}" -v b="$bytes" 'BEGIN {
    printf "%-3s  %d rows in %.2f s: %.3f M events/s", m, r, s, r / s / 1e6
    if (m == "on") printf ", %d checkpoints, largest kept file %d bytes", c, b
    printf "\n"
  }'
}

echo "checkpoint_cost.sh: $BIN, $EVENTS events per run, $PAIRS pairs, checkpoint interval $INTERVAL" >&2
for ((i = 0; i < PAIRS; i++)); do
  if ((i % 2 == 0)); then run off; run on; else run on; run off; fi
done

awk '
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { eps = $2 / $3; if ($1 == "on") on[++n_on] = eps; else off[++n_off] = eps }
  END {
    m_off = median(off, n_off); m_on = median(on, n_on)
    printf "median off: %.3f M events/s, on: %.3f M events/s\n", m_off / 1e6, m_on / 1e6
    printf "ratio on / off: %.3f (target >= 0.90: %s)\n", m_on / m_off, (m_on / m_off >= 0.9 ? "met" : "NOT met")
  }' "$WORK/runs"
if [ -f "$WORK/largest.json" ] && command -v python3 > /dev/null; then
  echo "largest checkpoint file, and its size in the old format (byte fields as JSON number lists):"
  python3 benches/checkpoint_format1_size.py "$WORK/largest.json"
fi
