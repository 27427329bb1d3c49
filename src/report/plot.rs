//! Plots of finished runs, as SVG or PNG bytes: the percentile distribution on
//! HdrHistogram's log "nines" axis (one line per run), latency over time from the
//! interval log (p50, p99 and max of each interval), a histogram of the distribution
//! in log-spaced buckets, and a metric's trend over many runs (`ticklab history`).
//!
//! Text is drawn with DejaVu Sans, embedded from `assets/` and registered with
//! plotters' `ab_glyph` support as `sans-serif`, so a plot never depends on the
//! system's fonts or fontconfig and looks the same on every machine (SVG text names
//! `sans-serif`; a browser uses its own). Rendering happens in memory: this module
//! never writes a file except in [`write_run_plots`], which puts the three plots of
//! one run into its directory. Nothing here is on a hot path.
//!
//! ```
//! use ticklab::report::plot::{render, ImageFormat, PlotKind, Series};
//! use ticklab::stats::latency_histogram;
//!
//! let mut histogram = latency_histogram();
//! for ns in [900, 950, 1_000, 1_200, 8_000] {
//!     histogram.record(ns)?;
//! }
//! let runs = [Series { name: "run-a".into(), histogram: &histogram, intervals: &[] }];
//! let svg = render(PlotKind::Percentiles, &runs, ImageFormat::Svg)?;
//! let svg = String::from_utf8(svg)?;
//! assert!(svg.starts_with("<svg") && svg.contains("99%") && svg.contains("run-a"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{LoadedRun, ReportError};
use crate::stats::{read_hlog_lenient, Histogram, HlogInterval, JavaPercentiles};

/// Width of every plot, in pixels (SVG user units).
pub const PLOT_WIDTH: u32 = 1000;
/// Height of every plot, in pixels (SVG user units).
pub const PLOT_HEIGHT: u32 = 600;

/// DejaVu Sans (Bitstream Vera licence, `assets/DejaVuSans-LICENSE.txt`).
static EMBEDDED_FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family every text style names; the embedded font is registered under it.
const FONT: FontFamily<'static> = FontFamily::SansSerif;

/// Tableau 10: distinguishable, and still distinguishable in grey.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Log-spaced histogram buckets per decade of latency: edges at 10^(k/10) ns.
const HISTOGRAM_BUCKETS_PER_DECADE: f64 = 10.0;

/// Why a plot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("the embedded font (assets/DejaVuSans.ttf) is not a font ab_glyph can read")]
    Font,
    #[error("{plot}: nothing to plot: {why}")]
    Empty { plot: &'static str, why: String },
    #[error("{plot}: drawing failed: {what}")]
    Draw { plot: &'static str, what: String },
    #[error("encoding the PNG failed: {0}")]
    Png(#[from] png::EncodingError),
    #[error("{}: the file name must end in .svg or .png", path.display())]
    Extension { path: PathBuf },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The file format of a plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Svg,
    Png,
}

impl ImageFormat {
    /// The format a file name's extension asks for (`.svg` or `.png`, any case).
    pub fn from_path(path: &Path) -> Result<Self, PlotError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(ImageFormat::Svg),
            Some("png") => Ok(ImageFormat::Png),
            _ => Err(PlotError::Extension {
                path: path.to_path_buf(),
            }),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Svg => "svg",
            ImageFormat::Png => "png",
        }
    }
}

/// Which plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    /// Latency against percentile on the log "nines" axis.
    Percentiles,
    /// p50, p99 and max of each interval of the interval log, against time.
    OverTime,
    /// Samples per log-spaced latency bucket.
    Histogram,
}

impl PlotKind {
    pub const ALL: [PlotKind; 3] = [
        PlotKind::Percentiles,
        PlotKind::OverTime,
        PlotKind::Histogram,
    ];

    /// The file stem `ticklab report` writes it under: `percentiles`, `over-time`,
    /// `histogram`.
    pub fn file_stem(self) -> &'static str {
        match self {
            PlotKind::Percentiles => "percentiles",
            PlotKind::OverTime => "over-time",
            PlotKind::Histogram => "histogram",
        }
    }

    /// The chart's caption.
    pub fn title(self) -> &'static str {
        match self {
            PlotKind::Percentiles => "Tick-to-trade latency by percentile",
            PlotKind::OverTime => "Tick-to-trade latency over time",
            PlotKind::Histogram => "Tick-to-trade latency distribution",
        }
    }
}

/// One run's data, as a plot names and draws it.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// The legend entry (the run id).
    pub name: &'a str,
    /// Every sample of the run.
    pub histogram: &'a Histogram<u64>,
    /// The interval log (only [`PlotKind::OverTime`] reads it).
    pub intervals: &'a [HlogInterval],
}

/// One run's value of a metric, for [`render_trend`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    /// The x-axis label: the run's date, and its build.
    pub label: String,
    /// Nanoseconds.
    pub value_ns: f64,
}

/// `kind` of `series` (several runs on one chart), as `format`.
pub fn render(
    kind: PlotKind,
    series: &[Series<'_>],
    format: ImageFormat,
) -> Result<Vec<u8>, PlotError> {
    let chart = match kind {
        PlotKind::Percentiles => Chart::Percentiles(percentile_lines(series)?),
        PlotKind::OverTime => Chart::OverTime(interval_lines(series)?),
        PlotKind::Histogram => Chart::Histogram(bucket_bars(series)?),
    };
    draw(&chart, format)
}

/// A metric's value over successive runs (`ticklab history`), as `format`.
pub fn render_trend(
    metric: &str,
    points: &[TrendPoint],
    format: ImageFormat,
) -> Result<Vec<u8>, PlotError> {
    if points.is_empty() {
        return Err(PlotError::Empty {
            plot: "history",
            why: "no run could be read".into(),
        });
    }
    draw(
        &Chart::Trend {
            metric,
            points: points.to_vec(),
        },
        format,
    )
}

/// Reads `run`'s interval log again for [`PlotKind::OverTime`] (`LoadedRun` keeps
/// only the merged histogram). Lenient: [`super::load_run`] has already judged the
/// log under the caller's strictness, so a skipped line was accepted there.
pub fn read_intervals(run: &LoadedRun) -> Result<Vec<HlogInterval>, ReportError> {
    let path = run.dir.join(crate::lab::results::LATENCY_HLOG);
    let bytes = std::fs::read(&path).map_err(|e| ReportError::file(&path, e.to_string()))?;
    read_hlog_lenient(&bytes)
        .map(|log| log.intervals)
        .map_err(|e| ReportError::file(&path, e.to_string()))
}

/// Writes the three plots of `run`, as SVG and PNG, into its directory
/// (`percentiles.svg`, `percentiles.png`, `over-time.svg`, ...), each through a
/// temporary file renamed into place. Returns the files written, or the first error.
pub fn write_run_plots(
    run: &LoadedRun,
    intervals: &[HlogInterval],
) -> Result<Vec<PathBuf>, PlotError> {
    let series = [Series {
        name: &run.summary.run_id,
        histogram: &run.histogram,
        intervals,
    }];
    let mut written = Vec::new();
    for kind in PlotKind::ALL {
        for format in [ImageFormat::Svg, ImageFormat::Png] {
            let bytes = render(kind, &series, format)?;
            let path = run
                .dir
                .join(format!("{}.{}", kind.file_stem(), format.extension()));
            write_atomically(&path, &bytes)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so a
/// reader never sees half a plot.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.tmp"));
    let write_error = |source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&temp, bytes).map_err(write_error)?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        write_error(e)
    })
}

/// The label of a position on the nines axis, where `nines` = log10(1/(1−p)):
/// 0 → "0%", 1 → "90%", 2 → "99%", 3 → "99.9%", ...
pub fn nines_label(nines: f64) -> String {
    let k = nines.round();
    if (nines - k).abs() > 1e-9 || k < 0.0 {
        return String::new();
    }
    match k as u32 {
        0 => "0%".into(),
        1 => "90%".into(),
        k => format!("99.{}%", "9".repeat(k as usize - 2)).replace("99.%", "99%"),
    }
}

/// Where percentile `percentile` (0 to 100) of `count` samples sits on the nines
/// axis. 100% (the maximum) is drawn at the last sample's rank, 1/(1−p) = count,
/// rather than at infinity.
pub fn nines_position(percentile: f64, count: u64) -> f64 {
    let last = (count.max(1) as f64).log10();
    let remaining = 1.0 - percentile / 100.0;
    if remaining <= 0.0 {
        return last;
    }
    (-remaining.log10()).clamp(0.0, last)
}

/// A display unit for nanosecond values: the largest of ns, µs, ms that keeps the
/// largest value at 10 or more of it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Unit {
    name: &'static str,
    ns: f64,
}

impl Unit {
    fn for_max(max_ns: f64) -> Unit {
        if max_ns >= 10_000_000.0 {
            Unit {
                name: "ms",
                ns: 1e6,
            }
        } else if max_ns >= 10_000.0 {
            Unit {
                name: "µs",
                ns: 1e3,
            }
        } else {
            Unit {
                name: "ns",
                ns: 1.0,
            }
        }
    }
}

/// What a chart draws, prepared in nanoseconds before any backend exists.
enum Chart<'a> {
    Percentiles(Vec<Line>),
    OverTime(Vec<Line>),
    Histogram(Vec<Bars<'a>>),
    Trend {
        metric: &'a str,
        points: Vec<TrendPoint>,
    },
}

/// A polyline: (x, latency ns) points.
struct Line {
    name: String,
    color: usize,
    width: u32,
    points: Vec<(f64, f64)>,
}

/// Histogram bars: bucket index (k: 10^(k/10) ns to 10^((k+1)/10) ns) → samples.
struct Bars<'a> {
    name: &'a str,
    color: usize,
    buckets: BTreeMap<i32, u64>,
}

fn percentile_lines<'a>(series: &[Series<'a>]) -> Result<Vec<Line>, PlotError> {
    require_samples("percentiles", series)?;
    Ok(series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let count = s.histogram.len();
            Line {
                name: s.name.to_string(),
                color: i,
                width: 2,
                // The .hgrm's own steps: 5 per halving of the remaining tail.
                points: JavaPercentiles::new(s.histogram, 5)
                    .map(|step| (nines_position(step.percentile, count), step.value as f64))
                    .collect(),
            }
        })
        .collect())
}

fn interval_lines<'a>(series: &[Series<'a>]) -> Result<Vec<Line>, PlotError> {
    let mut lines = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let Some(first) = s.intervals.first() else {
            continue;
        };
        let t0 = first.start_ns;
        let at = |iv: &HlogInterval| (iv.start_ns + iv.length_ns).saturating_sub(t0) as f64 / 1e9;
        let filled: Vec<&HlogInterval> = s
            .intervals
            .iter()
            .filter(|iv| !iv.histogram.is_empty())
            .collect();
        for (label, quantile, width) in [
            ("p50", Some(0.5), 1),
            ("p99", Some(0.99), 2),
            ("max", None, 1),
        ] {
            lines.push(Line {
                name: if series.len() == 1 {
                    label.to_string()
                } else {
                    format!("{} {label}", s.name)
                },
                color: if series.len() == 1 { lines.len() } else { i },
                width,
                points: filled
                    .iter()
                    .map(|iv| {
                        let v = match quantile {
                            Some(q) => iv.histogram.value_at_quantile(q),
                            None => iv.histogram.max(),
                        };
                        (at(iv), v as f64)
                    })
                    .collect(),
            });
        }
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        return Err(PlotError::Empty {
            plot: "over-time",
            why: "no interval of the interval log holds a sample".into(),
        });
    }
    Ok(lines)
}

fn bucket_bars<'a>(series: &[Series<'a>]) -> Result<Vec<Bars<'a>>, PlotError> {
    require_samples("histogram", series)?;
    Ok(series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut buckets = BTreeMap::new();
            for v in s.histogram.iter_recorded() {
                let ns = s.histogram.median_equivalent(v.value_iterated_to()).max(1) as f64;
                let k = (ns.log10() * HISTOGRAM_BUCKETS_PER_DECADE).floor() as i32;
                *buckets.entry(k).or_insert(0) += v.count_at_value();
            }
            Bars {
                name: s.name,
                color: i,
                buckets,
            }
        })
        .collect())
}

fn require_samples(plot: &'static str, series: &[Series<'_>]) -> Result<(), PlotError> {
    if series.is_empty() {
        return Err(PlotError::Empty {
            plot,
            why: "no run given".into(),
        });
    }
    if let Some(s) = series.iter().find(|s| s.histogram.is_empty()) {
        return Err(PlotError::Empty {
            plot,
            why: format!("run {} recorded no latency sample", s.name),
        });
    }
    Ok(())
}

fn bucket_edge_ns(k: i32) -> f64 {
    10f64.powf(k as f64 / HISTOGRAM_BUCKETS_PER_DECADE)
}

fn decade_below(v: f64) -> f64 {
    10f64.powf(v.log10().floor())
}

fn decade_above(v: f64) -> f64 {
    let up = 10f64.powf(v.log10().ceil());
    if up > v {
        up
    } else {
        up * 10.0
    }
}

fn register_embedded_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT.as_str(), FontStyle::Normal, EMBEDDED_FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

fn draw(chart: &Chart<'_>, format: ImageFormat) -> Result<Vec<u8>, PlotError> {
    register_embedded_font()?;
    let plot = match chart {
        Chart::Percentiles(_) => "percentiles",
        Chart::OverTime(_) => "over-time",
        Chart::Histogram(_) => "histogram",
        Chart::Trend { .. } => "history",
    };
    let failed = |what: String| PlotError::Draw { plot, what };
    let size = (PLOT_WIDTH, PLOT_HEIGHT);
    match format {
        ImageFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                draw_chart(&root, chart).map_err(failed)?;
                root.present().map_err(|e| failed(e.to_string()))?;
            }
            Ok(svg.into_bytes())
        }
        ImageFormat::Png => {
            let mut rgb = vec![0u8; PLOT_WIDTH as usize * PLOT_HEIGHT as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                draw_chart(&root, chart).map_err(failed)?;
                root.present().map_err(|e| failed(e.to_string()))?;
            }
            encode_png(&rgb)
        }
    }
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, PLOT_WIDTH, PLOT_HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart<'_>,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    match chart {
        Chart::Percentiles(lines) => draw_percentiles(root, lines),
        Chart::OverTime(lines) => draw_over_time(root, lines),
        Chart::Histogram(bars) => draw_histogram(root, bars),
        Chart::Trend { metric, points } => draw_trend(root, metric, points),
    }
    .map_err(|e| e.0)
}

/// A drawing failure, from any backend's error type.
struct DrawFailure(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawFailure {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawFailure(e.to_string())
    }
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn caption_style() -> TextStyle<'static> {
    (FONT, 22).into_font().color(&BLACK)
}

fn label_style() -> TextStyle<'static> {
    (FONT, 15).into_font().color(&BLACK)
}

/// A value in `unit`, with as few decimals as make it readable.
fn format_value(v: f64) -> String {
    if v == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        let s = format!("{v:.1}");
        s.trim_end_matches(".0").to_string()
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawFailure> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(label_style())
        .draw()?;
    Ok(())
}

fn draw_percentiles<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    lines: &[Line],
) -> Result<(), DrawFailure> {
    let max_ns = lines
        .iter()
        .flat_map(|l| &l.points)
        .map(|p| p.1)
        .fold(1.0, f64::max);
    let unit = Unit::for_max(max_ns);
    let last = lines
        .iter()
        .flat_map(|l| &l.points)
        .map(|p| p.0)
        .fold(0.0, f64::max);
    let nines = last.ceil().max(2.0);
    let mut chart = ChartBuilder::on(root)
        .caption(PlotKind::Percentiles.title(), caption_style())
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..nines, 0.0..max_ns / unit.ns * 1.05)?;
    chart
        .configure_mesh()
        // One label per nine; positions between them get no label.
        .x_labels(nines as usize + 1)
        .x_desc("percentile")
        .y_desc(format!("latency ({})", unit.name))
        .x_label_formatter(&|x| nines_label(*x))
        .y_label_formatter(&|y| format_value(*y))
        .label_style(label_style())
        .axis_desc_style(label_style())
        .draw()?;
    for line in lines {
        let style = color(line.color).stroke_width(line.width);
        chart
            .draw_series(LineSeries::new(
                line.points.iter().map(|&(x, y)| (x, y / unit.ns)),
                style,
            ))?
            .label(line.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

fn draw_over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    lines: &[Line],
) -> Result<(), DrawFailure> {
    let values = || lines.iter().flat_map(|l| &l.points);
    let max_ns = values().map(|p| p.1).fold(1.0, f64::max);
    let min_ns = values().map(|p| p.1.max(1.0)).fold(max_ns, f64::min);
    let unit = Unit::for_max(max_ns);
    let end_s = values().map(|p| p.0).fold(1.0, f64::max);
    // Log latency: one slow interval's max must not flatten every p50 to the axis.
    // Whole decades, so the axis always has labelled powers of ten, with at least
    // half a decade free above the highest point for the legend.
    let y = decade_below(min_ns / unit.ns)..decade_above(max_ns / unit.ns * 3.0);
    let mut chart = ChartBuilder::on(root)
        .caption(PlotKind::OverTime.title(), caption_style())
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..end_s * 1.02, y.log_scale())?;
    chart
        .configure_mesh()
        .x_desc("time since the run's first interval began (s)")
        .y_desc(format!("latency ({}, log scale)", unit.name))
        .x_label_formatter(&|x| format_value(*x))
        .y_label_formatter(&|y| format_value(*y))
        .label_style(label_style())
        .axis_desc_style(label_style())
        .draw()?;
    for line in lines {
        let c = color(line.color);
        let style = c.stroke_width(line.width);
        let points: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|&(x, y)| (x, y.max(1.0) / unit.ns))
            .collect();
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))?
            .label(line.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        // Markers: a run of a few seconds has only a few intervals.
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bars: &[Bars<'_>],
) -> Result<(), DrawFailure> {
    let lowest = bars
        .iter()
        .filter_map(|b| b.buckets.keys().next())
        .copied()
        .min()
        .unwrap_or(0);
    let highest = bars
        .iter()
        .filter_map(|b| b.buckets.keys().next_back())
        .copied()
        .max()
        .unwrap_or(0);
    let max_count = bars
        .iter()
        .flat_map(|b| b.buckets.values())
        .copied()
        .max()
        .unwrap_or(1);
    let unit = Unit::for_max(bucket_edge_ns(highest + 1));
    let x = (bucket_edge_ns(lowest - 1) / unit.ns)..(bucket_edge_ns(highest + 2) / unit.ns);
    let mut chart = ChartBuilder::on(root)
        .caption(PlotKind::Histogram.title(), caption_style())
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x.log_scale(), 0.0..max_count as f64 * 1.08)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "latency ({}, log scale; 10 buckets per decade)",
            unit.name
        ))
        .y_desc("samples")
        .x_label_formatter(&|x| format_value(*x))
        .y_label_formatter(&|y| format_value(*y))
        .label_style(label_style())
        .axis_desc_style(label_style())
        .draw()?;
    let fill_alpha = if bars.len() == 1 { 0.75 } else { 0.35 };
    for b in bars {
        let c = color(b.color);
        let fill = c.mix(fill_alpha).filled();
        chart
            .draw_series(b.buckets.iter().map(|(&k, &n)| {
                Rectangle::new(
                    [
                        (bucket_edge_ns(k) / unit.ns, 0.0),
                        (bucket_edge_ns(k + 1) / unit.ns, n as f64),
                    ],
                    fill,
                )
            }))?
            .label(b.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], fill));
        chart.draw_series(b.buckets.iter().map(|(&k, &n)| {
            Rectangle::new(
                [
                    (bucket_edge_ns(k) / unit.ns, 0.0),
                    (bucket_edge_ns(k + 1) / unit.ns, n as f64),
                ],
                c.stroke_width(1),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn draw_trend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    metric: &str,
    points: &[TrendPoint],
) -> Result<(), DrawFailure> {
    let max_ns = points.iter().map(|p| p.value_ns).fold(1.0, f64::max);
    let unit = Unit::for_max(max_ns);
    let n = points.len();
    // At most about 8 labelled runs, so labels never overlap; positions between
    // runs get no label.
    let caption = format!("Tick-to-trade {metric} by run");
    let mut chart = ChartBuilder::on(root)
        .caption(caption, caption_style())
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..max_ns / unit.ns * 1.1)?;
    chart
        .configure_mesh()
        .x_labels(n.min(8))
        .x_desc("run (date, build)")
        .y_desc(format!("{metric} ({})", unit.name))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() > 1e-9 || i < 0.0 {
                return String::new();
            }
            points
                .get(i as usize)
                .map(|p| p.label.clone())
                .unwrap_or_default()
        })
        .y_label_formatter(&|y| format_value(*y))
        .label_style(label_style())
        .axis_desc_style(label_style())
        .draw()?;
    let c = color(0);
    let style = c.stroke_width(2);
    let xy: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (i as f64, p.value_ns / unit.ns))
        .collect();
    chart
        .draw_series(LineSeries::new(xy.iter().copied(), style))?
        .label(metric)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    chart.draw_series(xy.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::latency_histogram;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = latency_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn nines_axis_labels_and_positions() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(5.0), "99.999%");
        assert_eq!(nines_label(2.5), "");
        assert_eq!(nines_position(0.0, 1000), 0.0);
        assert!((nines_position(90.0, 1000) - 1.0).abs() < 1e-9);
        assert!((nines_position(99.9, 1000) - 3.0).abs() < 1e-9);
        // The maximum sits at the last sample's rank, not at infinity.
        assert!((nines_position(100.0, 1000) - 3.0).abs() < 1e-12);
        assert!((nines_position(99.99, 1000) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn units_and_values_read_naturally() {
        assert_eq!(Unit::for_max(9_999.0).name, "ns");
        assert_eq!(Unit::for_max(10_000.0).name, "µs");
        assert_eq!(Unit::for_max(25_000_000.0).name, "ms");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(12.0), "12");
        assert_eq!(format_value(12.5), "12.5");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(1500.0), "1500");
        assert_eq!(
            (decade_below(3_500.0), decade_above(3_500.0)),
            (1_000.0, 10_000.0)
        );
        assert_eq!((decade_below(100.0), decade_above(100.0)), (100.0, 1_000.0));
    }

    #[test]
    fn histogram_buckets_are_log_spaced_and_count_every_sample() {
        let h = histogram(&[1_000, 1_100, 1_300, 10_000, 10_000, 99_000]);
        let bars = bucket_bars(&[Series {
            name: "r",
            histogram: &h,
            intervals: &[],
        }])
        .unwrap();
        let buckets: Vec<(i32, u64)> = bars[0].buckets.iter().map(|(&k, &n)| (k, n)).collect();
        // 10^3.0 ≤ 1000, 1100 < 10^3.1; 1300 in [10^3.1, 10^3.2); 10^4; 99000 < 10^5.
        assert_eq!(buckets, vec![(30, 2), (31, 1), (40, 2), (49, 1)]);
    }

    #[test]
    fn percentile_lines_end_at_the_maximum() {
        let h = histogram(&[100, 200, 300, 400, 5_000]);
        let lines = percentile_lines(&[Series {
            name: "r",
            histogram: &h,
            intervals: &[],
        }])
        .unwrap();
        let points = &lines[0].points;
        assert_eq!(points.first().map(|p| p.0), Some(0.0));
        let last = *points.last().unwrap();
        assert!((last.0 - 5f64.log10()).abs() < 1e-12, "{last:?}");
        assert_eq!(last.1, 5_003.0); // 5000 shares a 4 ns bucket (3 digits) up to 5003
    }

    #[test]
    fn empty_runs_are_refused_with_a_reason() {
        let h = latency_histogram();
        let series = [Series {
            name: "empty-run",
            histogram: &h,
            intervals: &[],
        }];
        let err = render(PlotKind::Percentiles, &series, ImageFormat::Svg).unwrap_err();
        assert_eq!(
            err.to_string(),
            "percentiles: nothing to plot: run empty-run recorded no latency sample"
        );
        let err = render(PlotKind::OverTime, &series, ImageFormat::Svg).unwrap_err();
        assert!(
            err.to_string().starts_with("over-time: nothing to plot"),
            "{err}"
        );
    }

    #[test]
    fn png_has_the_plot_size_and_text_pixels() {
        let h = histogram(&[900, 1_000, 1_100, 4_000]);
        let series = [Series {
            name: "r",
            histogram: &h,
            intervals: &[],
        }];
        let png = render(PlotKind::Histogram, &series, ImageFormat::Png).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            PLOT_WIDTH
        );
        assert_eq!(
            u32::from_be_bytes(png[20..24].try_into().unwrap()),
            PLOT_HEIGHT
        );
        // The caption band above the chart is text only: with no glyphs drawn it
        // would be all white.
        let decoder = png::Decoder::new(png.as_slice());
        let mut reader = decoder.read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut rgb).unwrap();
        let caption_band = &rgb[..(PLOT_WIDTH as usize * 3 * 40)];
        let dark = caption_band
            .chunks(3)
            .filter(|p| p.iter().all(|&c| c < 128))
            .count();
        assert!(dark > 200, "{dark} dark pixels in the caption band");
    }

    #[test]
    fn image_format_follows_the_extension() {
        assert_eq!(
            ImageFormat::from_path(Path::new("a/b.SVG")).unwrap(),
            ImageFormat::Svg
        );
        assert_eq!(
            ImageFormat::from_path(Path::new("b.png")).unwrap(),
            ImageFormat::Png
        );
        let err = ImageFormat::from_path(Path::new("b.jpg")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.jpg: the file name must end in .svg or .png"
        );
    }
}
