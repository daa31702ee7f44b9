#!/usr/bin/env python3
"""V-shape MATCH_RECOGNIZE throughput: Wavecrest next to Apache Flink 2.3 (PyFlink).

Writes the benchmark's ticker events (benches/pipeline.rs `bid_batches` + `ticker_batches`:
1 M events, 1 000 symbols, prices a random walk per symbol, a tenth of the events up to
1.5 s out of order under a 2 s watermark delay) to a CSV file, then runs the same DDL and
`INSERT INTO <blackhole> SELECT .. MATCH_RECOGNIZE ..` through

- Flink: streaming mode, parallelism 1, local mini cluster in the PyFlink JVM. Timed three
  ways: from before the JVM starts to the end of the first job ("with JVM start"), from
  submitting a job to its end ("job wall"), and Flink's own net job runtime. The job runs
  `--runs` times in the same JVM (the first run is JIT-cold); the best is reported.
- Wavecrest: `wavecrest run` with `SET 'parallelism' = '1'`, wall time of the process,
  `--runs` times, best reported.

Queries:
- `v_shape_stop` (compared): `PATTERN (STRT DOWN+ UP+ STOP)` with `STOP AS price <=
  PREV(price)` and `AFTER MATCH SKIP TO LAST STOP`: the benchmark's greedy V-shape in the
  form Flink accepts (Flink rejects a greedy quantifier at the end of a pattern). It gives the
  same matches as the benchmark's query except for partitions whose input ends inside UP+.
- `v_shape_one_up` (compared): Flink's documented form `PATTERN (STRT DOWN+ UP)`, SKIP PAST
  LAST ROW.
- `v_shape_bench` (Wavecrest only): the exact query of `cargo bench -- match/v_shape`,
  `PATTERN (STRT DOWN+ UP+)` with SKIP PAST LAST ROW; Flink's error is printed.
- `scan` (both): `INSERT INTO <blackhole> SELECT * FROM bids`, the cost of reading the CSV.

    benches/flink/setup.sh                          # once
    python3 benches/flink/vshape_throughput.py      # 1 M events, 3 runs each
    python3 benches/flink/vshape_throughput.py --cpu 0 --check

`--cpu N` pins both engines (the PyFlink JVM and its threads, and the wavecrest process) to
CPU N, so that "one core" means one core for every thread of the engine. `--check` also
collects both engines' V-shape matches (`SELECT`, not the blackhole) and compares them.
The Wavecrest binary is `$WAVECREST_BIN` or the first found of target/release,
/work/target-release/release, then debug builds (debug numbers are not comparable).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SINK_DDL = {
    "v_shape": "CREATE TABLE sink (auction BIGINT, start_price BIGINT, bottom_price BIGINT, end_price BIGINT) "
    "WITH ('connector' = 'blackhole')",
    "scan": "CREATE TABLE sink (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3)) "
    "WITH ('connector' = 'blackhole')",
}

MEASURES = "MEASURES STRT.price AS start_price, LAST(DOWN.price) AS bottom_price, LAST(UP.price) AS end_price"

QUERIES = {
    "v_shape_stop": (
        "v_shape",
        "SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts "
        f"{MEASURES} ONE ROW PER MATCH AFTER MATCH SKIP TO LAST STOP PATTERN (STRT DOWN+ UP+ STOP) "
        "DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price), STOP AS price <= PREV(price))",
    ),
    "v_shape_one_up": (
        "v_shape",
        "SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts "
        f"{MEASURES} ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW PATTERN (STRT DOWN+ UP) "
        "DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price))",
    ),
    "v_shape_bench": (
        "v_shape",
        "SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts "
        f"{MEASURES} ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW PATTERN (STRT DOWN+ UP+) "
        "DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price))",
    ),
    "scan": ("scan", "SELECT * FROM bids"),
}


def rate(events, seconds):
    return events / seconds if seconds > 0 else float("nan")


def fmt_rate(r):
    if r != r:
        return "-"
    if r >= 1e6:
        return f"{r / 1e6:.2f} M/s"
    return f"{r / 1e3:.0f} k/s"


def pin(cpu):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


# ----------------------------------------------------------------------------- Flink


def flink_runs(csv_path, events, names, runs, cpu):
    """{name: {...timings...}} for each query name, all in one JVM."""
    pin(cpu)
    common.ensure_pyflink()
    t0 = time.time()
    tenv = common.flink_env()
    # Touch the JVM so that its start is over before the first job.
    tenv.execute_sql("SHOW TABLES").collect().close()
    jvm_up = time.time() - t0
    out = {"_jvm_start_s": jvm_up}
    ddl = common.TICKER_DDL.format(path=csv_path)
    first_job_end = None
    for name in names:
        kind, query = QUERIES[name]
        tenv.execute_sql("DROP TABLE IF EXISTS bids")
        tenv.execute_sql("DROP TABLE IF EXISTS sink")
        tenv.execute_sql(ddl)
        tenv.execute_sql(SINK_DDL[kind])
        res = {"wall": [], "net": []}
        try:
            for i in range(runs):
                t = time.time()
                result = tenv.execute_sql(f"INSERT INTO sink {query}")
                client = result.get_job_client()
                result.wait()
                wall = time.time() - t
                net = None
                try:
                    net = client.get_job_execution_result().result().get_net_runtime() / 1000.0
                except Exception:  # noqa: BLE001
                    pass
                if first_job_end is None:
                    first_job_end = time.time()
                    out["_first_job_with_jvm_s"] = first_job_end - t0
                    out["_first_job_name"] = name
                res["wall"].append(wall)
                res["net"].append(net)
                print(
                    f"  flink {name} run {i + 1}: job wall {wall:.2f} s ({fmt_rate(rate(events, wall))}), "
                    f"net runtime {net if net is None else round(net, 2)} s",
                    file=sys.stderr,
                )
        except Exception as e:  # noqa: BLE001
            res["error"] = common.flink_error_summary(e)
            print(f"  flink {name}: {res['error']}", file=sys.stderr)
        out[name] = res
    return out, tenv


def flink_collect(tenv, csv_path, query):
    tenv.execute_sql("DROP TABLE IF EXISTS bids")
    tenv.execute_sql(common.TICKER_DDL.format(path=csv_path))
    rows = []
    with tenv.execute_sql(query).collect() as it:
        for r in it:
            rows.append(",".join("" if v is None else str(v) for v in r))
    return rows


# ------------------------------------------------------------------------- Wavecrest


def wavecrest_runs(binary, csv_path, events, names, runs, cpu):
    out = {}
    os.makedirs(common.WORK, exist_ok=True)
    for name in names:
        kind, query = QUERIES[name]
        sql = (
            "SET 'parallelism' = '1';\n"
            + common.TICKER_DDL.format(path=csv_path)
            + ";\n"
            + SINK_DDL[kind]
            + ";\n"
            + f"INSERT INTO sink {query};\n"
        )
        path = os.path.join(common.WORK, f"throughput_{name}.sql")
        with open(path, "w") as f:
            f.write(sql)
        res = {"wall": [], "summary": []}
        for i in range(runs):
            t = time.time()
            p = subprocess.run(
                [binary, "run", path],
                capture_output=True,
                text=True,
                preexec_fn=(lambda: pin(cpu)) if cpu is not None else None,
            )
            wall = time.time() - t
            if p.returncode != 0:
                res["error"] = (p.stderr.strip().splitlines() or ["?"])[-1][:300]
                print(f"  wavecrest {name}: {res['error']}", file=sys.stderr)
                break
            summary = [l for l in p.stderr.splitlines() if l.startswith("wavecrest: ")]
            res["wall"].append(wall)
            res["summary"].append(summary[-1] if summary else "")
            print(
                f"  wavecrest {name} run {i + 1}: wall {wall:.2f} s ({fmt_rate(rate(events, wall))})"
                f"  [{summary[-1] if summary else ''}]",
                file=sys.stderr,
            )
        out[name] = res
    return out


def wavecrest_collect(binary, csv_path, query):
    sql = "SET 'parallelism' = '1';\n" + common.TICKER_DDL.format(path=csv_path) + ";\n" + query + ";\n"
    path = os.path.join(common.WORK, "throughput_check.sql")
    with open(path, "w") as f:
        f.write(sql)
    code, out, err = common.run_wavecrest(binary, path, timeout=3600)
    if code != 0:
        raise RuntimeError(err.strip()[-300:])
    lines = out.splitlines()[1:]  # header
    return [l.split(",", 1)[1] for l in lines]  # drop the op column


# ------------------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="pin both engines to this CPU")
    ap.add_argument("--queries", default="v_shape_stop,v_shape_one_up,v_shape_bench,scan")
    ap.add_argument("--no-flink", action="store_true")
    ap.add_argument("--no-wavecrest", action="store_true")
    ap.add_argument("--check", action="store_true", help="also compare both engines' v_shape_stop matches")
    ap.add_argument("--json", help="also write the timings as JSON to this file")
    args = ap.parse_args()

    common.ensure_pyflink()
    names = [n for n in args.queries.split(",") if n]
    csv_path = os.path.join(common.WORK, f"ticker_{args.events}.csv")
    t = time.time()
    common.write_ticker_csv(csv_path, args.events)
    print(f"input: {csv_path} ({args.events} events, {os.path.getsize(csv_path) / 1e6:.0f} MB, "
          f"ready in {time.time() - t:.1f} s)", file=sys.stderr)

    binary = None if args.no_wavecrest else common.wavecrest_binary(prefer_release=True)
    if not args.no_wavecrest and binary is None:
        print("wavecrest: no binary found (set WAVECREST_BIN)", file=sys.stderr)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"pinned to CPU {args.cpu}" if args.cpu is not None else
          f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; not pinned",
          file=sys.stderr)

    w = {}
    if binary:
        print(f"wavecrest: {binary}" + ("" if common.is_release(binary) else "  (NOT a release build)"),
              file=sys.stderr)
        w = wavecrest_runs(binary, csv_path, args.events, names, args.runs, args.cpu)
    f, tenv = ({}, None)
    if not args.no_flink:
        f, tenv = flink_runs(csv_path, args.events, names, args.runs, args.cpu)

    n = args.events
    print()
    print(f"V-shape throughput, {n} events, 1 000 symbols, parallelism 1"
          + (f", pinned to CPU {args.cpu}" if args.cpu is not None else ""))
    if f:
        print(f"Flink JVM start: {f['_jvm_start_s']:.1f} s; first job ({f.get('_first_job_name')}) "
              f"including JVM start: {f.get('_first_job_with_jvm_s', float('nan')):.1f} s "
              f"= {fmt_rate(rate(n, f.get('_first_job_with_jvm_s', 0)))}")
    hdr = f"{'query':16} {'wavecrest best':>15} {'flink job best':>15} {'flink net best':>15} {'flink 1st job':>14} {'ratio w/f':>10}"
    print(hdr)
    print("-" * len(hdr))
    for name in names:
        wr = w.get(name, {})
        fr = f.get(name, {})
        wbest = rate(n, min(wr["wall"])) if wr.get("wall") else float("nan")
        fjob = rate(n, min(fr["wall"])) if fr.get("wall") else float("nan")
        nets = [x for x in fr.get("net", []) if x]
        fnet = rate(n, min(nets)) if nets else float("nan")
        ffirst = rate(n, fr["wall"][0]) if fr.get("wall") else float("nan")
        ratio = wbest / fnet if wbest == wbest and fnet == fnet else float("nan")
        ws = fmt_rate(wbest) if not wr.get("error") else "error"
        fs = fmt_rate(fjob) if not fr.get("error") else "unsupported"
        print(f"{name:16} {ws:>15} {fs:>15} {fmt_rate(fnet):>15} {fmt_rate(ffirst):>14} "
              f"{(f'{ratio:.2f}x' if ratio == ratio else '-'):>10}")
        if wr.get("wall") and len(wr["wall"]) > 1:
            print(f"{'':16} wavecrest median {fmt_rate(rate(n, statistics.median(wr['wall'])))}")
        if fr.get("error"):
            print(f"{'':16} flink: {fr['error']}")
        if wr.get("error"):
            print(f"{'':16} wavecrest: {wr['error']}")
    print("ratio w/f = wavecrest best / Flink best net job runtime (both events/s)")
    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump({"events": n, "cpu": args.cpu, "load": load, "wavecrest_binary": binary,
                       "wavecrest": w, "flink": f}, fh, indent=1)

    if args.check and binary and tenv is not None:
        q = QUERIES["v_shape_stop"][1]
        t = time.time()
        fr = flink_collect(tenv, csv_path, q)
        wr = wavecrest_collect(binary, csv_path, q)
        from collections import Counter

        cw, cf = Counter(wr), Counter(fr)
        only_w, only_f = cw - cf, cf - cw
        print(f"check v_shape_stop: wavecrest {len(wr)} matches, flink {len(fr)} matches, "
              f"{sum(only_w.values())} only in wavecrest, {sum(only_f.values())} only in flink "
              f"({time.time() - t:.0f} s)")
        for line in list(only_w.elements())[:10]:
            print(f"  only wavecrest: {line}")
        for line in list(only_f.elements())[:10]:
            print(f"  only flink:     {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
