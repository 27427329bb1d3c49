//! Plots, the HTML report and `ticklab history` on two real runs: the files are
//! checked as files (SVG that parses as XML with the expected labels, PNG of the
//! expected size), the HTML page stands alone, and history reads the runs in order
//! and names the directory it could not read.

use std::path::Path;
use std::process::{Command, Output};

use ticklab::report::plot::{PLOT_HEIGHT, PLOT_WIDTH};

fn ticklab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticklab"))
        .args(args)
        .output()
        .expect("running ticklab")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A short self-test run into `dir`; returns its run id.
fn lab_run(dir: &Path) -> String {
    let out = ticklab(&[
        "run",
        "--set",
        "run.messages=40000",
        "--set",
        "run.warmup_messages=100",
        "--out",
        path(dir),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary["latency_ns"]["count"].as_u64().unwrap() > 0);
    summary["run_id"].as_str().unwrap().to_string()
}

/// Parses `file` as XML with an `<svg>` root and returns the text of all its
/// `<text>` elements, one per line.
fn svg_texts(file: &Path) -> String {
    let xml = std::fs::read_to_string(file).unwrap();
    let doc =
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(
        doc.root_element().tag_name().name(),
        "svg",
        "{}",
        file.display()
    );
    assert_eq!(
        doc.root_element().attribute("width"),
        Some(PLOT_WIDTH.to_string().as_str())
    );
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks the PNG signature and reads the IHDR chunk's width and height.
fn png_size(file: &Path) -> (u32, u32) {
    let bytes = std::fs::read(file).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", file.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{}", file.display());
    (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    )
}

fn has_line(texts: &str, line: &str) -> bool {
    texts.lines().any(|l| l == line)
}

#[test]
fn plots_html_and_history_from_real_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let (dir_a, dir_b) = (results.join("a"), results.join("b"));
    let id_a = lab_run(&dir_a);
    let id_b = lab_run(&dir_b);

    // `ticklab report` leaves the three plots, SVG and PNG, beside the numbers.
    let out = ticklab(&["report", path(&dir_a)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("plots not written"),
        "{}",
        text(&out.stderr)
    );
    for stem in ["percentiles", "over-time", "histogram"] {
        assert_eq!(
            png_size(&dir_a.join(format!("{stem}.png"))),
            (PLOT_WIDTH, PLOT_HEIGHT)
        );
    }
    let percentiles = svg_texts(&dir_a.join("percentiles.svg"));
    for label in [
        "Tick-to-trade latency by percentile",
        "percentile",
        "0%",
        "90%",
        "99%",
        id_a.as_str(),
    ] {
        assert!(
            has_line(&percentiles, label),
            "{label:?} missing from:\n{percentiles}"
        );
    }
    assert!(
        percentiles.lines().any(|l| l.starts_with("latency (")),
        "{percentiles}"
    );
    let over_time = svg_texts(&dir_a.join("over-time.svg"));
    for label in [
        "p50",
        "p99",
        "max",
        "time since the run's first interval began (s)",
    ] {
        assert!(
            has_line(&over_time, label),
            "{label:?} missing from:\n{over_time}"
        );
    }
    let histogram = svg_texts(&dir_a.join("histogram.svg"));
    for label in [
        "Tick-to-trade latency distribution",
        "samples",
        id_a.as_str(),
    ] {
        assert!(
            has_line(&histogram, label),
            "{label:?} missing from:\n{histogram}"
        );
    }
    // --no-plots leaves the directory alone.
    let out = ticklab(&["report", "--no-plots", path(&dir_b)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!dir_b.join("percentiles.svg").exists());

    // `ticklab plot`: both runs on one percentile chart; a PNG of another kind; an
    // unknown extension is a usage error.
    let both = tmp.path().join("both.svg");
    let out = ticklab(&["plot", path(&dir_a), path(&dir_b), "--out", path(&both)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let texts = svg_texts(&both);
    assert!(
        has_line(&texts, &id_a) && has_line(&texts, &id_b),
        "{texts}"
    );
    let hist_png = tmp.path().join("h.png");
    let out = ticklab(&[
        "plot",
        path(&dir_b),
        "--kind",
        "histogram",
        "--out",
        path(&hist_png),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(png_size(&hist_png), (PLOT_WIDTH, PLOT_HEIGHT));
    let out = ticklab(&[
        "plot",
        path(&dir_b),
        "--out",
        path(&tmp.path().join("p.jpg")),
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("p.jpg: the file name must end in .svg or .png"));

    // The HTML page: one file, nothing fetched from anywhere, the plots inlined.
    let out = ticklab(&["report", "--format", "html", "--no-plots", path(&dir_a)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = text(&out.stdout);
    assert!(html.starts_with("<!DOCTYPE html>\n"), "{}", &html[..80]);
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.contains(&format!("<h1>ticklab run <code>{id_a}</code></h1>")));
    for external in ["src=", "<link", "href=", "url(", "@import", "<img"] {
        assert!(!html.contains(external), "the page references {external}");
    }
    assert_eq!(html.matches("<svg ").count(), 3);
    for id in ["percentiles", "over-time", "histogram"] {
        assert!(
            html.contains(&format!("<figure id=\"{id}\">\n<svg ")),
            "{id}"
        );
    }
    let (_, json) = html
        .split_once("<script type=\"application/json\" id=\"ticklab-report\">")
        .unwrap();
    let (json, _) = json.split_once("</script>").unwrap();
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(json["run_id"], id_a.as_str());

    // History: both runs, oldest first; the broken directory named and counted; a
    // plot in the results directory.
    let broken = results.join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("summary.json"), "{\"run_id\":").unwrap();
    let out = ticklab(&["history", "--metric", "p99.9", path(&results)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.lines().next().unwrap().contains("p99.9 (ns)"),
        "{table}"
    );
    let at_a = table.find(&id_a).expect("run a listed");
    let at_b = table.find(&id_b).expect("run b listed");
    assert!(at_a < at_b, "not in start order:\n{table}");
    assert!(table.contains("2 runs; 1 directories skipped\n"), "{table}");
    assert!(
        table.contains(&format!(
            "skipped {}: {}",
            broken.display(),
            broken.join("summary.json").display()
        )),
        "{table}"
    );
    let trend = svg_texts(&results.join("history.svg"));
    assert!(has_line(&trend, "Tick-to-trade p99.9 by run"), "{trend}");
    assert!(has_line(&trend, "p99.9"), "{trend}");
    let out = ticklab(&["history", "--metric", "p95", path(&results)]);
    assert_eq!(
        out.status.code(),
        Some(64),
        "an unknown metric is a usage error"
    );
    assert!(text(&out.stderr).contains("one of p50, p90, p99, p99.9, p99.99, max, mean"));
}
