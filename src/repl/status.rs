//! The live status line of a running query, on stderr, redrawn in place on a terminal.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wavecrest::runtime::JobMetrics;

/// How often the status line is redrawn.
pub const REDRAW: Duration = Duration::from_millis(250);

/// The status line of one query.
pub struct StatusLine {
    /// Draw at all (stderr is a terminal).
    enabled: bool,
    /// A line is on screen and must be cleared before other output.
    drawn: bool,
    last_rows_in: u64,
    last_at: Instant,
    rate: f64,
}

impl StatusLine {
    /// A status line, drawn only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        StatusLine { enabled, drawn: false, last_rows_in: 0, last_at: Instant::now(), rate: 0.0 }
    }

    /// Redraws the line from the query's counters.
    pub fn draw(&mut self, m: &JobMetrics) {
        if !self.enabled {
            return;
        }
        let rows_in = m.rows_in();
        let secs = self.last_at.elapsed().as_secs_f64();
        if secs >= 0.2 {
            self.rate = rows_in.saturating_sub(self.last_rows_in) as f64 / secs;
            self.last_rows_in = rows_in;
            self.last_at = Instant::now();
        }
        let text = status_text(m, self.rate);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K\x1b[2m{text}\x1b[0m");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Removes the line from the screen (before rows are printed, and at the end).
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

/// `1234 events/s in | 10 rows out | watermark 2024-01-01 00:00:10.000 | 0 late dropped`.
pub fn status_text(m: &JobMetrics, rate: f64) -> String {
    let mut text = format!(
        "{rate:.0} events/s in | {} rows out | watermark {} | {} late dropped",
        m.rows_out.load(Ordering::Relaxed),
        watermark_text(m.watermark.load(Ordering::Relaxed)),
        m.late_dropped.load(Ordering::Relaxed),
    );
    let skipped = m.skipped();
    if skipped > 0 {
        text.push_str(&format!(" | {skipped} bad rows skipped"));
    }
    text
}

/// A watermark in ms as a timestamp, `-` before the first one (`i64::MIN`),
/// `end` for +∞.
pub fn watermark_text(ms: i64) -> String {
    match ms {
        i64::MIN => "-".to_string(),
        i64::MAX => "end".to_string(),
        ms => chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_else(|| ms.to_string()),
    }
}

/// The end-of-query summary: rows, time, late and bad rows.
pub fn summary(m: &JobMetrics, elapsed: Duration, what: &str) -> String {
    let rows = m.rows_out.load(Ordering::Relaxed);
    let mut text = format!(
        "({what}{rows} row{}, {:.2} s, {} rows in, {} late dropped",
        if rows == 1 { "" } else { "s" },
        elapsed.as_secs_f64(),
        m.rows_in(),
        m.late_dropped.load(Ordering::Relaxed),
    );
    let skipped = m.skipped();
    if skipped > 0 {
        text.push_str(&format!(", {skipped} bad rows skipped"));
    }
    let dead = m.dead_lettered();
    if dead > 0 {
        text.push_str(&format!(", {dead} dead-lettered"));
    }
    text.push(')');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_print_as_timestamps() {
        assert_eq!(watermark_text(i64::MIN), "-");
        assert_eq!(watermark_text(1_704_067_210_000), "2024-01-01 00:00:10.000");
        let m = JobMetrics::default();
        m.rows_out.store(3, Ordering::Relaxed);
        assert_eq!(summary(&m, Duration::from_millis(1500), ""), "(3 rows, 1.50 s, 0 rows in, 0 late dropped)");
    }
}
