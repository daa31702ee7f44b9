-- Complex event processing: per auction, a bid followed by at least two strictly rising
-- bids within 10 seconds (Nexmark generator). One row per match, in event time.
-- Run: cargo run --release -- run queries/cep_price_rise.sql

CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
  date_time TIMESTAMP(3), extra VARCHAR,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'nexmark.table' = 'bid', 'nexmark.events' = '20000');

SELECT *
FROM bid MATCH_RECOGNIZE (
  PARTITION BY auction
  ORDER BY date_time
  MEASURES FIRST(UP.date_time) AS rise_start, LAST(UP.price) AS top, COUNT(UP.*) AS rises
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (STRT UP{2,}) WITHIN INTERVAL '10' SECOND
  DEFINE UP AS price > PREV(price)
);
