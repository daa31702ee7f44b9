#!/usr/bin/env python3
"""Writes a bids CSV for the end-to-end benchmark (benches/e2e.sh).

Usage: python3 benches/gen_bids.py OUT.csv [ROWS=10000000] [SEED=42]

Rows are `auction,bidder,price,ts` without a header, ts like `2024-01-01 00:00:01.196`.
Like benches/pipeline.rs: 1 000 auctions, every block of 1 000 consecutive rows holds each
auction once (shuffled), 12 rows per millisecond of event time (about 120 rows per auction
per 10 s window), and a tenth of the rows are delayed by up to 1.5 s, so event times are
mostly increasing with disorder below the 2 s watermark delay. Deterministic for a seed.
"""

import random
import sys

AUCTIONS = 1000
EVENTS_PER_MS = 12
MAX_DELAY_MS = 1500
# Rows per write; a multiple of AUCTIONS.
CHUNK = 100 * AUCTIONS


def main(argv):
    if len(argv) < 2 or len(argv) > 4 or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    out = argv[1]
    rows = int(argv[2].replace("_", "")) if len(argv) > 2 else 10_000_000
    seed = int(argv[3]) if len(argv) > 3 else 42
    rng = random.Random(seed)
    rand = rng.random
    shuffle = rng.shuffle

    # "2024-01-01 HH:MM:SS." for a whole second since 2024-01-01 00:00:00 (days roll over).
    prefixes = {}

    def prefix(sec):
        p = prefixes.get(sec)
        if p is None:
            day, rem = divmod(sec, 86400)
            if day > 27:
                raise SystemExit("gen_bids.py: more than 28 days of event time is not supported")
            h, rem = divmod(rem, 3600)
            m, s = divmod(rem, 60)
            p = prefixes[sec] = "2024-01-%02d %02d:%02d:%02d." % (day + 1, h, m, s)
        return p

    # Sub-second suffixes "000".."999".
    millis = ["%03d" % i for i in range(1000)]
    order = list(range(AUCTIONS))
    with open(out, "w", buffering=1 << 20) as f:
        done = 0
        while done < rows:
            n = min(CHUNK, rows - done)
            lines = []
            append = lines.append
            for start in range(done, done + n, AUCTIONS):
                shuffle(order)
                for k in range(min(AUCTIONS, done + n - start)):
                    e = start + k
                    t = e // EVENTS_PER_MS
                    r = rand()
                    if r < 0.1:
                        # Reuses r: uniform over [0, MAX_DELAY_MS) given r < 0.1.
                        t -= int(r * 10 * MAX_DELAY_MS)
                    # Offset by the max delay so that no timestamp is before 2024-01-01.
                    t += MAX_DELAY_MS
                    sec, ms = divmod(t, 1000)
                    append(
                        "%d,%d,%d,%s%s\n"
                        % (order[k], int(rand() * 100000), 1 + int(rand() * 1000), prefix(sec), millis[ms])
                    )
            f.write("".join(lines))
            done += n
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
