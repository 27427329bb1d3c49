//! `ticklab report` on a real run's results directory, and on damaged copies of it:
//! every format carries the run's numbers, and every damage is named.

use std::path::Path;
use std::process::{Command, Output};

fn ticklab(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(args)
        .arg(dir)
        .output()
        .expect("running ticklab")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn report_renders_a_run_and_names_every_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let output = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args([
            "run",
            "--set",
            "run.messages=40000",
            "--set",
            "run.warmup_messages=100",
            "--set",
            "correlate.timeout_ms=300",
            "--out",
        ])
        .arg(&run)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let count = summary["latency_ns"]["count"].as_u64().unwrap();
    let p50 = summary["latency_ns"]["p50"].as_u64().unwrap();
    assert!(count > 0);

    // JSON: the log's distribution is the summary's.
    let out = ticklab(&["report", "--format", "json"], &run);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["latency_ns"]["count"].as_u64(), Some(count));
    assert_eq!(json["latency_ns"]["p50"].as_u64(), Some(p50));
    assert_eq!(json["verdict"], "complete");
    assert_eq!(json["clock_domain"], "kernel_software");
    assert!(json["warnings"].as_array().unwrap().is_empty(), "{json}");

    // Text and markdown show the same numbers.
    let out = ticklab(&["report"], &run);
    let shown = text(&out.stdout);
    assert!(shown.contains("verdict       complete"), "{shown}");
    assert!(shown.contains(&format!(" {p50} ")), "{shown}");
    let out = ticklab(&["report", "--format", "markdown"], &run);
    let md = text(&out.stdout);
    assert!(md.contains(&format!("| p50 | {p50} |")), "{md}");
    assert!(md.contains("**Verdict:** complete"), "{md}");

    // A missing summary is named, exit 65.
    let missing = tmp.path().join("missing");
    copy_dir(&run, &missing);
    std::fs::remove_file(missing.join("summary.json")).unwrap();
    let out = ticklab(&["report"], &missing);
    assert_eq!(out.status.code(), Some(65));
    let err = text(&out.stderr);
    assert!(err.contains("summary.json: missing"), "{err}");

    // Corrupt JSON is named with its line and column.
    let corrupt = tmp.path().join("corrupt");
    copy_dir(&run, &corrupt);
    std::fs::write(corrupt.join("env.json"), "{\"hostname\": 3").unwrap();
    let out = ticklab(&["report"], &corrupt);
    assert_eq!(out.status.code(), Some(65));
    let err = text(&out.stderr);
    assert!(
        err.contains("env.json: not the JSON ticklab writes"),
        "{err}"
    );

    // A cut last line of the interval log is tolerated and reported.
    let log = std::fs::read(run.join("latency.hlog")).unwrap();
    let cut_dir = tmp.path().join("cut");
    copy_dir(&run, &cut_dir);
    std::fs::write(cut_dir.join("latency.hlog"), &log[..log.len() - 20]).unwrap();
    let out = ticklab(&["report"], &cut_dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("intervals; the last line (line"), "{err}");
    assert!(err.contains("was incomplete"), "{err}");

    // A malformed line in the middle: an error naming it, unless --lenient.
    let text_log = String::from_utf8(log.clone()).unwrap();
    let mut lines: Vec<&str> = text_log.lines().collect();
    let first_interval = lines
        .iter()
        .position(|l| !l.starts_with('#') && !l.starts_with('"'))
        .unwrap();
    lines.insert(first_interval, "this is not an interval");
    let bad_dir = tmp.path().join("bad");
    copy_dir(&run, &bad_dir);
    std::fs::write(bad_dir.join("latency.hlog"), lines.join("\n") + "\n").unwrap();
    let out = ticklab(&["report"], &bad_dir);
    assert_eq!(out.status.code(), Some(65));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("interval log line {}:", first_interval + 1)),
        "{err}"
    );
    assert!(err.contains("--lenient"), "{err}");
    let out = ticklab(&["report", "--lenient", "--format", "json"], &bad_dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["latency_ns"]["count"].as_u64(), Some(count));
    let warnings = json["warnings"].to_string();
    assert!(
        warnings.contains("skipped 1 unreadable lines"),
        "{warnings}"
    );

    // Not a directory at all.
    let out = ticklab(&["report"], &tmp.path().join("nowhere"));
    assert_eq!(out.status.code(), Some(65));
    assert!(text(&out.stderr).contains("not a results directory"));
}
