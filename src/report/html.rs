//! `ticklab report --format html`: one self-contained HTML page per run, to attach
//! to a ticket or mail to someone: the report's numbers ([`super::report_json`]),
//! the three plots inlined as SVG, and the numbers again as JSON in a
//! `<script type="application/json" id="ticklab-report">` block for programs.
//!
//! The page must never reference anything outside itself: no stylesheet, script,
//! font or image is loaded from anywhere, so it reads the same offline, in a mail
//! client or years later. Every string from the run is HTML-escaped. A plot that
//! cannot be drawn (a run with no samples) is replaced by a sentence saying why;
//! the numbers are still shown.
//!
//! ```
//! use ticklab::report::html::escape;
//! assert_eq!(escape("p99 < 5 µs & \"fast\""), "p99 &lt; 5 µs &amp; &quot;fast&quot;");
//! ```

use std::fmt::Write as _;

use super::plot::{self, ImageFormat, PlotKind, Series};
use super::{percentile_rows, report_json, verdict_line, LoadedRun};
use crate::lab::summary::Verdict;

/// The page for `run`.
pub fn render_html(run: &LoadedRun) -> String {
    let r = report_json(run);
    let mut out = String::new();
    let title = format!("ticklab run {}", r.run_id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(
        out,
        "<h1>ticklab run <code>{}</code></h1>",
        escape(r.run_id)
    );
    let verdict_class = match r.verdict {
        Verdict::Complete => "complete",
        Verdict::Incomplete => "incomplete",
    };
    let _ = writeln!(out, "<table class=\"facts\">");
    for (name, value, class) in [
        ("Verdict", verdict_line(&r), verdict_class),
        ("Clock", r.clock_domain.to_string(), ""),
        (
            "Host",
            format!(
                "{} ({}, {}; clock source {}, TSC {})",
                r.host.hostname, r.host.kernel, r.host.cpu_model, r.host.clock_source, r.host.tsc
            ),
            "",
        ),
        ("Build", r.build.clone(), ""),
        ("Directory", r.dir.clone(), ""),
    ] {
        let _ = writeln!(
            out,
            "<tr><th>{name}</th><td class=\"{class}\">{}</td></tr>",
            escape(&value)
        );
    }
    let _ = writeln!(out, "</table>");

    let _ = writeln!(out, "<h2>Tick-to-trade latency</h2>");
    let _ = writeln!(
        out,
        "<table class=\"numbers\">\n<tr><th></th><th>wire (ns)</th><th>from schedule (ns)</th></tr>"
    );
    for ((name, wire), (_, sched)) in percentile_rows(&r.latency_ns)
        .into_iter()
        .zip(percentile_rows(&r.from_schedule_ns))
    {
        let _ = writeln!(
            out,
            "<tr><th>{name}</th><td>{wire}</td><td>{sched}</td></tr>"
        );
    }
    let _ = writeln!(
        out,
        "<tr><th>mean</th><td>{:.1}</td><td>{:.1}</td></tr>\n<tr><th>count</th><td>{}</td><td>{}</td></tr>\n</table>",
        r.latency_ns.mean, r.from_schedule_ns.mean, r.latency_ns.count, r.from_schedule_ns.count
    );

    let c = &r.counts;
    let _ = writeln!(out, "<h2>Counts</h2>\n<table class=\"numbers\">");
    for (name, n) in [
        ("ticks sent", c.ticks_sent),
        ("triggers", c.triggers),
        ("orders received", c.orders_received),
        ("matched", c.matched),
        ("non-responses", c.non_responses),
        ("unsolicited", c.unsolicited),
        ("duplicates", c.duplicates),
        ("late", c.late),
        ("stale", c.stale),
    ] {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{n}</td></tr>");
    }
    let _ = writeln!(out, "</table>");

    if !r.warnings.is_empty() {
        let _ = writeln!(out, "<h2>Warnings</h2>\n<ul class=\"warnings\">");
        for w in &r.warnings {
            let _ = writeln!(out, "<li>{}</li>", escape(w));
        }
        let _ = writeln!(out, "</ul>");
    }

    let _ = writeln!(out, "<h2>Plots</h2>");
    let intervals = plot::read_intervals(run);
    for kind in PlotKind::ALL {
        let svg = match &intervals {
            Ok(intervals) => plot::render(
                kind,
                &[Series {
                    name: r.run_id,
                    histogram: &run.histogram,
                    intervals,
                }],
                ImageFormat::Svg,
            )
            .map_err(|e| e.to_string())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => Err(e.to_string()),
        };
        let _ = writeln!(out, "<figure id=\"{}\">", kind.file_stem());
        match svg {
            Ok(svg) => out.push_str(svg.trim()),
            Err(why) => {
                let _ = write!(out, "<p class=\"missing\">No plot: {}</p>", escape(&why));
            }
        }
        let _ = writeln!(
            out,
            "\n<figcaption>{}</figcaption>\n</figure>",
            kind.title()
        );
    }

    // `</` would end the script element early; JSON allows `<\/` for `</`.
    let json = serde_json::to_string_pretty(&r)
        .unwrap_or_default()
        .replace("</", "<\\/");
    let _ = writeln!(
        out,
        "<script type=\"application/json\" id=\"ticklab-report\">\n{json}\n</script>\n</body>\n</html>"
    );
    out
}

/// `text` safe to put in HTML text or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

const STYLE: &str =
    "body{font-family:sans-serif;max-width:1040px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
th,td{padding:0.2em 0.8em;border-bottom:1px solid #ddd;text-align:left}\
table.numbers td{text-align:right;font-variant-numeric:tabular-nums}\
td.complete{color:#1a7f37;font-weight:bold}td.incomplete{color:#cf222e;font-weight:bold}\
ul.warnings li{color:#9a6700}\
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto}\
figcaption{color:#555;font-size:0.9em}p.missing{color:#cf222e}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("run-2026 µs"), "run-2026 µs");
    }
}
