//! The `/metrics` document in the Prometheus text exposition format (version 0.0.4).
//!
//! Every sample carries a `pipeline` label; operator and worker samples also carry `query`
//! (the statement's index in the file), `stage`, `worker` and, for operators, `index` (the
//! position in the worker's chain) and `operator` (its name). Counters restart from zero when
//! a pipeline restarts.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::registry::{event_time, now_ms, PipelineState, Registry};

/// A metric family being written: its samples, then its help and type.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(String, f64)>,
}

/// Every documented metric: (name, type, help).
pub const METRICS: &[(&str, &str, &str)] = &[
    ("wavecrest_pipeline_up", "gauge", "1 while the pipeline runs, else 0"),
    ("wavecrest_pipeline_restarts_total", "counter", "Restarts after a failure"),
    ("wavecrest_source_rows_total", "counter", "Rows read from a source table"),
    ("wavecrest_source_bytes_total", "counter", "Bytes read from a source table (file and stdin sources)"),
    ("wavecrest_source_bad_rows_skipped_total", "counter", "Bad input rows skipped"),
    ("wavecrest_source_dead_lettered_total", "counter", "Bad input rows written to the dead-letter file"),
    ("wavecrest_source_backpressure_seconds_total", "counter", "Time sources waited for full channels"),
    ("wavecrest_operator_rows_in_total", "counter", "Rows an operator received"),
    ("wavecrest_operator_rows_out_total", "counter", "Rows an operator emitted"),
    ("wavecrest_operator_late_rows_total", "counter", "Rows too late for an operator (dropped or side output)"),
    ("wavecrest_operator_state_keys", "gauge", "Keys in an operator's state"),
    ("wavecrest_operator_state_bytes", "gauge", "Size of an operator's state at the last checkpoint"),
    ("wavecrest_worker_watermark_seconds", "gauge", "Event-time watermark a worker has seen (Unix seconds)"),
    ("wavecrest_worker_backpressure_seconds_total", "counter", "Time a worker waited for full channels"),
    ("wavecrest_sink_rows_total", "counter", "Rows written to sinks"),
    ("wavecrest_late_rows_total", "counter", "Rows too late over all operators"),
    ("wavecrest_watermark_seconds", "gauge", "Event-time watermark of the pipeline's sources (Unix seconds)"),
    ("wavecrest_watermark_lag_seconds", "gauge", "Wall-clock time minus the watermark"),
    ("wavecrest_checkpoints_total", "counter", "Checkpoints completed"),
    ("wavecrest_checkpoint_duration_seconds", "gauge", "Duration of the last checkpoint, trigger to write"),
    ("wavecrest_checkpoint_age_seconds", "gauge", "Time since the last checkpoint completed"),
];

/// Renders the metrics of every pipeline.
pub fn render(registry: &Registry) -> String {
    let mut families: Vec<Family> =
        METRICS.iter().map(|(name, kind, help)| Family { name, help, kind, samples: Vec::new() }).collect();
    let mut add = |name: &str, labels: String, value: f64| {
        if let Some(f) = families.iter_mut().find(|f| f.name == name) {
            f.samples.push((labels, value));
        }
    };
    let now = now_ms();
    for p in registry.all() {
        let pl = format!("pipeline=\"{}\"", escape(&p.name));
        let up = p.state().0 == PipelineState::Running;
        add("wavecrest_pipeline_up", pl.clone(), f64::from(u8::from(up)));
        add("wavecrest_pipeline_restarts_total", pl.clone(), p.restarts.load(Ordering::Relaxed) as f64);
        let Some(m) = p.metrics() else { continue };
        if let Ok(sources) = m.sources.lock() {
            for (table, c) in sources.iter() {
                let l = format!("{pl},table=\"{}\"", escape(table));
                add("wavecrest_source_rows_total", l.clone(), c.rows.load(Ordering::Relaxed) as f64);
                add("wavecrest_source_bytes_total", l.clone(), c.bytes.load(Ordering::Relaxed) as f64);
                add("wavecrest_source_bad_rows_skipped_total", l.clone(), c.skipped.load(Ordering::Relaxed) as f64);
                add("wavecrest_source_dead_lettered_total", l, c.dead_lettered.load(Ordering::Relaxed) as f64);
            }
        }
        add(
            "wavecrest_source_backpressure_seconds_total",
            pl.clone(),
            ns(m.source_backpressure_ns.load(Ordering::Relaxed)),
        );
        if let Ok(ops) = m.operators.lock() {
            for o in ops.iter() {
                let l = format!(
                    "{pl},query=\"{}\",stage=\"{}\",worker=\"{}\",index=\"{}\",operator=\"{}\"",
                    o.query,
                    o.stage,
                    o.worker,
                    o.index,
                    escape(&o.name)
                );
                add("wavecrest_operator_rows_in_total", l.clone(), o.rows_in.load(Ordering::Relaxed) as f64);
                add("wavecrest_operator_rows_out_total", l.clone(), o.rows_out.load(Ordering::Relaxed) as f64);
                add("wavecrest_operator_late_rows_total", l.clone(), o.late_rows.load(Ordering::Relaxed) as f64);
                add("wavecrest_operator_state_keys", l.clone(), o.state_keys.load(Ordering::Relaxed) as f64);
                add("wavecrest_operator_state_bytes", l, o.state_bytes.load(Ordering::Relaxed) as f64);
            }
        }
        if let Ok(tasks) = m.tasks.lock() {
            for t in tasks.iter() {
                let l = format!("{pl},query=\"{}\",stage=\"{}\",worker=\"{}\"", t.query, t.stage, t.worker);
                if let Some(w) = event_time(t.watermark.load(Ordering::Relaxed)) {
                    add("wavecrest_worker_watermark_seconds", l.clone(), w as f64 / 1000.0);
                }
                add("wavecrest_worker_backpressure_seconds_total", l, ns(t.backpressure_ns.load(Ordering::Relaxed)));
            }
        }
        add("wavecrest_sink_rows_total", pl.clone(), m.rows_out.load(Ordering::Relaxed) as f64);
        add("wavecrest_late_rows_total", pl.clone(), m.late_rows_live() as f64);
        if let Some(w) = event_time(m.watermark.load(Ordering::Relaxed)) {
            add("wavecrest_watermark_seconds", pl.clone(), w as f64 / 1000.0);
            add("wavecrest_watermark_lag_seconds", pl.clone(), (now - w) as f64 / 1000.0);
        }
        add("wavecrest_checkpoints_total", pl.clone(), m.checkpoints.load(Ordering::Relaxed) as f64);
        let at = m.checkpoint_at_ms.load(Ordering::Relaxed);
        if at > 0 {
            add(
                "wavecrest_checkpoint_duration_seconds",
                pl.clone(),
                m.checkpoint_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            );
            add("wavecrest_checkpoint_age_seconds", pl, (now - at).max(0) as f64 / 1000.0);
        }
    }
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, value) in f.samples {
            let _ = writeln!(out, "{}{{{labels}}} {value}", f.name);
        }
    }
    out
}

fn ns(n: u64) -> f64 {
    n as f64 / 1e9
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::daemon::registry::PipelineStatus;
    use crate::runtime::JobMetrics;

    #[test]
    fn every_family_has_help_and_type_and_samples_carry_labels() {
        let registry = Registry::new();
        let p = Arc::new(PipelineStatus::new("q\"1", "q.sql".into()));
        p.set(PipelineState::Running, None, None);
        let m = Arc::new(JobMetrics::default());
        m.rows_out.store(7, Ordering::Relaxed);
        let (task, ops) = m.register_worker(0, 1, 0, &["WindowAggregate"]);
        ops[0].rows_in.store(5, Ordering::Relaxed);
        task.watermark.store(2_000, Ordering::Relaxed);
        p.set_metrics(m);
        registry.insert(p);
        let text = render(&registry);
        for (name, kind, _) in METRICS {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
        }
        assert!(text.contains("wavecrest_pipeline_up{pipeline=\"q\\\"1\"} 1\n"), "{text}");
        assert!(text.contains("wavecrest_sink_rows_total{pipeline=\"q\\\"1\"} 7\n"));
        assert!(text.contains(
            "wavecrest_operator_rows_in_total{pipeline=\"q\\\"1\",query=\"0\",stage=\"1\",worker=\"0\",index=\"0\",operator=\"WindowAggregate\"} 5\n"
        ));
        assert!(text.contains(
            "wavecrest_worker_watermark_seconds{pipeline=\"q\\\"1\",query=\"0\",stage=\"1\",worker=\"0\"} 2\n"
        ));
        // No watermark yet and no checkpoint: those gauges have no sample.
        assert!(!text.contains("wavecrest_watermark_lag_seconds{"));
        assert!(!text.contains("wavecrest_checkpoint_age_seconds{"));
    }
}
