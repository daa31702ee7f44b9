//! Planning: statements → catalog changes and streaming query plans.

pub mod catalog;
pub mod deduplicate;
pub mod lower;
pub mod lower_windows;
pub mod match_expr;
pub mod match_lower;
pub mod match_nav_arg;
pub mod match_recognize;
pub mod pipeline;
pub mod planner;
pub mod policy;
pub mod window;
pub mod window_tvf;

pub use pipeline::QueryPlan;
pub use planner::{Planner, SourcePlan};
