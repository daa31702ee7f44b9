-- End-to-end benchmark (benches/e2e.sh): TUMBLE(10 s) COUNT/SUM/MAX per auction over a
-- bids CSV written by benches/gen_bids.py, into a blackhole sink. Paths are relative to
-- the repository root (run it from there).
CREATE TABLE bids (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'file',
  'path' = 'target/bench/bids.csv',
  'format' = 'csv'
);

CREATE TABLE sink (
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  auction BIGINT,
  bids BIGINT,
  total_price BIGINT,
  max_price BIGINT
) WITH ('connector' = 'blackhole');

INSERT INTO sink
SELECT window_start, window_end, auction, COUNT(*), SUM(price), MAX(price)
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, auction;
