//! `CORRECT_EVENT_TIME(event_ts, device_sent_ts, server_received_ts)`: clock-skew
//! correction from *Designing Data-Intensive Applications*.
//!
//! A device stamps an event with its own clock (`event_ts`) and again when it sends it
//! (`device_sent_ts`); the server stamps the arrival with its clock
//! (`server_received_ts`). Assuming negligible network delay, the device clock's offset is
//! `server_received_ts - device_sent_ts`, so the event's time on the server clock is
//! `event_ts + (server_received_ts - device_sent_ts)`. NULL if any argument is NULL.
//! Millisecond precision; usable in a computed column that a `WATERMARK FOR` uses:
//!
//! ```sql
//! CREATE TABLE readings (v BIGINT, ev TIMESTAMP(3), sent TIMESTAMP(3), recv TIMESTAMP(3),
//!   ts AS CORRECT_EVENT_TIME(ev, sent, recv),
//!   WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'values');
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

/// The function, to register on a planner.
pub fn udf() -> ScalarUDF {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    create_udf(
        "correct_event_time",
        vec![ts.clone(), ts.clone(), ts],
        DataType::Timestamp(TimeUnit::Millisecond, None),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
            let rows = args
                .iter()
                .find_map(|a| match a {
                    ColumnarValue::Array(a) => Some(a.len()),
                    ColumnarValue::Scalar(_) => None,
                })
                .unwrap_or(1);
            let cols = args.iter().map(|a| a.to_array(rows)).collect::<datafusion::error::Result<Vec<_>>>()?;
            let [ev, sent, recv] = [0, 1, 2].map(|i| cols[i].as_primitive::<TimestampMillisecondType>());
            let out: TimestampMillisecondArray = (0..rows)
                .map(|i| {
                    if ev.is_null(i) || sent.is_null(i) || recv.is_null(i) {
                        return None;
                    }
                    recv.value(i).checked_sub(sent.value(i)).and_then(|skew| ev.value(i).checked_add(skew))
                })
                .collect();
            Ok(if all_scalar {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
            } else {
                ColumnarValue::Array(Arc::new(out))
            })
        }),
    )
}
