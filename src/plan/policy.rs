//! Per-table time and state policies: allowed lateness, what happens to rows later than
//! that, and how long idle groups of updating aggregates are kept.
//!
//! Each is a table option (`WITH ('lateness' = '1 min', ...)`) that overrides the session
//! default (`SET 'lateness' = '1 min'`); the defaults are lateness 0, policy `drop`, no TTL.

use crate::connectors::options::parse_duration_ms;
use crate::error::{Error, Result};

/// What happens to a row too late for every window it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatePolicy {
    /// Dropped and counted (metrics, end-of-run summary).
    #[default]
    Drop,
    /// Routed to the stream `<table>__late`.
    SideOutput,
}

/// The policies in force for one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TablePolicy {
    /// Allowed lateness of windows (ms).
    pub lateness_ms: i64,
    /// Rows later than the allowed lateness.
    pub late_policy: LatePolicy,
    /// Updating aggregates forget a group not updated for this long (event time, ms).
    pub state_ttl_ms: Option<i64>,
}

/// The option keys this module owns.
pub const POLICY_OPTIONS: &[&str] = &["lateness", "late.policy", "state.ttl"];

impl TablePolicy {
    /// Applies one option (`key` lower-case, one of [`POLICY_OPTIONS`]); errors name the
    /// option and the expected form.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let duration = |v: &str| {
            parse_duration_ms(v).ok_or_else(|| {
                Error::sql(format!("'{key}' must be a duration like '1 min', '30 s' or '100 ms', got '{v}'"))
            })
        };
        match key {
            "lateness" => self.lateness_ms = duration(value)?,
            "state.ttl" => self.state_ttl_ms = Some(duration(value)?),
            "late.policy" => {
                self.late_policy = match value.trim().to_ascii_lowercase().as_str() {
                    "drop" => LatePolicy::Drop,
                    "side-output" => LatePolicy::SideOutput,
                    _ => {
                        return Err(Error::sql(format!("'late.policy' must be 'drop' or 'side-output', got '{value}'")))
                    }
                }
            }
            _ => return Err(Error::internal(format!("'{key}' is not a policy option"))),
        }
        Ok(())
    }

    /// These defaults overridden by the policy options among `options`.
    pub fn with_options<'a>(mut self, options: impl IntoIterator<Item = (&'a String, &'a String)>) -> Result<Self> {
        for (k, v) in options {
            let k = k.to_ascii_lowercase();
            if POLICY_OPTIONS.contains(&k.as_str()) {
                self.set(&k, v)?;
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_override_defaults_and_bad_values_are_named() {
        let defaults = TablePolicy { lateness_ms: 5, ..Default::default() };
        let opts = [("late.policy".to_string(), "side-output".to_string()), ("state.ttl".into(), "1 min".into())];
        let p = defaults.with_options(opts.iter().map(|(k, v)| (k, v))).unwrap();
        assert_eq!(p, TablePolicy { lateness_ms: 5, late_policy: LatePolicy::SideOutput, state_ttl_ms: Some(60_000) });
        let err = TablePolicy::default().set("late.policy", "keep").unwrap_err().to_string();
        assert!(err.contains("'drop' or 'side-output'"), "{err}");
        assert!(TablePolicy::default().set("lateness", "soon").is_err());
    }
}
