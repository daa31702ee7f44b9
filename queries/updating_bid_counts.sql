-- A continuously maintained view: bids per auction over the Nexmark generator, kept for
-- auctions with at least 50 bids. Each bid updates its auction's row (-U old, +U new);
-- an auction enters the result with +I when it reaches 50 bids.
-- Run: cargo run --release -- run queries/updating_bid_counts.sql

CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
  date_time TIMESTAMP(3), extra VARCHAR,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'nexmark.table' = 'bid', 'nexmark.events' = '20000');

SELECT auction, COUNT(*) AS bids, MAX(price) AS top
FROM bid
GROUP BY auction
HAVING COUNT(*) >= 50;
