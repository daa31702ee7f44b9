//! Every example in `queries/` runs through the real binary and produces rows.

use std::process::Command;

fn run_csv(file: &str) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_wavecrest"))
        .args(["run", "--format", "csv", file])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs the binary");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn every_query_file_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    // Only the files at the top: `queries/pipelines/` is a daemon folder (tests/engine/daemon.rs).
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("queries/").flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    assert!(files.len() >= 7, "expected the quickstart, a csv example and five Nexmark queries");
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let (stdout, stderr, ok) = run_csv(&format!("queries/{name}"));
        assert!(ok, "{name} failed:\n{stderr}");
        let mut lines = stdout.lines();
        let header = lines.next().unwrap_or_default();
        assert!(header.starts_with("op,"), "{name}: csv header starts with op: {header}");
        assert!(lines.next().is_some(), "{name}: no rows\n{stderr}");
        assert!(stderr.contains("rows in"), "{name}: end-of-run summary on stderr");
    }
}

#[test]
fn quickstart_counts_bids_per_window() {
    let (stdout, stderr, ok) = run_csv("queries/quickstart.sql");
    assert!(ok, "{stderr}");
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    // 500 000 generator events = 50 s of event time = five 10-second windows, each with
    // 46/50 of its 100 000 events being bids.
    assert_eq!(rows.len(), 5, "{stdout}");
    for r in rows {
        let cols: Vec<&str> = r.split(',').collect();
        assert_eq!(cols[0], "+I");
        assert_eq!(cols[3], "92000", "{r}");
    }
}
