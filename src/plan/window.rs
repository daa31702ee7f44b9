//! Window assignment arithmetic for TUMBLE, HOP and CUMULATE, all in milliseconds, plus
//! the shapes of the data-driven SESSION and SLIDE windows.
//!
//! Windows are built from *panes*: the largest interval such that every window is a whole
//! number of panes. Each row updates exactly one pane; a window's result merges its panes.
//!
//! ```text
//! HOP(slide = 5, size = 10)       panes of 5:  |p0|p1|p2|p3|
//!   window [0,10)  = p0 + p1                   |--w0--|
//!   window [5,15)  = p1 + p2                      |--w1--|
//! CUMULATE(step = 5, max = 15)    panes of 5:  |p0|p1|p2|
//!   windows [0,5) = p0, [0,10) = p0+p1, [0,15) = p0+p1+p2
//! ```
//!
//! SESSION and SLIDE windows are not made of panes: their bounds depend on the events
//! (see `exec::session_aggregate` and `exec::slide_aggregate`). The pane methods below
//! treat them as degenerate one-millisecond panes belonging to no window; the planner never
//! builds a pane operator for them.

use serde::{Deserialize, Serialize};

/// A window TVF's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Serialize, Deserialize)]
pub enum WindowKind {
    /// `TUMBLE(.., size [, offset])`.
    Tumble {
        /// Window length.
        size: i64,
        /// Alignment offset.
        offset: i64,
    },
    /// `HOP(.., slide, size [, offset])`.
    Hop {
        /// Distance between window starts.
        slide: i64,
        /// Window length.
        size: i64,
        /// Alignment offset.
        offset: i64,
    },
    /// `CUMULATE(.., step, max_size [, offset])`.
    Cumulate {
        /// Growth step.
        step: i64,
        /// Length of the largest window.
        max_size: i64,
        /// Alignment offset.
        offset: i64,
    },
    /// `SESSION(.. [PARTITION BY k], DESCRIPTOR(ts), gap)`: per partition, events at most
    /// `gap` apart share a session `[first, last + gap)`.
    Session {
        /// Inactivity gap.
        gap: i64,
    },
    /// `SLIDE(.. [PARTITION BY k], DESCRIPTOR(ts), size)`: per partition, each distinct event
    /// time `t` defines the window `[t - size, t]` (both ends included).
    Slide {
        /// Window length.
        size: i64,
    },
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn align(t: i64, period: i64, offset: i64) -> i64 {
    t - (t - offset).rem_euclid(period)
}

impl WindowKind {
    /// Checks sizes are positive and compatible.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            WindowKind::Tumble { size, .. } if size <= 0 => Err("TUMBLE size must be positive".into()),
            WindowKind::Hop { slide, size, .. } if slide <= 0 || size <= 0 => {
                Err("HOP slide and size must be positive".into())
            }
            WindowKind::Cumulate { step, max_size, .. } if step <= 0 || max_size <= 0 => {
                Err("CUMULATE step and max size must be positive".into())
            }
            WindowKind::Cumulate { step, max_size, .. } if max_size % step != 0 => {
                Err("CUMULATE max size must be a whole multiple of the step".into())
            }
            WindowKind::Session { gap } if gap <= 0 => Err("SESSION gap must be positive".into()),
            WindowKind::Slide { size } if size < 0 => Err("SLIDE size must not be negative".into()),
            _ => Ok(()),
        }
    }

    /// The pane length.
    pub fn pane_size(&self) -> i64 {
        match *self {
            WindowKind::Tumble { size, .. } => size,
            WindowKind::Hop { slide, size, .. } => gcd(slide, size),
            WindowKind::Cumulate { step, .. } => step,
            WindowKind::Session { .. } | WindowKind::Slide { .. } => 1,
        }
    }

    /// Whether windows of this kind are built from panes (TUMBLE, HOP, CUMULATE); SESSION
    /// and SLIDE windows have their own operators.
    pub fn is_pane_based(&self) -> bool {
        !matches!(self, WindowKind::Session { .. } | WindowKind::Slide { .. })
    }

    fn offset(&self) -> i64 {
        match *self {
            WindowKind::Tumble { offset, .. }
            | WindowKind::Hop { offset, .. }
            | WindowKind::Cumulate { offset, .. } => offset,
            WindowKind::Session { .. } | WindowKind::Slide { .. } => 0,
        }
    }

    /// Start of the pane holding event time `t`.
    pub fn pane_start(&self, t: i64) -> i64 {
        align(t, self.pane_size(), self.offset())
    }

    /// Whether a window is exactly one pane (TUMBLE): no merging needed.
    pub fn single_pane(&self) -> bool {
        matches!(self, WindowKind::Tumble { .. })
    }

    /// The windows `(start, end)` that contain the pane starting at `pane`, by ascending end.
    pub fn windows_of_pane(&self, pane: i64) -> Vec<(i64, i64)> {
        match *self {
            WindowKind::Tumble { size, .. } => vec![(pane, pane + size)],
            WindowKind::Hop { slide, size, offset } => {
                let p = self.pane_size();
                let mut s = align(pane + p - size, slide, offset);
                if s < pane + p - size {
                    s += slide;
                }
                let mut out = Vec::new();
                while s <= pane {
                    out.push((s, s + size));
                    s += slide;
                }
                out
            }
            WindowKind::Cumulate { step, max_size, offset } => {
                let base = align(pane, max_size, offset);
                let mut out = Vec::new();
                let mut end = pane + step;
                while end <= base + max_size {
                    out.push((base, end));
                    end += step;
                }
                out
            }
            WindowKind::Session { .. } | WindowKind::Slide { .. } => vec![],
        }
    }

    /// The windows containing pane `pane` whose close time `end - 1` is in `(after, upto]`,
    /// computed directly (no enumeration of the pane's other windows).
    pub fn windows_closing(&self, pane: i64, after: i64, upto: i64) -> Vec<(i64, i64)> {
        // end in (after + 1, upto + 1]
        let (lo, hi) = (after.saturating_add(1), upto.saturating_add(1));
        match *self {
            WindowKind::Tumble { size, .. } => {
                let end = pane + size;
                if end > lo && end <= hi {
                    vec![(pane, end)]
                } else {
                    vec![]
                }
            }
            WindowKind::Hop { slide, size, offset } => {
                let p = self.pane_size();
                let first_start =
                    pane.saturating_add(p).saturating_sub(size).max(lo.saturating_sub(size).saturating_add(1));
                let mut s = align(first_start, slide, offset);
                if s < first_start {
                    s += slide;
                }
                let last_start = align(pane, slide, offset).min(hi.saturating_sub(size));
                let mut out = Vec::new();
                while s <= last_start {
                    out.push((s, s + size));
                    s += slide;
                }
                out
            }
            WindowKind::Cumulate { step, max_size, offset } => {
                let base = align(pane, max_size, offset);
                // The smallest end on the step grid that is > lo and ≥ pane + step.
                let from = lo.saturating_add(1).max(pane + step);
                let mut end = align(from, step, offset);
                if end < from {
                    end += step;
                }
                let mut out = Vec::new();
                while end <= base + max_size && end <= hi {
                    out.push((base, end));
                    end += step;
                }
                out
            }
            WindowKind::Session { .. } | WindowKind::Slide { .. } => vec![],
        }
    }

    /// Pane starts making up window `[start, end)`.
    pub fn panes_of_window(&self, start: i64, end: i64) -> impl Iterator<Item = i64> {
        let p = self.pane_size();
        (0..(end - start) / p).map(move |i| start + i * p)
    }

    /// End of the last window containing the pane: once the watermark reaches `end - 1`,
    /// the pane is no longer needed.
    pub fn last_end_of_pane(&self, pane: i64) -> i64 {
        match *self {
            WindowKind::Tumble { size, .. } => pane + size,
            // The window with the largest start not after the pane.
            WindowKind::Hop { slide, size, offset } => align(pane, slide, offset) + size,
            WindowKind::Cumulate { max_size, offset, .. } => align(pane, max_size, offset) + max_size,
            // The session a row at `pane` opens lasts at least until `pane + gap`.
            WindowKind::Session { gap } => pane.saturating_add(gap),
            // A SLIDE row's window [t - size, t] ends (exclusively) at t + 1.
            WindowKind::Slide { .. } => pane.saturating_add(1),
        }
    }

    /// End of the last window containing event time `t`.
    pub fn last_end(&self, t: i64) -> i64 {
        self.last_end_of_pane(self.pane_start(t))
    }

    /// Whether a row at event time `t`, arriving when the watermark was `watermark`, is too
    /// late for every window it could belong to, given the allowed `lateness` (ms).
    /// Windows: the watermark reached `last end - 1 + lateness`; a session: `t + gap - 1 +
    /// lateness`; SLIDE (emitted in event-time order, no lateness): `t` is below the
    /// watermark.
    pub fn too_late(&self, t: i64, watermark: i64, lateness: i64) -> bool {
        match self {
            WindowKind::Slide { .. } => t < watermark,
            _ => (self.last_end(t) - 1).saturating_add(lateness) <= watermark,
        }
    }

    /// Window ends are `phase + k * period`: any point where a window can fire.
    pub fn fire_period(&self) -> (i64, i64) {
        match *self {
            WindowKind::Tumble { size, offset } => (size, offset),
            WindowKind::Hop { slide, size, offset } => (slide, offset + size),
            WindowKind::Cumulate { step, offset, .. } => (step, offset),
            WindowKind::Session { .. } | WindowKind::Slide { .. } => (1, 0),
        }
    }

    /// SQL-ish description for EXPLAIN.
    pub fn describe(&self) -> String {
        match *self {
            WindowKind::Tumble { size, offset } => format!("TUMBLE(size={}{})", ms(size), off(offset)),
            WindowKind::Hop { slide, size, offset } => {
                format!("HOP(slide={}, size={}{})", ms(slide), ms(size), off(offset))
            }
            WindowKind::Cumulate { step, max_size, offset } => {
                format!("CUMULATE(step={}, max_size={}{})", ms(step), ms(max_size), off(offset))
            }
            WindowKind::Session { gap } => format!("SESSION(gap={})", ms(gap)),
            WindowKind::Slide { size } => format!("SLIDE(size={})", ms(size)),
        }
    }
}

fn off(o: i64) -> String {
    if o == 0 {
        String::new()
    } else {
        format!(", offset={}", ms(o))
    }
}

/// Formats milliseconds compactly (`10s`, `1500ms`, `5min`).
pub fn ms(v: i64) -> String {
    if v % 3_600_000 == 0 && v != 0 {
        format!("{}h", v / 3_600_000)
    } else if v % 60_000 == 0 && v != 0 {
        format!("{}min", v / 60_000)
    } else if v % 1000 == 0 && v != 0 {
        format!("{}s", v / 1000)
    } else {
        format!("{v}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_windows_of_a_pane() {
        let w = WindowKind::Hop { slide: 5, size: 10, offset: 0 };
        assert_eq!(w.pane_size(), 5);
        assert_eq!(w.windows_of_pane(5), vec![(0, 10), (5, 15)]);
        assert_eq!(w.windows_of_pane(-5), vec![(-10, 0), (-5, 5)]);
        let odd = WindowKind::Hop { slide: 4, size: 6, offset: 0 };
        assert_eq!(odd.pane_size(), 2);
        assert_eq!(odd.windows_of_pane(4), vec![(0, 6), (4, 10)]);
        assert_eq!(odd.windows_of_pane(2), vec![(0, 6)]);
    }

    #[test]
    fn cumulate_windows_of_a_pane() {
        let w = WindowKind::Cumulate { step: 5, max_size: 15, offset: 0 };
        assert_eq!(w.windows_of_pane(0), vec![(0, 5), (0, 10), (0, 15)]);
        assert_eq!(w.windows_of_pane(10), vec![(0, 15)]);
        assert_eq!(w.windows_of_pane(15), vec![(15, 20), (15, 25), (15, 30)]);
        assert_eq!(w.panes_of_window(0, 10).collect::<Vec<_>>(), vec![0, 5]);
    }

    #[test]
    fn last_end_matches_the_enumerated_windows() {
        let kinds = [
            WindowKind::Tumble { size: 10, offset: 3 },
            WindowKind::Hop { slide: 4, size: 6, offset: 1 },
            WindowKind::Hop { slide: 5, size: 10, offset: 0 },
            WindowKind::Cumulate { step: 5, max_size: 15, offset: 2 },
        ];
        for k in kinds {
            for t in -40..40 {
                let p = k.pane_start(t);
                assert_eq!(k.last_end_of_pane(p), k.windows_of_pane(p).last().unwrap().1, "{k:?} t={t}");
            }
        }
    }

    #[test]
    fn windows_closing_is_the_filtered_enumeration() {
        let kinds = [
            WindowKind::Tumble { size: 10, offset: 3 },
            WindowKind::Hop { slide: 4, size: 6, offset: 1 },
            WindowKind::Hop { slide: 5, size: 10, offset: 0 },
            WindowKind::Hop { slide: 10, size: 3, offset: 0 },
            WindowKind::Cumulate { step: 5, max_size: 15, offset: 2 },
        ];
        for k in kinds {
            for t in -30..30 {
                let p = k.pane_start(t);
                for after in [i64::MIN, -20, -7, 0, 3, 11, 25] {
                    for upto in [after, after.saturating_add(1), after.saturating_add(9), 40, i64::MAX] {
                        let want: Vec<_> =
                            k.windows_of_pane(p).into_iter().filter(|(_, e)| e - 1 > after && e - 1 <= upto).collect();
                        assert_eq!(k.windows_closing(p, after, upto), want, "{k:?} pane {p} ({after}, {upto}]");
                    }
                }
            }
        }
    }

    #[test]
    fn tumble_with_offset() {
        let w = WindowKind::Tumble { size: 10, offset: 3 };
        assert_eq!(w.pane_start(12), 3);
        assert_eq!(w.pane_start(13), 13);
        assert_eq!(w.pane_start(-1), -7);
    }
}
