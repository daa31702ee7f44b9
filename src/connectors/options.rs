//! `WITH ('key' = 'value')` options of a table, with tracking of which keys were used so
//! that a misspelt option is an error naming it rather than silently ignored.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};

/// The options of one table. Keys are case-sensitive, as in Flink.
#[derive(Debug, Clone, Default)]
pub struct Options {
    map: BTreeMap<String, String>,
    used: RefCell<BTreeSet<String>>,
}

impl Options {
    /// Wraps a key → value map.
    pub fn new(map: BTreeMap<String, String>) -> Self {
        Options { map, used: RefCell::new(BTreeSet::new()) }
    }

    /// The value of `key`, marking it used.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.used.borrow_mut().insert(key.to_string());
        self.map.get(key).map(String::as_str)
    }

    /// The value of `key`, or an error saying the connector needs it.
    pub fn require(&self, key: &str, connector: &str) -> Result<&str> {
        self.get(key).ok_or_else(|| Error::sql(format!("connector '{connector}' needs the option '{key}'")))
    }

    /// Parses `key` with `FromStr`, with an error naming the option.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                v.trim().parse::<T>().map(Some).map_err(|_| Error::sql(format!("option '{key}': cannot parse '{v}'")))
            }
        }
    }

    /// A boolean option (`'true'` / `'false'`).
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(Error::sql(format!("option '{key}': expected 'true' or 'false', got '{v}'"))),
        }
    }

    /// A duration option in Flink's format (`'100 ms'`, `'5 s'`, `'1 min'`), in milliseconds.
    pub fn duration_ms(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_duration_ms(v).map(Some).ok_or_else(|| {
                Error::sql(format!("option '{key}': '{v}' is not a duration (e.g. '500 ms', '5 s', '1 min')"))
            }),
        }
    }

    /// Marks keys as used without reading them (options handled elsewhere).
    pub fn mark_used(&self, keys: &[&str]) {
        let mut used = self.used.borrow_mut();
        for k in keys {
            used.insert((*k).to_string());
        }
    }

    /// Fails naming the first option no one read.
    pub fn check_all_used(&self, connector: &str) -> Result<()> {
        let used = self.used.borrow();
        match self.map.keys().find(|k| !used.contains(*k)) {
            None => Ok(()),
            Some(k) => Err(Error::sql(format!("unknown option '{k}' for connector '{connector}'"))),
        }
    }

    /// All options, for display.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.map.iter()
    }
}

/// Parses a Flink duration (`'100 ms'`, `'5 s'`, `'5 seconds'`, `'1 min'`, `'2 h'`, `'1 d'`,
/// or a bare number of milliseconds) into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "min" | "mins" | "minute" | "minutes" | "m" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_flink_format() {
        assert_eq!(parse_duration_ms("100 ms"), Some(100));
        assert_eq!(parse_duration_ms("5 s"), Some(5_000));
        assert_eq!(parse_duration_ms("5 seconds"), Some(5_000));
        assert_eq!(parse_duration_ms("1 min"), Some(60_000));
        assert_eq!(parse_duration_ms("2 h"), Some(7_200_000));
        assert_eq!(parse_duration_ms("2 fortnights"), None);
    }

    #[test]
    fn unknown_option_is_named() {
        let o = Options::new([("path".to_string(), "x".to_string()), ("pth".to_string(), "y".to_string())].into());
        o.get("path");
        let e = o.check_all_used("file").unwrap_err();
        assert!(e.message.contains("'pth'"), "{e}");
    }
}
