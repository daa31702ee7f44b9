//! `wavecrest daemon DIR`: every `.sql` file in a folder is a long-lived pipeline.
//!
//! ```text
//! DIR/*.sql ──scan (every poll interval, or SIGHUP)──▶ supervisor
//!   added file   → start a pipeline (resuming STATE/<name>/ if it holds a checkpoint)
//!   changed file → stop it (final checkpoint), start the new text: it resumes the checkpoint
//!                  when the plan is the same job, else starts from scratch with a warning
//!   removed file → stop it (final checkpoint; the state folder stays)
//! each pipeline: parse → plan → run; on failure retry with exponential backoff, except for
//! SQL errors, which wait for the file to change. One failing pipeline never stops the others.
//! ```
//!
//! The pipelines' status and metrics are shared with the HTTP endpoints ([`http`]) through a
//! [`Registry`].

pub mod http;
pub mod pipeline;
pub mod prometheus;
pub mod registry;
pub mod scan;
pub mod supervisor;

pub use registry::{PipelineState, PipelineStatus, Registry};
pub use supervisor::{run, DaemonConfig};
