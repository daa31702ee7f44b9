-- Quickstart: bids from the built-in Nexmark generator (500 000 events: 50 seconds of
-- event time at the generator's 10 000 events/s), counted per 10-second window.
-- Run: cargo run --release -- run queries/quickstart.sql

CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
  date_time TIMESTAMP(3), extra VARCHAR,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'nexmark.table' = 'bid', 'nexmark.events' = '500000');

-- One row per window once the watermark passes its end: `+I` (insert) in the op column.
SELECT window_start, window_end,
       COUNT(*)                AS bids,
       COUNT(DISTINCT auction) AS auctions,
       MAX(price)              AS top_price,
       ROUND(AVG(price), 2)    AS avg_price
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end;
