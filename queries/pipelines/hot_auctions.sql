-- A daemon pipeline (wavecrest daemon queries/pipelines --state-dir state --http 127.0.0.1:9464):
-- an endless Nexmark stream of 2 000 events per second whose event time moves like the clock,
-- bids per auction in HOP windows of 10 s every 2 s (the join-free part of Nexmark q5),
-- committed exactly once into part files under out/hot_auctions/ at every checkpoint.

SET 'checkpoint.interval' = '5 s';

CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND
) WITH ('connector' = 'nexmark', 'nexmark.rate' = '2000', 'nexmark.first-event-rate' = '2000');

CREATE TABLE hot_auctions (window_start TIMESTAMP(3), window_end TIMESTAMP(3), auction BIGINT, num BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/hot_auctions', 'format' = 'csv');

INSERT INTO hot_auctions
SELECT window_start, window_end, auction, COUNT(*) AS num
FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
GROUP BY window_start, window_end, auction;
