-- Checkpoint cost benchmark (benches/checkpoint_cost.sh): Nexmark q5 without its join, the
-- hottest auctions' bid counts. HOP(slide 2 s, size 10 s) counts bids per auction, then the
-- maximum count per window (an updating aggregate over the window results), into a blackhole
-- sink. @EVENTS@ is replaced by the script with the length of the generator's event sequence.
-- 'state.ttl' lets the per-window maximum forget a window 1 minute (event time) after its last
-- change, so the state, and what each checkpoint writes, stays the same size however long the
-- run is (without it, it grows by one group per 2 s of event time, forever).
SET 'parallelism' = '2';

CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'nexmark.table' = 'bid', 'nexmark.events' = '@EVENTS@',
        'state.ttl' = '1 min');

CREATE TABLE hot (window_start TIMESTAMP(3), window_end TIMESTAMP(3), max_bids BIGINT)
  WITH ('connector' = 'blackhole');

INSERT INTO hot
SELECT window_start, window_end, MAX(num)
FROM (
  SELECT auction, COUNT(*) AS num, window_start, window_end
  FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
  GROUP BY auction, window_start, window_end
)
GROUP BY window_start, window_end;
