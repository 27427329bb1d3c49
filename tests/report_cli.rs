//! `ticklab report` on a real run's results directory, and on damaged copies of it:
//! every format carries the run's numbers, and every damage is named.

use std::path::Path;
use std::process::{Command, Output};

#[path = "common/lab.rs"]
mod lab;

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

    certify_and_verify(&run, tmp.path(), p50, count);
}

/// An SLA the run meets passes, one it misses fails naming the criteria, and a
/// result file edited after certification fails verification.
fn certify_and_verify(run: &Path, tmp: &Path, p50: u64, count: u64) {
    let certify = |sla: &str| {
        let path = tmp.join("sla.toml");
        std::fs::write(&path, sla).unwrap();
        Command::new(env!("CARGO_BIN_EXE_ticklab"))
            .args(["certify", "--sla"])
            .arg(&path)
            .arg(run)
            .output()
            .unwrap()
    };
    let meets = format!(
        "name = \"meets\"\n[latency_ns]\np50 = {}\n[responses]\nmax_non_response_percent = 1.0\nmin_samples = {count}\n",
        p50 + 1
    );
    let out = certify(&meets);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let cert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("certificate.json")).unwrap())
            .unwrap();
    assert_eq!(cert["pass"], true);
    let names: Vec<&str> = cert["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "run complete",
            "latency p50",
            "non-response rate",
            "samples"
        ]
    );
    let files: Vec<&str> = cert["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "summary.json",
            "env.json",
            "spec.toml",
            "latency.hlog",
            "latency.hgrm"
        ]
    );
    assert!(run.join("certificate.txt").is_file());

    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_ticklab"))
            .args(["certify", "--verify"])
            .arg(run.join("certificate.json"))
            .output()
            .unwrap()
    };
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).starts_with("verified: 5 files"),
        "{}",
        text(&out.stdout)
    );

    // Misses: p50 below what was measured, more samples than there are, and PTP
    // locking the run has no evidence of.
    let misses = format!(
        "[latency_ns]\np50 = {}\n[responses]\nmin_samples = {}\n[clock]\nrequire_ptp_locked = true\n",
        p50 / 2,
        count + 1
    );
    let out = certify(&misses);
    assert_eq!(out.status.code(), Some(1));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("failed: latency p50, samples, PTP locked"),
        "{shown}"
    );
    assert!(shown.contains("no PTP monitoring in this run"), "{shown}");

    // Edit a result after certification: verification names the file.
    let mut summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    summary = summary.replacen("\"matched\":", "\"matched\": ", 1);
    std::fs::write(run.join("summary.json"), summary).unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(1));
    let shown = text(&out.stdout);
    assert!(shown.contains("summary.json: sha256"), "{shown}");
    assert!(shown.contains("edited after certification"), "{shown}");

    // Bad SLA: exit 2 naming the file and line.
    let out = certify("[latency_ns]\np42 = 1\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("latency_ns.p42: unknown percentile"));
}

/// A small default lab into `dir`, with `extra` refcore arguments.
fn small_run(dir: &Path, refcore_extra: &[&str]) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticklab"));
    cmd.args([
        "run",
        "--set",
        "run.messages=60000",
        "--set",
        "run.warmup_messages=100",
        "--set",
        "pace.mode=\"fixed_rate\"",
        "--set",
        "pace.per_second=40000",
        "--set",
        "correlate.timeout_ms=500",
    ]);
    if !refcore_extra.is_empty() {
        cmd.arg("--set").arg(lab::refcore_command(refcore_extra));
    }
    let output = cmd.arg("--out").arg(dir).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn compare_tells_a_slower_dut_from_a_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, rerun, slower) = (
        tmp.path().join("base"),
        tmp.path().join("rerun"),
        tmp.path().join("slower"),
    );
    small_run(&base, &[]);
    small_run(&rerun, &[]);
    small_run(&slower, &["--delay-ns", "2000000"]);
    // A run against the same data: no change at all, whatever the machine did.
    let same = tmp.path().join("same");
    std::fs::create_dir(&same).unwrap();
    for entry in std::fs::read_dir(&base).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), same.join(entry.file_name())).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(["compare", "--threshold", "p50=100"])
        .arg(&base)
        .arg(&same)
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}{}", text(&out.stderr));
    assert!(shown.contains("verdict: no significant change"), "{shown}");
    assert!(
        !shown.contains("warning"),
        "one build, one host, one DUT: {shown}"
    );
    assert!(shown.contains("Mann-Whitney U: z = 0.00"), "{shown}");
    // Two runs of one build differ by this machine's run-to-run noise, which on a
    // shared 2-core VM under load can exceed any threshold a test could fix: the
    // comparison must judge them (0 or 1), never fail to.
    let out = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(["compare", "--threshold", "p50=100"])
        .arg(&base)
        .arg(&rerun)
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{shown}{}",
        text(&out.stderr)
    );
    assert!(shown.contains("Mann-Whitney U: z = "), "{shown}");

    // A DUT that waits 2 ms more per order: p50 grows by far more than 100%, even
    // when a loaded machine makes the base's p50 hundreds of microseconds.
    let out = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(["compare", "--threshold", "p50=100", "--format", "json"])
        .arg(&base)
        .arg(&slower)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "regression");
    let p50 = &json["comparison"]["percentiles"][0];
    assert_eq!(p50["name"], "p50");
    assert_eq!(p50["judgement"], "regression");
    assert!(p50["delta_ns"].as_i64().unwrap() > 0, "{p50}");
    // The DUT command differs, and the comparison says so.
    let warnings = json["warnings"].to_string();
    assert!(warnings.contains("DUT command differs"), "{warnings}");
    assert!(warnings.contains("--delay-ns 2000000 (new)"), "{warnings}");
    // And back: an improvement is not a regression.
    let out = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(["compare", "--threshold", "p50=100"])
        .arg(&slower)
        .arg(&base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("verdict: improvement"));

    // Errors exit 2, naming what is wrong.
    let out = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(["compare", "--threshold", "p42=5"])
        .arg(&base)
        .arg(&rerun)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("threshold \"p42\""),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .arg("compare")
        .arg(&base)
        .arg(tmp.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a results directory"));
}
