//! The runtime: tokio tasks (sources, stage workers, sinks) joined by bounded channels.

pub mod align;
pub mod cancel;
pub mod checkpoint;
pub mod clock;
pub mod exchange;
pub mod job;
pub mod message;
pub mod metrics;
pub mod side_output;
pub mod sink_task;
pub mod source_task;
pub mod worker;

pub use cancel::Cancel;
pub use job::{run_job, JobQuery, JobSource};
pub use metrics::JobMetrics;
