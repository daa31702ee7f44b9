-- A daemon pipeline over a bounded CSV file: it runs to the end of data/bids.csv, commits
-- its output into out/bid_counts/ and shows as "finished" on /pipelines. The file's late row
-- is dropped and counted (wavecrest_late_rows_total on /metrics, late_rows on /pipelines).

CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'data/bids.csv', 'format' = 'csv', 'csv.header' = 'true');

CREATE TABLE bid_counts (window_start TIMESTAMP(3), auction BIGINT, n BIGINT, top BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/bid_counts', 'format' = 'csv');

INSERT INTO bid_counts
SELECT window_start, auction, COUNT(*) AS n, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, auction;
