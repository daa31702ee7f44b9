-- Windows over a CSV file, with Flink's filesystem DDL unchanged.
-- Run: cargo run --release -- run queries/bids_csv.sql

CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = 'data/bids.csv',
  'format' = 'csv',
  'csv.header' = 'true'
);

-- Per auction, per 10 seconds: how many bids and the highest price.
SELECT window_start, window_end, auction, COUNT(*) AS n, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, auction;
