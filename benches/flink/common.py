"""Shared helpers for benches/flink/compare.py and benches/flink/vshape_throughput.py.

- `ensure_pyflink()`: re-executes the calling script under the PyFlink venv's python
  (`target/flink-venv` or `$WAVECREST_FLINK_VENV`, made by benches/flink/setup.sh) when
  pyflink cannot be imported.
- `wavecrest_binary()`: the wavecrest binary to run (`$WAVECREST_BIN`, else the newest of the
  usual build outputs).
- `flink_env()`: a streaming TableEnvironment with parallelism 1.
- `write_ticker_csv()`: the benchmark's ticker events (benches/pipeline.rs `bid_batches` +
  `ticker_batches`, reproduced exactly) as CSV.
"""

import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORK = os.path.join(REPO, "target", "flink-compare")


def venv_dir():
    return os.environ.get("WAVECREST_FLINK_VENV") or os.path.join(REPO, "target", "flink-venv")


def ensure_pyflink():
    """Re-exec under the venv's python if pyflink is not importable here."""
    try:
        import pyflink  # noqa: F401
        return
    except ImportError:
        pass
    py = os.path.join(venv_dir(), "bin", "python")
    if not os.path.exists(py):
        sys.exit(f"pyflink is not installed: run benches/flink/setup.sh first (venv: {venv_dir()})")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv_dir()):
        sys.exit(f"pyflink cannot be imported from {py}: re-run benches/flink/setup.sh")
    os.execv(py, [py] + sys.argv)


def wavecrest_binary(prefer_release=True):
    """`$WAVECREST_BIN`, else the first existing of the usual build outputs (release first
    when `prefer_release`), else None."""
    env = os.environ.get("WAVECREST_BIN")
    if env:
        return env
    release = [
        os.path.join(REPO, "target", "release", "wavecrest"),
        "/work/target-release/release/wavecrest",
    ]
    debug = [
        os.path.join(REPO, "target", "debug", "wavecrest"),
        "/work/target-main/debug/wavecrest",
    ]
    for path in (release + debug) if prefer_release else (debug + release):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def is_release(binary):
    return binary is not None and "/release/" in binary


def run_wavecrest(binary, sql_path, fmt="csv", timeout=600):
    """Runs `wavecrest run --format fmt sql_path`; returns (returncode, stdout, stderr)."""
    p = subprocess.run(
        [binary, "run", "--format", fmt, sql_path], capture_output=True, text=True, timeout=timeout
    )
    return p.returncode, p.stdout, p.stderr


def flink_env():
    """A streaming-mode TableEnvironment running jobs with parallelism 1 (local mini cluster)."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    tenv = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = tenv.get_config()
    conf.set("parallelism.default", "1")
    conf.set("table.exec.resource.default-parallelism", "1")
    return tenv


def flink_error_summary(exc):
    """The most telling line of a (Java) exception: the deepest 'Caused by', else the first."""
    text = str(exc)
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("at ")]
    causes = [l for l in lines if l.startswith("Caused by:")]
    exceptions = [l.lstrip(": ") for l in lines if "Exception:" in l or "Error:" in l]
    if causes:
        line = causes[-1][len("Caused by:"):].strip()
    elif exceptions:
        line = exceptions[0]
    else:
        line = lines[0] if lines else repr(exc)
    for prefix in (
        "org.apache.flink.table.api.",
        "org.apache.flink.sql.parser.impl.",
        "org.apache.calcite.sql.validate.",
        "org.apache.calcite.runtime.",
        "java.lang.",
    ):
        line = line.replace(prefix, "")
    return line[:300]


# --- The benchmark's ticker events (benches/pipeline.rs), reproduced exactly. ---

AUCTIONS = 1000
EVENTS_PER_MS = 12
BASE_MS = 1_704_067_200_000  # 2024-01-01 00:00:00 UTC
M64 = (1 << 64) - 1


class SplitMix64:
    """benches/pipeline.rs `Rng`."""

    def __init__(self, seed):
        self.s = seed

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n


def ticker_rows(events):
    """Yields (auction, bidder, price, ts_ms) exactly as `ticker_batches(&bid_batches(..))`:
    1 000 auctions, each block of 1 000 events holds every auction once (Fisher-Yates with
    splitmix64 seed 42), 12 events per ms from 2024-01-01, a tenth delayed by up to 1.5 s;
    prices a random walk per auction (steps -10..=10 from 500, at least 1; seed 11)."""
    rng = SplitMix64(42)
    walk = SplitMix64(11)
    order = list(range(AUCTIONS))
    prices = [500] * AUCTIONS
    below = rng.below
    wbelow = walk.below
    for e in range(events):
        if e % AUCTIONS == 0:
            for k in range(AUCTIONS - 1, 0, -1):
                j = below(k + 1)
                order[k], order[j] = order[j], order[k]
        a = order[e % AUCTIONS]
        bidder = below(100_000)
        below(1_000)  # the bid price, replaced by the walk below
        delay = below(1_500) if below(10) == 0 else 0
        ts = BASE_MS + e // EVENTS_PER_MS - delay
        p = prices[a] + wbelow(21) - 10
        if p < 1:
            p = 1
        prices[a] = p
        yield a, bidder, p, ts


def format_ts_ms(ms):
    import datetime

    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (ms % 1000)


def write_ticker_csv(path, events):
    """Writes `auction,bidder,price,ts` rows (no header) unless the file already exists
    with a matching `.done` marker. Returns the path."""
    marker = path + ".done"
    if os.path.exists(path) and os.path.exists(marker):
        with open(marker) as f:
            if f.read().strip() == str(events):
                return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Timestamps: cache the second prefix.
    prefixes = {}
    with open(path, "w", buffering=1 << 20) as f:
        buf = []
        for a, bidder, p, ts in ticker_rows(events):
            sec, ms = divmod(ts, 1000)
            pre = prefixes.get(sec)
            if pre is None:
                pre = prefixes[sec] = format_ts_ms(sec * 1000)[:-3]
            buf.append("%d,%d,%d,%s%03d\n" % (a, bidder, p, pre, ms))
            if len(buf) >= 100_000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    with open(marker, "w") as f:
        f.write(str(events))
    return path


TICKER_DDL = (
    "CREATE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3), "
    "WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) "
    "WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')"
)
