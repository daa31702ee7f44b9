#!/usr/bin/env python3
"""MATCH_RECOGNIZE: Wavecrest next to Apache Flink 2.3 (PyFlink, streaming mode).

Runs the same DDL and query on the same input rows through Flink's TableEnvironment
(streaming mode, parallelism 1) and through `wavecrest run --format csv`, and prints, per
case, whether the results are the same, and the differing rows.

Not a test that CI runs: it needs PyFlink (~850 MB, made by benches/flink/setup.sh) and a
Java 11/17 runtime. Run it from anywhere:

    benches/flink/setup.sh                       # once
    python3 benches/flink/compare.py             # every case
    python3 benches/flink/compare.py -k v_shape  # cases whose name contains v_shape
    python3 benches/flink/compare.py --list      # the cases, without running them

Cases:
- every `query` of tests/slt/match_recognize/*.slt that uses MATCH_RECOGNIZE (not EXPLAIN,
  not `query error`), with the file's tables and rows (`INSERT INTO t VALUES` becomes a CSV
  file read by the filesystem connector). A query without AFTER MATCH gets an explicit
  `AFTER MATCH SKIP PAST LAST ROW` (Wavecrest's default, the standard's; Flink defaults to
  SKIP TO NEXT ROW). `WATERMARK FOR ts` becomes `WATERMARK FOR ts AS ts` (Flink needs the
  expression). The slt's expected rows are checked against the Wavecrest run, too.
  When Flink rejects such a query and `flink_subset()` can respell it with the same meaning
  (`COUNT(V.*)` -> `COUNT(V.ts)`, `PREV(V.col)` -> `PREV(col)` in `DEFINE V`), the respelled
  query runs on both engines as case `<name>~`.
- `flink_form/*`: the same data with queries written in the subset Flink accepts (no greedy
  quantifier at the end of the pattern, `PREV(col)` not `PREV(V.col)`), so that the V-shape,
  the W-shape and WITHIN are compared where the slt forms are rejected by Flink.
- `ticker/*`: the benchmark's ticker events (benches/pipeline.rs; first `--ticker-events`
  events, default 100 000, 1 000 symbols, disorder below the 2 s watermark delay) with the
  V-shape, W-shape and price-drop-WITHIN queries.

Both engines read the identical CSV file through the identical DDL text. Wavecrest output
comes from `$WAVECREST_BIN` or the first wavecrest binary found, debug builds first
(see common.py); with
`--slt-only` (or when no binary is found) the Wavecrest side of slt cases is the slt's
expected output, which CI asserts.

A case Flink rejects at planning is reported as `Flink: unsupported` with Flink's reason,
not as a difference. Rows are compared as multisets (row order across partitions is not
defined in either engine); values are compared as text (timestamps `YYYY-MM-DD
HH:MM:SS.fff`, NULL), and a pair of rows that differs only in number formatting (`14` vs
`14.0`) is reported as `same (number types differ)`. Differences already explained are
listed in KNOWN (printed as `known: ..`); any other difference prints `NOT EXPLAINED YET`.
"""

import argparse
import csv
import glob
import io
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SLT_DIR = os.path.join(common.REPO, "tests", "slt", "match_recognize")


# --------------------------------------------------------------------------------------
# slt parsing


class Table:
    def __init__(self, name, ddl):
        self.name = name
        self.ddl = ddl  # the CREATE TABLE text as in the slt
        self.rows = []  # lists of csv field strings (None = NULL)


def split_records(text):
    """slt records: lists of lines separated by blank lines, comments dropped."""
    records, cur, comments, pending = [], [], [], []
    for line in text.splitlines():
        if line.startswith("#"):
            pending.append(line[1:].strip())
            continue
        if not line.strip():
            if cur:
                records.append((cur, comments))
                cur, comments = [], []
            continue
        if not cur:
            comments, pending = pending, []
        cur.append(line)
    if cur:
        records.append((cur, comments))
    return records


TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_]+)|(?P<p>[(),]))"
)


def parse_values(text):
    """The rows of `VALUES (..), (..)`: literals only (strings, numbers, TIMESTAMP '..',
    NULL, TRUE/FALSE). Returns lists of csv field strings, None for NULL."""
    pos, rows, row, depth, prefix = 0, [], None, 0, None
    text = text.strip().rstrip(";")
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot parse VALUES near {text[pos:pos + 30]!r}")
        pos = m.end()
        if m.group("p") == "(":
            depth += 1
            row = []
        elif m.group("p") == ")":
            depth -= 1
            rows.append(row)
            row = None
        elif m.group("p") == ",":
            pass
        elif m.group("str") is not None:
            s = m.group("str")[1:-1].replace("''", "'")
            row.append(s)
            prefix = None
        elif m.group("num") is not None:
            row.append(m.group("num"))
        else:
            w = m.group("word").upper()
            if w in ("TIMESTAMP", "DATE", "TIME"):
                prefix = w  # the next string literal is its value
            elif w == "NULL":
                row.append(None)
            elif w in ("TRUE", "FALSE"):
                row.append(w.lower())
            else:
                raise ValueError(f"unsupported literal {w} in VALUES")
    return rows


def rewrite_ddl(ddl, csv_path):
    """The slt's CREATE TABLE with the filesystem connector on csv_path and every
    `WATERMARK FOR c` given its expression."""
    ddl = ddl.strip().rstrip(";")
    m = re.search(r"\bWITH\s*\(", ddl, re.I)
    if not m:
        raise ValueError("CREATE TABLE without WITH")
    head = ddl[: m.start()]
    head = re.sub(r"WATERMARK\s+FOR\s+(\w+)\s*(?=[,)])", r"WATERMARK FOR \1 AS \1", head, flags=re.I)
    return f"{head.rstrip()}\nWITH ('connector' = 'filesystem', 'path' = '{csv_path}', 'format' = 'csv')"


def explicit_after_match(query):
    """Adds AFTER MATCH SKIP PAST LAST ROW before PATTERN if the query has no AFTER MATCH."""
    if re.search(r"\bAFTER\s+MATCH\b", query, re.I):
        return query, False
    q, n = re.subn(r"(\s*)(\bPATTERN\s*\()", r"\1AFTER MATCH SKIP PAST LAST ROW\1\2", query, count=1, flags=re.I)
    return q, n == 1


def flink_subset(query):
    """The query rewritten into forms Flink 2.3 accepts where the meaning is the same:
    `COUNT(V.*)` / `COUNT(*)` become `COUNT(V.t)` / `COUNT(t)` with t the ORDER BY time column
    (never NULL), and `PREV(V.col ..)` inside `DEFINE V` becomes `PREV(col ..)` (there the
    current row is V's last row). Returns the query unchanged if nothing applies."""
    m = re.search(r"\bORDER\s+BY\s+(\w+)", query, re.I)
    t = m.group(1) if m else None
    q = query
    if t:
        q = re.sub(r"\bCOUNT\(\s*(\w+)\.\*\s*\)", rf"COUNT(\1.{t})", q, flags=re.I)
        q = re.sub(r"\bCOUNT\(\s*\*\s*\)", f"COUNT({t})", q, flags=re.I)
    d = re.search(r"\bDEFINE\b", q, re.I)
    if d:
        head, body = q[: d.end()], q[d.end():]
        parts = re.split(r"((?:^|,)\s*\w+\s+AS\b)", body)
        out, var = [], None
        for part in parts:
            mv = re.match(r"(?:^|,)\s*(\w+)\s+AS\b", part)
            if mv:
                var = mv.group(1)
            elif var:
                part = re.sub(rf"\bPREV\(\s*{re.escape(var)}\.", "PREV(", part, flags=re.I)
            out.append(part)
        q = head + "".join(out)
    return q


class Case:
    def __init__(self, name, tables, query, expected=None, note="", origin=""):
        self.name = name
        self.tables = tables  # list of (name, ddl, rows)
        self.query = query
        self.expected = expected  # slt expected lines (strings) or None
        self.note = note
        self.origin = origin


def slt_cases(path):
    """Cases from one slt file."""
    base = os.path.splitext(os.path.basename(path))[0]
    with open(path) as f:
        text = f.read()
    tables = {}
    cases = []
    line_no = 0
    # Line numbers: find each record's first line in the text.
    lines = text.splitlines()
    for rec, comments in split_records(text):
        head = rec[0].strip()
        try:
            line_no = lines.index(rec[0], line_no) + 1
        except ValueError:
            pass
        if head.startswith("statement"):
            sql = "\n".join(rec[1:])
            if not head.startswith("statement ok"):
                continue
            m = re.match(r"\s*CREATE\s+TABLE\s+(\w+)", sql, re.I)
            if m:
                name = m.group(1)
                if re.search(r"'connector'\s*=\s*'values'", sql, re.I):
                    tables[name.lower()] = Table(name, sql)
                continue
            m = re.match(r"\s*INSERT\s+INTO\s+(\w+)\s+VALUES(.*)", sql, re.I | re.S)
            if m and m.group(1).lower() in tables:
                tables[m.group(1).lower()].rows.extend(parse_values(m.group(2)))
            continue
        if not head.startswith("query") or head.startswith("query error"):
            continue
        try:
            sep = rec.index("----")
        except ValueError:
            sep = len(rec)
        sql = "\n".join(rec[1:sep]).strip()
        expected = [l.strip() for l in rec[sep + 1 :]]
        if "MATCH_RECOGNIZE" not in sql.upper() or re.match(r"\s*(EXPLAIN|INSERT)\b", sql, re.I):
            continue
        if sql.rstrip().rstrip(";").count(";"):
            continue  # several statements
        used = [t for k, t in tables.items() if re.search(rf"\b{re.escape(t.name)}\b", sql)]
        query, added = explicit_after_match(sql.rstrip().rstrip(";"))
        note = "AFTER MATCH SKIP PAST LAST ROW added" if added else ""
        cases.append(
            Case(
                f"{base}:{line_no}",
                [(t.name, t.ddl, list(t.rows)) for t in used],
                query,
                expected,
                note,
                origin=f"{os.path.relpath(path, common.REPO)}:{line_no}",
            )
        )
    return cases


def slt_tables(path):
    """{table name: (ddl, rows)} of an slt file's final state (for the flink_form cases)."""
    out = {}
    for c in slt_cases(path):
        for name, ddl, rows in c.tables:
            out[name] = (ddl, rows)
    return out


# --------------------------------------------------------------------------------------
# Hand-written cases in the subset of MATCH_RECOGNIZE that Flink 2.3 accepts.

V_MEASURES = "MEASURES STRT.price AS start_price, LAST(DOWN.price) AS bottom_price, LAST(UP.price) AS end_price"

FLINK_FORM = [
    # (name, slt file, table, query, note)
    (
        "flink_form/v_shape_one_up_past_last",
        "v_shape.slt",
        "ticks",
        f"""SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  MEASURES STRT.ts AS start_ts, STRT.price AS start_price, LAST(DOWN.price) AS bottom_price,
           LAST(UP.price) AS end_price
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (STRT DOWN+ UP)
  DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price)
) AS mr""",
        "Flink's documented V-shape form (one UP row)",
    ),
    (
        "flink_form/v_shape_one_up_past_last_wm_1ms",
        "v_shape.slt",
        "ticks",
        f"""SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  MEASURES STRT.ts AS start_ts, STRT.price AS start_price, LAST(DOWN.price) AS bottom_price,
           LAST(UP.price) AS end_price
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (STRT DOWN+ UP)
  DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price)
) AS mr""",
        "as v_shape_one_up_past_last, with WATERMARK FOR ts AS ts - INTERVAL '0.001' SECOND: "
        "a row at the same time as the previous row is then not late in Flink either",
        (r"WATERMARK FOR ts AS ts\b", "WATERMARK FOR ts AS ts - INTERVAL '0.001' SECOND"),
    ),
    (
        "flink_form/tie_at_watermark",
        (
            "CREATE TABLE ev (c VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'values')",
            [["a", "2024-01-01 00:00:01.000"], ["b", "2024-01-01 00:00:01.000"], ["c", "2024-01-01 00:00:02.000"]],
        ),
        "ev",
        """SELECT * FROM ev MATCH_RECOGNIZE (ORDER BY ts
  MEASURES A.ts AS a_ts, B.ts AS b_ts, C.ts AS c_ts
  ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW
  PATTERN (A B C) DEFINE A AS c = 'a', B AS c = 'b', C AS c = 'c')""",
        "the smallest case of a row at the watermark: b has the time of a, which is the watermark",
    ),
    (
        "flink_form/anchor_start",
        "quantifiers.slt",
        "seq",
        """SELECT * FROM seq MATCH_RECOGNIZE (ORDER BY ts
  MEASURES FIRST(id) AS f, LAST(id) AS l
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (^ A) DEFINE A AS c = 'a')""",
        "^: only the partition's first row can start the match",
    ),
    (
        "flink_form/v_shape_one_up_next_row",
        "v_shape.slt",
        "ticks",
        f"""SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  {V_MEASURES}
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (STRT DOWN+ UP)
  DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price)
) AS mr""",
        "",
    ),
    (
        "flink_form/v_shape_reluctant_up",
        "v_shape.slt",
        "ticks",
        f"""SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  {V_MEASURES}
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (STRT DOWN+ UP+?)
  DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price)
) AS mr""",
        "reluctant UP+? at the end (Flink allows it, not greedy)",
    ),
    (
        "flink_form/v_shape_greedy_stop",
        "v_shape.slt",
        "ticks",
        f"""SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  {V_MEASURES}
  AFTER MATCH SKIP TO LAST STOP
  PATTERN (STRT DOWN+ UP+ STOP)
  DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price), STOP AS price <= PREV(price)
) AS mr""",
        "the greedy V-shape's equivalent in Flink: UP+ ends at a STOP row, and the next search "
        "starts there (= SKIP PAST LAST ROW of STRT DOWN+ UP+), except at the end of the input",
    ),
    (
        "flink_form/v_shape_greedy_stop_next_row",
        "v_shape.slt",
        "ticks",
        f"""SELECT * FROM ticks MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY ts
  {V_MEASURES}
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (STRT DOWN+ UP+ STOP)
  DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price), STOP AS price <= PREV(price)
) AS mr""",
        "",
    ),
    (
        "flink_form/w_shape_last_up",
        "w_shape.slt",
        "ticker",
        """SELECT * FROM ticker MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY tstamp
  MEASURES STRT.price AS start_price, LAST(DOWN1.price) AS bottom1, LAST(DOWN2.price) AS bottom2,
           LAST(UP2.price) AS end_price, STRT.tstamp AS start_tstamp, LAST(UP2.tstamp) AS end_tstamp
  ONE ROW PER MATCH
  AFTER MATCH SKIP TO LAST UP2
  PATTERN (STRT DOWN1+ UP1+ DOWN2+ UP2)
  DEFINE DOWN1 AS price < PREV(price), UP1 AS price > PREV(price),
         DOWN2 AS price < PREV(price), UP2 AS price > PREV(price)
) MR""",
        "the W-shape with one final UP row; Flink needs distinct variables (DOWN1/UP1/DOWN2/UP2)",
    ),
    (
        "flink_form/w_shape_greedy_stop",
        "w_shape.slt",
        "ticker",
        """SELECT * FROM ticker MATCH_RECOGNIZE (
  PARTITION BY symbol ORDER BY tstamp
  MEASURES STRT.price AS start_price, FIRST(DOWN1.price) AS bottom1_first, LAST(DOWN1.price) AS bottom1,
           LAST(DOWN2.price) AS bottom2, LAST(UP2.price) AS end_price, COUNT(UP1.price) AS ups1,
           COUNT(UP2.price) AS ups2
  ONE ROW PER MATCH
  AFTER MATCH SKIP TO LAST STOP
  PATTERN (STRT DOWN1+ UP1+ DOWN2+ UP2+ STOP)
  DEFINE DOWN1 AS price < PREV(price), UP1 AS price > PREV(price),
         DOWN2 AS price < PREV(price), UP2 AS price > PREV(price), STOP AS price <= PREV(price)
) MR""",
        "the greedy W-shape (w_shape.slt:59) with distinct variables, final UP+ ended by a STOP row",
    ),
    (
        "flink_form/drop_no_within_next_row",
        "flink.slt",
        "ticker3",
        """SELECT * FROM ticker3 MATCH_RECOGNIZE(
  PARTITION BY symbol
  ORDER BY rowtime
  MEASURES A.rowtime AS start_time, C.rowtime AS drop_time, A.price - C.price AS drop_diff
  ONE ROW PER MATCH
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (A B* C)
  DEFINE
    B AS B.price > A.price - 10,
    C AS C.price < A.price - 10
)""",
        "flink.slt:124 with SKIP TO NEXT ROW: no match waits behind an earlier partial match",
    ),
    (
        "flink_form/drop_within_1h_next_row",
        "flink.slt",
        "ticker3",
        """SELECT * FROM ticker3 MATCH_RECOGNIZE(
  PARTITION BY symbol
  ORDER BY rowtime
  MEASURES A.rowtime AS start_time, C.rowtime AS drop_time, A.price - C.price AS drop_diff
  ONE ROW PER MATCH
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (A B* C) WITHIN INTERVAL '1' HOUR
  DEFINE
    B AS B.price > A.price - 10,
    C AS C.price < A.price - 10
)""",
        "price drop WITHIN an hour, every start row",
    ),
    (
        "flink_form/drop_within_30min",
        "flink.slt",
        "ticker3",
        """SELECT * FROM ticker3 MATCH_RECOGNIZE(
  PARTITION BY symbol
  ORDER BY rowtime
  MEASURES A.rowtime AS start_time, C.rowtime AS drop_time, A.price - C.price AS drop_diff
  ONE ROW PER MATCH
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (A B* C) WITHIN INTERVAL '30' MINUTE
  DEFINE
    B AS B.price > A.price - 5,
    C AS C.price < A.price - 5
)""",
        "",
    ),
    (
        "flink_form/avg_below_15_next_row",
        "flink.slt",
        "ticker2",
        """SELECT * FROM ticker2 MATCH_RECOGNIZE (
  PARTITION BY symbol
  ORDER BY rowtime
  MEASURES FIRST(A.rowtime) AS start_tstamp, LAST(A.rowtime) AS end_tstamp, SUM(A.price) AS total,
           COUNT(A.price) AS n
  ONE ROW PER MATCH
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (A+ B)
  DEFINE A AS AVG(A.price) < 15
) MR""",
        "SUM/COUNT instead of AVG (Flink's AVG of BIGINT is a BIGINT)",
    ),
    (
        "flink_form/quantifier_a_b_star_c_next_row",
        "quantifiers.slt",
        "seq",
        """SELECT * FROM seq MATCH_RECOGNIZE (ORDER BY ts
  MEASURES FIRST(id) AS f, LAST(id) AS l, COUNT(A.id) AS na, COUNT(B.id) AS nb
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (A B* C) DEFINE A AS c = 'a', B AS c = 'b', C AS c = 'c')""",
        "",
    ),
    (
        "flink_form/quantifier_b_range_c_next_row",
        "quantifiers.slt",
        "seq",
        """SELECT * FROM seq MATCH_RECOGNIZE (ORDER BY ts
  MEASURES FIRST(id) AS f, LAST(id) AS l, COUNT(B.id) AS nb
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (B{1,2} C) DEFINE B AS c = 'b', C AS c = 'c')""",
        "",
    ),
    (
        "flink_form/quantifier_reluctant_mid",
        "quantifiers.slt",
        "seq",
        """SELECT * FROM seq MATCH_RECOGNIZE (ORDER BY ts
  MEASURES FIRST(id) AS f, LAST(id) AS l, COUNT(A.id) AS na, COUNT(X.id) AS nx
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (A X*? C) DEFINE A AS c = 'a', C AS c = 'c')""",
        "undefined X (any row), reluctant, then C",
    ),
]


def ticker_cases(events):
    path = os.path.join(common.WORK, f"ticker_{events}.csv")
    common.write_ticker_csv(path, events)
    V = "MEASURES STRT.ts AS start_ts, STRT.price AS start_price, LAST(DOWN.price) AS bottom_price, LAST(UP.price) AS end_price, LAST(UP.ts) AS end_ts"
    qs = [
        (
            "ticker/v_shape_greedy_stop",
            f"""SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts
  {V}
  ONE ROW PER MATCH AFTER MATCH SKIP TO LAST STOP
  PATTERN (STRT DOWN+ UP+ STOP)
  DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price), STOP AS price <= PREV(price))""",
            "the benchmark's V-shape (greedy UP+) in the form Flink accepts",
        ),
        (
            "ticker/v_shape_one_up_past_last",
            f"""SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts
  {V}
  ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW
  PATTERN (STRT DOWN+ UP)
  DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price))""",
            "",
        ),
        (
            "ticker/v_shape_one_up_next_row",
            f"""SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts
  {V}
  ONE ROW PER MATCH AFTER MATCH SKIP TO NEXT ROW
  PATTERN (STRT DOWN+ UP)
  DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price))""",
            "",
        ),
        (
            "ticker/w_shape_last_up",
            """SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts
  MEASURES STRT.ts AS start_ts, LAST(DOWN1.price) AS bottom1, LAST(DOWN2.price) AS bottom2, LAST(UP2.price) AS end_price, LAST(UP2.ts) AS end_ts
  ONE ROW PER MATCH AFTER MATCH SKIP TO LAST UP2
  PATTERN (STRT DOWN1+ UP1+ DOWN2+ UP2)
  DEFINE DOWN1 AS price < PREV(price), UP1 AS price > PREV(price),
         DOWN2 AS price < PREV(price), UP2 AS price > PREV(price))""",
            "the W-shape with distinct variables (Flink) and one final UP row",
        ),
        (
            "ticker/drop_within_1s",
            """SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts
  MEASURES A.ts AS start_ts, C.ts AS drop_ts, A.price - C.price AS drop_diff
  ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW
  PATTERN (A B* C) WITHIN INTERVAL '1' SECOND
  DEFINE B AS B.price > A.price - 25, C AS C.price < A.price - 25)""",
            "a drop of more than 25 within a second of the start row",
        ),
        (
            "ticker/drop_within_1s_next_row",
            """SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts
  MEASURES A.ts AS start_ts, C.ts AS drop_ts, A.price - C.price AS drop_diff
  ONE ROW PER MATCH AFTER MATCH SKIP TO NEXT ROW
  PATTERN (A B* C) WITHIN INTERVAL '1' SECOND
  DEFINE B AS B.price > A.price - 25, C AS C.price < A.price - 25)""",
            "",
        ),
        (
            "ticker/rise_last_logical_offset",
            """SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts
  MEASURES FIRST(UP.ts) AS first_ts, LAST(UP.ts) AS last_ts, COUNT(UP.price) AS n, MAX(UP.price) AS top
  ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW
  PATTERN (UP{3} X)
  DEFINE UP AS LAST(UP.price, 1) IS NULL OR UP.price > LAST(UP.price, 1))""",
            "logical offset LAST(UP.price, 1) in DEFINE, X undefined",
        ),
    ]
    return [
        Case(name, [("bids", common.TICKER_DDL, path)], q, None, note, origin=f"ticker {events} events")
        for name, q, note in qs
    ]


# Differences found on 2026-11-26 and what they are (see benches/README.md, "Flink side by
# side"). Keyed by case name; slt case names carry line numbers, so edits to the slt files
# can orphan an entry (then the difference prints without an explanation).
TIES_AT_WATERMARK = (
    "ties at the watermark: with WATERMARK FOR ts AS ts, B's rows have the time of the A row "
    "before them, i.e. equal to the watermark; Flink's CEP operator drops rows with ts <= "
    "watermark as late, Wavecrest keeps rows with ts == watermark (late only if below it). "
    "Wavecrest deviates from Flink here (see README)"
)
END_OF_INPUT = (
    "end of bounded input: Flink emits a match only when no partial match that started "
    "earlier is pending, and never fails pending partial matches when the input ends, so "
    "the matches behind the 12:00 partial match (B* never ends) are lost; Wavecrest fails "
    "partial matches at the end of the input (documented). Flink limitation"
)
KNOWN = {
    "flink:124": END_OF_INPUT,
    "flink_form/drop_no_within_next_row": END_OF_INPUT,
    "flink_form/v_shape_one_up_past_last": TIES_AT_WATERMARK,
    "flink_form/v_shape_one_up_next_row": TIES_AT_WATERMARK,
    "flink_form/v_shape_reluctant_up": TIES_AT_WATERMARK,
    "flink_form/tie_at_watermark": TIES_AT_WATERMARK,
    "quantifiers:76~": (
        "PATTERN (A B?): Flink accepts a greedy ? as the last element but treats it as "
        "reluctant (ends the match at A); it rejects + and * there. Flink bug"
    ),
    "quantifiers:189~": "PATTERN (A $): Flink ignores the $ anchor. Flink bug",
    "flink_form/anchor_start": "PATTERN (^ A): Flink ignores the ^ anchor. Flink bug",
}


# --------------------------------------------------------------------------------------
# running


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for r in rows:
            w.writerow(["" if v is None else v for v in r])


def materialize(case, work):
    """Writes the case's input CSV files and returns the DDL statements (identical for
    both engines)."""
    ddls = []
    for t in case.tables:
        name, ddl, rows = t
        if isinstance(rows, str):  # a prepared file (ticker): ddl has a {path} placeholder
            ddls.append(ddl.format(path=rows))
            continue
        csv_path = os.path.join(work, f"{safe(case.name)}__{name}.csv")
        write_csv(csv_path, rows)
        ddls.append(rewrite_ddl(ddl, csv_path))
    return ddls


def safe(name):
    return re.sub(r"[^A-Za-z0-9_]+", "_", name)


def fmt_flink_value(v):
    import datetime
    import decimal

    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (v.microsecond // 1000)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    return str(v)


KIND = {"INSERT": "+I", "UPDATE_BEFORE": "-U", "UPDATE_AFTER": "+U", "DELETE": "-D"}


class FlinkRejected(Exception):
    """Flink refused the query when planning it (execute_sql raised)."""


def run_flink(tenv, case, ddls):
    """(columns, rows) or raises. Rows are tuples of strings, op first."""
    for t in case.tables:
        tenv.execute_sql(f"DROP TABLE IF EXISTS {t[0]}")
    for ddl in ddls:
        tenv.execute_sql(ddl)
    try:
        result = tenv.execute_sql(case.query)
    except Exception as e:  # noqa: BLE001
        raise FlinkRejected(common.flink_error_summary(e)) from e
    try:
        cols = list(result.get_resolved_schema().get_column_names())
    except Exception:
        cols = list(result.get_table_schema().get_field_names())
    rows = []
    with result.collect() as it:
        for r in it:
            kind = KIND.get(str(r.get_row_kind()).split(".")[-1], str(r.get_row_kind()))
            rows.append(tuple([kind] + [fmt_flink_value(v) for v in r]))
    return cols, rows


def run_wavecrest(binary, case, ddls, work):
    """(columns, rows) or raises RuntimeError with wavecrest's message."""
    sql = "SET 'parallelism' = '1';\n\n" + ";\n\n".join(ddls) + ";\n\n" + case.query + ";\n"
    path = os.path.join(work, f"{safe(case.name)}.sql")
    with open(path, "w") as f:
        f.write(sql)
    code, out, err = common.run_wavecrest(binary, path)
    if code != 0:
        msg = [l for l in err.splitlines() if l.strip() and not l.startswith("wavecrest: ")] or err.splitlines()
        raise RuntimeError(" / ".join(msg[:3])[:300])
    reader = csv.reader(io.StringIO(out))
    lines = list(reader)
    if not lines:
        return [], []
    cols = lines[0][1:]
    rows = [tuple([r[0]] + [("NULL" if v == "" else v) for v in r[1:]]) for r in lines[1:]]
    return cols, rows


def slt_rows(rows):
    return sorted(" ".join(r) for r in rows)


def numeric_equal(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        try:
            if float(x) != float(y):
                return False
        except ValueError:
            return False
    return True


def compare_rows(w, f):
    """(verdict, only_in_wavecrest, only_in_flink)."""
    from collections import Counter

    cw, cf = Counter(w), Counter(f)
    only_w = list((cw - cf).elements())
    only_f = list((cf - cw).elements())
    if not only_w and not only_f:
        return "same", [], []
    # Pair up rows equal as numbers.
    rest_f = list(only_f)
    unmatched_w = []
    for r in only_w:
        for i, s in enumerate(rest_f):
            if numeric_equal(r, s):
                del rest_f[i]
                break
        else:
            unmatched_w.append(r)
    if not unmatched_w and not rest_f:
        return "same (number types differ)", only_w, only_f
    return "DIFFERENT", sorted(only_w), sorted(only_f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", "--filter", action="append", default=[], help="only cases whose name contains this")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--slt-only", action="store_true", help="do not run wavecrest; use the slt's expected rows")
    ap.add_argument("--ticker-events", type=int, default=100_000, help="events for the ticker/* cases (0: none)")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    ap.add_argument("--show-sql", action="store_true", help="print each case's SQL")
    args = ap.parse_args()

    cases = []
    for path in sorted(glob.glob(os.path.join(SLT_DIR, "*.slt"))):
        cases.extend(slt_cases(path))
    for name, slt, table, query, note, *ddl_sub in FLINK_FORM:
        if isinstance(slt, tuple):
            ddl, rows = slt
            slt = "inline"
        else:
            ddl, rows = slt_tables(os.path.join(SLT_DIR, slt))[table]
        if ddl_sub:
            ddl = re.sub(r"WATERMARK\s+FOR\s+(\w+)\s*(?=[,)])", r"WATERMARK FOR \1 AS \1", ddl, flags=re.I)
            ddl = re.sub(ddl_sub[0][0], ddl_sub[0][1], ddl)
        cases.append(Case(name, [(table, ddl, rows)], query, None, note, origin=f"data: {slt} {table}"))
    if args.ticker_events > 0:
        cases.extend(ticker_cases(args.ticker_events))
    if args.filter:
        cases = [c for c in cases if any(k in c.name for k in args.filter)]
    if args.list:
        for c in cases:
            print(f"{c.name:45} {c.origin}  {c.note}")
        return 0

    common.ensure_pyflink()
    os.makedirs(common.WORK, exist_ok=True)
    work = os.path.join(common.WORK, "cases")
    os.makedirs(work, exist_ok=True)

    binary = None if args.slt_only else common.wavecrest_binary(prefer_release=False)
    print(f"wavecrest: {binary or 'not run (slt expected rows)'}", file=sys.stderr)
    t0 = time.time()
    tenv = common.flink_env()
    import importlib.metadata

    print(
        f"flink: apache-flink {importlib.metadata.version('apache-flink')} (JVM up in {time.time() - t0:.1f} s)",
        file=sys.stderr,
    )

    results = []
    for case in cases:
        res = run_case(case, tenv, binary, work, args)
        results.append(res)
        print_result(res)
        sys.stdout.flush()
        if res["verdict"] == "Flink: unsupported" and not case.name.startswith(("flink_form/", "ticker/")):
            q = flink_subset(case.query)
            if q != case.query:
                sub = Case(case.name + "~", case.tables, q, case.expected,
                           "rewritten into Flink's subset (COUNT(V.*) -> COUNT(V.ts), PREV(V.c) -> PREV(c) in DEFINE V)",
                           origin=case.origin)
                res = run_case(sub, tenv, binary, work, args)
                results.append(res)
                print_result(res)
                sys.stdout.flush()

    print()
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def run_case(case, tenv, binary, work, args):
    """Runs one case on both engines; returns its result record."""
    ddls = materialize(case, work)
    res = {"case": case.name, "origin": case.origin, "note": case.note, "query": case.query}
    if args.show_sql:
        print("\n".join(ddls) + "\n" + case.query + "\n", file=sys.stderr)
    # Wavecrest.
    w_rows = w_cols = None
    if binary:
        try:
            w_cols, w_rows = run_wavecrest(binary, case, ddls, work)
            res["wavecrest"] = f"{len(w_rows)} rows"
        except Exception as e:  # noqa: BLE001
            res["wavecrest"] = f"error: {e}"
        if case.expected is not None and w_rows is not None:
            got = [tuple(x.split(" ")) for x in slt_rows(w_rows)]
            want = [tuple(x.split(" ")) for x in sorted(case.expected)]
            if compare_rows(got, want)[0] == "DIFFERENT":
                res["slt_check"] = "wavecrest run differs from the slt's expected rows"
                res["slt_expected"] = sorted(case.expected)
    elif case.expected is not None:
        w_rows = [tuple(l.split(" ")) for l in case.expected]  # compared as joined text below
        res["wavecrest"] = f"{len(w_rows)} rows (slt)"
    else:
        res["wavecrest"] = "not run"
    # Flink.
    f_rows = f_cols = None
    t = time.time()
    try:
        f_cols, f_rows = run_flink(tenv, case, ddls)
        res["flink"] = f"{len(f_rows)} rows"
    except FlinkRejected as e:
        res["flink"] = f"unsupported: {e}"
    except Exception as e:  # noqa: BLE001
        res["flink"] = f"error: {common.flink_error_summary(e)}"
    res["flink_seconds"] = round(time.time() - t, 2)
    # Verdict.
    if f_rows is None:
        res["verdict"] = "Flink: unsupported" if res["flink"].startswith("unsupported") else "Flink: error"
    elif w_rows is None:
        res["verdict"] = "wavecrest: error" if res["wavecrest"].startswith("error") else "flink only"
    else:
        if binary:
            verdict, only_w, only_f = compare_rows(w_rows, f_rows)
            if w_cols is not None and f_cols is not None and [c.lower() for c in w_cols] != [c.lower() for c in f_cols]:
                res["columns"] = {"wavecrest": w_cols, "flink": f_cols}
                if verdict.startswith("same"):
                    verdict += " (column names differ)"
        else:
            jw = [" ".join(r) for r in w_rows]
            jf = [" ".join(r) for r in f_rows]
            verdict, only_w, only_f = compare_rows([(x,) for x in jw], [(x,) for x in jf])
            if verdict == "DIFFERENT":
                # number formatting inside joined rows: compare token-wise
                verdict2, _, _ = compare_rows([tuple(x.split(" ")) for x in jw], [tuple(x.split(" ")) for x in jf])
                if verdict2 != "DIFFERENT":
                    verdict = verdict2
        res["verdict"] = verdict
        res["only_wavecrest"] = [" ".join(r) for r in only_w]
        res["only_flink"] = [" ".join(r) for r in only_f]
    return res


def print_result(r):
    print(f"== {r['case']}: {r['verdict']}   [wavecrest {r['wavecrest']}; flink {r['flink']}]")
    if r["verdict"] == "DIFFERENT" and r["case"] in KNOWN:
        print(f"   known: {KNOWN[r['case']]}")
    if r.get("note"):
        print(f"   note: {r['note']}")
    if r.get("slt_check"):
        print(f"   !! {r['slt_check']}")
    if r["verdict"] not in ("same",) and r["verdict"].startswith(("same", "DIFFERENT")):
        for line in r.get("only_wavecrest", [])[:12]:
            print(f"   only wavecrest: {line}")
        for line in r.get("only_flink", [])[:12]:
            print(f"   only flink:     {line}")
        n = len(r.get("only_wavecrest", [])) + len(r.get("only_flink", []))
        if n > 24:
            print(f"   ... {n} differing rows in all")
    if r.get("columns"):
        print(f"   columns: wavecrest {r['columns']['wavecrest']}, flink {r['columns']['flink']}")


def print_table(results):
    w = max(len(r["case"]) for r in results)
    print(f"{'case':{w}}  {'verdict':30}  wavecrest / flink")
    print("-" * (w + 60))
    for r in results:
        detail = f"{r['wavecrest']} / {r['flink']}"
        print(f"{r['case']:{w}}  {r['verdict']:30}  {detail[:160]}")
        if r["verdict"] == "DIFFERENT":
            print(f"{'':{w}}  {'':30}  known: {KNOWN[r['case']][:140]}" if r["case"] in KNOWN else
                  f"{'':{w}}  {'':30}  NOT EXPLAINED YET")
    from collections import Counter

    counts = Counter(r["verdict"].split(" (")[0] for r in results)
    print("-" * (w + 60))
    print(", ".join(f"{v}: {n}" for v, n in sorted(counts.items())))


if __name__ == "__main__":
    sys.exit(main())
