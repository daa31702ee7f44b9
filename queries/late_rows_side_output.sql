-- Late rows are never silently lost: with 'late.policy' = 'side-output' a row too late for
-- its window goes to the stream bids__late (the table's columns plus __operator and
-- __reason), which another statement of the same run reads like any table. Here the row
-- at 00:00:03 arrives after the watermark passed 10 s.
-- Run: cargo run --release -- run queries/late_rows_side_output.sql

CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = 'data/bids.csv',
  'format' = 'csv',
  'csv.header' = 'true',
  'late.policy' = 'side-output'
);

CREATE TABLE per_window (window_start TIMESTAMP(3), auction BIGINT, n BIGINT) WITH ('connector' = 'blackhole');

INSERT INTO per_window
SELECT window_start, auction, COUNT(*)
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, auction;

SELECT auction, bidder, ts, __reason FROM bids__late;
