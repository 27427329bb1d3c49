//! HdrHistogram interval logs (`.hlog`): one compressed histogram per line, the format
//! Java's `HistogramLogWriter` writes and `HistogramLogProcessor` reads (log format
//! 1.3, V2 "deflate" histogram encoding, base64).
//!
//! ```text
//! #[Histogram log format version 1.3]
//! #[StartTime: 1767605400.000 (seconds since epoch), 2026-01-05T09:30:00.000Z]
//! #[BaseTime: 1767605400.000 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! 0.000,1.000,49020927.000,HISTFAAABd54nC1SQW8jSRWufq5UKpVKUdPpbZreptPb9HhMj9fj6fUaYzJZyxhP...
//! ```
//!
//! Interval timestamps are seconds (3 decimals) after the BaseTime, which the writer
//! sets to the run's start; `Interval_Max` is the interval's maximum in the recorded
//! unit (nanoseconds), for people reading the file, since tools use the histogram.
//!
//! The writer appends one interval at a time to any [`Write`], so a log survives a
//! crash up to the last whole line. The reader accepts a log whose last line was cut
//! short (the crash case) and says so; any other line it cannot read is an error that
//! names the line.

use std::io::{self, Write};
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::errors::AdditionError;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, IntervalLogWriterError, LogEntry,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializeError, V2DeflateSerializer};
use hdrhistogram::Histogram;

use super::{latency_histogram, Interval};

/// The interval log format version this writer produces (Java HdrHistogram 2.1's).
const LOG_FORMAT_VERSION: &str = "1.3";
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// Errors writing or reading an interval log.
#[derive(Debug, thiserror::Error)]
pub enum HlogError {
    /// Writing the log failed.
    #[error("writing the interval log: {0}")]
    Io(#[from] io::Error),
    /// A histogram could not be encoded.
    #[error("encoding an interval histogram: {0}")]
    Encode(#[from] V2DeflateSerializeError),
    /// A line of the log could not be read (numbered from 1).
    #[error("interval log line {line}: {reason}")]
    Line {
        /// The line's number, from 1.
        line: usize,
        /// What was wrong with it.
        reason: String,
    },
    /// The log's intervals could not be added together.
    #[error("merging the interval log's histograms: {0}")]
    Merge(#[from] AdditionError),
}

impl From<IntervalLogWriterError<V2DeflateSerializeError>> for HlogError {
    fn from(error: IntervalLogWriterError<V2DeflateSerializeError>) -> Self {
        match error {
            IntervalLogWriterError::IoError(e) => HlogError::Io(e),
            IntervalLogWriterError::SerializeError(e) => HlogError::Encode(e),
        }
    }
}

/// Writes an interval log, one interval per [`HlogWriter::append`].
///
/// Each call writes one whole line (in a few writes; no buffering of its own). Wrap a
/// file in a `BufWriter` and call [`HlogWriter::flush`] after each interval if the log
/// must be readable while the run goes on.
pub struct HlogWriter<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
    base_time_ns: u64,
}

impl<W: Write> HlogWriter<W> {
    /// Starts a log: an optional comment (each of its lines becomes a `#` line), the
    /// format version, the StartTime and BaseTime (both `start_time_ns`, nanoseconds
    /// since the Unix epoch) and the column legend.
    pub fn new(mut out: W, start_time_ns: u64, comment: Option<&str>) -> Result<Self, HlogError> {
        if let Some(comment) = comment {
            for line in comment.lines() {
                writeln!(out, "#{line}")?;
            }
        }
        let seconds = unix_seconds(start_time_ns);
        writeln!(out, "#[Histogram log format version {LOG_FORMAT_VERSION}]")?;
        writeln!(
            out,
            "#[StartTime: {seconds:.3} (seconds since epoch), {}]",
            utc_date_time(start_time_ns)
        )?;
        writeln!(out, "#[BaseTime: {seconds:.3} (seconds since epoch)]")?;
        writeln!(out, "{LEGEND}")?;
        Ok(HlogWriter {
            out,
            serializer: V2DeflateSerializer::new(),
            base_time_ns: start_time_ns,
        })
    }

    /// Appends one interval (its timestamps are nanoseconds since the Unix epoch, on
    /// the clock given to [`HlogWriter::new`]).
    pub fn append(&mut self, interval: &Interval) -> Result<(), HlogError> {
        self.append_histogram(&interval.histogram, interval.start_ns, interval.end_ns)
    }

    /// Appends one histogram covering `start_ns..end_ns` (nanoseconds since the Unix
    /// epoch). A start before the log's BaseTime is written as 0, an end before the
    /// start as a zero-length interval.
    pub fn append_histogram(
        &mut self,
        histogram: &Histogram<u64>,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<(), HlogError> {
        let offset = Duration::from_nanos(start_ns.saturating_sub(self.base_time_ns));
        let length = Duration::from_nanos(end_ns.saturating_sub(start_ns));
        // The crate's writer writes its header when built; with none configured it
        // writes nothing, so building one per line adds only the line.
        IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut self.serializer)?
            .write_histogram(histogram, offset, length, None)?;
        Ok(())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), HlogError> {
        Ok(self.out.flush()?)
    }

    /// The underlying writer (to sync it to disk between intervals, say).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Returns the underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One interval read back from a log.
#[derive(Debug, Clone)]
pub struct HlogInterval {
    /// The line it was on, from 1.
    pub line: usize,
    /// The interval's tag (`Tag=...,` prefix), if it had one.
    pub tag: Option<String>,
    /// Its start: the latest BaseTime before it plus its timestamp, in nanoseconds
    /// since the epoch; without a BaseTime, the timestamp as written.
    pub start_ns: u64,
    /// Its length.
    pub length_ns: u64,
    /// Its histogram, with the bounds it was encoded with.
    pub histogram: Histogram<u64>,
}

/// The contents of an interval log.
#[derive(Debug, Clone, Default)]
pub struct HlogLog {
    /// The last `#[StartTime: ...]` seen, in nanoseconds since the epoch.
    pub start_time_ns: Option<u64>,
    /// The last `#[BaseTime: ...]` seen, in nanoseconds since the epoch.
    pub base_time_ns: Option<u64>,
    /// The intervals, in file order.
    pub intervals: Vec<HlogInterval>,
    /// The number of the last line if it was cut short (no newline, and unreadable)
    /// and therefore left out.
    pub incomplete_last_line: Option<usize>,
    /// Lines skipped as unreadable by [`read_hlog_lenient`], with why (always empty
    /// from [`read_hlog`], which fails on the first).
    pub skipped_lines: Vec<(usize, String)>,
}

impl HlogLog {
    /// What a reader should be told about the log, if anything: that its last line
    /// was incomplete and how much was recovered.
    pub fn warning(&self) -> Option<String> {
        let incomplete = self.incomplete_last_line.map(|line| {
            format!(
                "recovered {} intervals; the last line (line {line}) was incomplete",
                self.intervals.len()
            )
        });
        let skipped = (!self.skipped_lines.is_empty()).then(|| {
            let lines: Vec<String> = self
                .skipped_lines
                .iter()
                .map(|(l, _)| l.to_string())
                .collect();
            format!(
                "skipped {} unreadable lines ({})",
                self.skipped_lines.len(),
                lines.join(", ")
            )
        });
        match (incomplete, skipped) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        }
    }

    /// All intervals added together, in a histogram with the first interval's bounds
    /// that grows if a later one needs more range (as Java's `HistogramLogProcessor`
    /// merges). An empty log gives an empty [`latency_histogram`].
    pub fn merged(&self) -> Result<Histogram<u64>, HlogError> {
        let Some(first) = self.intervals.first() else {
            return Ok(latency_histogram());
        };
        let mut merged = Histogram::new_from(&first.histogram);
        merged.auto(true);
        for interval in &self.intervals {
            merged.add(&interval.histogram)?;
        }
        Ok(merged)
    }
}

/// Reads an interval log. Comment lines, the legend and blank lines are skipped;
/// StartTime and BaseTime lines are kept; every other line must be an interval whose
/// histogram decodes. A last line without its newline that cannot be read is reported
/// in [`HlogLog::incomplete_last_line`] (see [`HlogLog::warning`]) instead of failing
/// the whole log; an unreadable line anywhere else is [`HlogError::Line`].
pub fn read_hlog(bytes: &[u8]) -> Result<HlogLog, HlogError> {
    read_hlog_with(bytes, false)
}

/// [`read_hlog`], except that an unreadable line in the middle is skipped and
/// listed in [`HlogLog::skipped_lines`] instead of failing the log (`--lenient`).
pub fn read_hlog_lenient(bytes: &[u8]) -> Result<HlogLog, HlogError> {
    read_hlog_with(bytes, true)
}

fn read_hlog_with(bytes: &[u8], lenient: bool) -> Result<HlogLog, HlogError> {
    let mut log = HlogLog::default();
    let mut deserializer = Deserializer::new();
    let mut decoded = Vec::new();
    let mut terminated_copy = Vec::new();

    for (index, chunk) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let line_number = index + 1;
        let terminated = chunk.ends_with(b"\n");
        if chunk.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // The crate's parser wants each line to end in a newline.
        let line: &[u8] = if terminated {
            chunk
        } else {
            terminated_copy.clear();
            terminated_copy.extend_from_slice(chunk);
            terminated_copy.push(b'\n');
            &terminated_copy
        };
        match read_line(line, line_number, &log, &mut deserializer, &mut decoded) {
            Ok(Some(Entry::StartTime(ns))) => log.start_time_ns = Some(ns),
            Ok(Some(Entry::BaseTime(ns))) => log.base_time_ns = Some(ns),
            Ok(Some(Entry::Interval(interval))) => log.intervals.push(interval),
            Ok(None) => {}
            Err(_) if !terminated => log.incomplete_last_line = Some(line_number),
            Err(HlogError::Line { line, reason }) if lenient => {
                log.skipped_lines.push((line, reason))
            }
            Err(error) => return Err(error),
        }
    }
    Ok(log)
}

enum Entry {
    StartTime(u64),
    BaseTime(u64),
    Interval(HlogInterval),
}

fn read_line(
    line: &[u8],
    line_number: usize,
    log: &HlogLog,
    deserializer: &mut Deserializer,
    decoded: &mut Vec<u8>,
) -> Result<Option<Entry>, HlogError> {
    let error = |reason: String| HlogError::Line {
        line: line_number,
        reason,
    };
    let entry = match IntervalLogIterator::new(line).next() {
        None => return Ok(None),
        Some(Err(_)) => {
            return Err(error(
                "not a comment, a legend or an interval (start,length,max,histogram)".into(),
            ))
        }
        Some(Ok(entry)) => entry,
    };
    let interval = match entry {
        LogEntry::StartTime(time) => return Ok(Some(Entry::StartTime(nanos(time)))),
        LogEntry::BaseTime(time) => return Ok(Some(Entry::BaseTime(nanos(time)))),
        LogEntry::Interval(interval) => interval,
    };
    decoded.clear();
    base64::engine::general_purpose::STANDARD
        .decode_vec(interval.encoded_histogram(), decoded)
        .map_err(|e| error(format!("the histogram is not valid base64: {e}")))?;
    let histogram = deserializer
        .deserialize::<u64, _>(&mut decoded.as_slice())
        .map_err(|e| error(format!("the histogram does not decode: {e}")))?;
    Ok(Some(Entry::Interval(HlogInterval {
        line: line_number,
        tag: interval.tag().map(|tag| tag.as_str().to_owned()),
        start_ns: log
            .base_time_ns
            .unwrap_or(0)
            .saturating_add(nanos(interval.start_timestamp())),
        length_ns: nanos(interval.duration()),
        histogram,
    })))
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn unix_seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// `ns` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`, for people reading the
/// StartTime line (readers take the number before it).
fn utc_date_time(ns: u64) -> String {
    let seconds = ns / 1_000_000_000;
    let millis = (ns % 1_000_000_000) / 1_000_000;
    let days = seconds / 86_400;
    let second_of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01, counted in 400-year eras
/// (146097 days each) that start on March 1st so the leap day ends a year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const START_NS: u64 = 1_767_605_400_000_000_000; // 2026-01-05T09:30:00Z

    fn histogram_of(values: &[u64]) -> Histogram<u64> {
        let mut h = latency_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn three_interval_log() -> Vec<u8> {
        let mut writer =
            HlogWriter::new(Vec::new(), START_NS, Some("ticklab test\nsecond line")).unwrap();
        let second = 1_000_000_000;
        writer
            .append_histogram(&histogram_of(&[100, 200, 300]), START_NS, START_NS + second)
            .unwrap();
        writer
            .append_histogram(&histogram_of(&[]), START_NS + second, START_NS + 2 * second)
            .unwrap();
        writer
            .append_histogram(
                &histogram_of(&[5_000, 70_000_000]),
                START_NS + 2 * second,
                START_NS + 2_500_000_000,
            )
            .unwrap();
        writer.into_inner()
    }

    #[test]
    fn header_is_java_shaped() {
        let log = String::from_utf8(three_interval_log()).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines[0], "#ticklab test");
        assert_eq!(lines[1], "#second line");
        assert_eq!(lines[2], "#[Histogram log format version 1.3]");
        assert_eq!(
            lines[3],
            "#[StartTime: 1767605400.000 (seconds since epoch), 2026-01-05T09:30:00.000Z]"
        );
        assert_eq!(
            lines[4],
            "#[BaseTime: 1767605400.000 (seconds since epoch)]"
        );
        assert_eq!(
            lines[5],
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        );
        assert!(
            lines[6].starts_with("0.000,1.000,300.000,HISTF"),
            "{}",
            lines[6]
        );
        assert!(
            lines[7].starts_with("1.000,1.000,0.000,HISTF"),
            "{}",
            lines[7]
        );
        // 70 ms lands in [69992448, 70057983] (65536 ns wide): the top is the max.
        assert!(
            lines[8].starts_with("2.000,0.500,70057983.000,HISTF"),
            "{}",
            lines[8]
        );
        assert_eq!(lines.len(), 9);
    }

    #[test]
    fn round_trip() {
        let read = read_hlog(&three_interval_log()).unwrap();
        assert_eq!(read.start_time_ns, Some(START_NS));
        assert_eq!(read.base_time_ns, Some(START_NS));
        assert_eq!(read.incomplete_last_line, None);
        assert_eq!(read.warning(), None);
        let summary: Vec<(usize, u64, u64, u64)> = read
            .intervals
            .iter()
            .map(|i| {
                (
                    i.line,
                    i.start_ns - START_NS,
                    i.length_ns,
                    i.histogram.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (7, 0, 1_000_000_000, 3),
                (8, 1_000_000_000, 1_000_000_000, 0),
                (9, 2_000_000_000, 500_000_000, 2)
            ]
        );
        assert_eq!(read.intervals[0].histogram, histogram_of(&[100, 200, 300]));
        assert_eq!(
            read.intervals[2].histogram,
            histogram_of(&[5_000, 70_000_000])
        );
        assert!(read.intervals.iter().all(|i| i.tag.is_none()));
        let merged = read.merged().unwrap();
        assert_eq!(merged, histogram_of(&[100, 200, 300, 5_000, 70_000_000]));
    }

    #[test]
    fn truncated_last_line_is_reported_not_fatal() {
        let full = three_interval_log();
        // Cut the last line in the middle of its histogram, then right after its max.
        let last_line_start = full[..full.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap()
            + 1;
        for cut in [full.len() - 10, last_line_start + 25, last_line_start + 3] {
            let read = read_hlog(&full[..cut]).unwrap();
            assert_eq!(read.intervals.len(), 2, "cut at {cut}");
            assert_eq!(read.incomplete_last_line, Some(9));
            assert_eq!(
                read.warning().unwrap(),
                "recovered 2 intervals; the last line (line 9) was incomplete"
            );
        }
        // Only the newline missing: the line is whole, and read.
        let read = read_hlog(&full[..full.len() - 1]).unwrap();
        assert_eq!(read.intervals.len(), 3);
        assert_eq!(read.incomplete_last_line, None);
    }

    #[test]
    fn malformed_middle_line_is_an_error_naming_it() {
        let log = String::from_utf8(three_interval_log()).unwrap();
        let mut lines: Vec<String> = log.lines().map(str::to_owned).collect();

        let mut garbage = lines.clone();
        garbage[7] = "this is not an interval".into();
        let err = read_hlog(garbage.join("\n").as_bytes()).unwrap_err();
        assert!(matches!(err, HlogError::Line { line: 8, .. }), "{err}");
        // Lenient: the line is skipped, counted and named; the others are read.
        let read = read_hlog_lenient(garbage.join("\n").as_bytes()).unwrap();
        assert_eq!(read.intervals.len(), 2);
        assert_eq!(read.skipped_lines.len(), 1);
        assert_eq!(read.skipped_lines[0].0, 8);
        assert_eq!(read.warning().unwrap(), "skipped 1 unreadable lines (8)");
        assert_eq!(
            err.to_string(),
            "interval log line 8: not a comment, a legend or an interval (start,length,max,histogram)"
        );

        // A well-formed line whose histogram is cut short.
        let cut = lines[6].len() - 12;
        lines[6].truncate(cut);
        let err = read_hlog(lines.join("\n").as_bytes()).unwrap_err();
        assert!(matches!(err, HlogError::Line { line: 7, .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("interval log line 7: the histogram"),
            "{err}"
        );

        // A complete (newline-terminated) bad last line is malformed, not incomplete.
        let mut bad_last = three_interval_log();
        bad_last.extend_from_slice(b"3.000,1.000,0.000,HISTFAAAA\n");
        let err = read_hlog(&bad_last).unwrap_err();
        assert!(matches!(err, HlogError::Line { line: 10, .. }), "{err}");
    }

    #[test]
    fn reads_java_style_tags_and_missing_base_time() {
        let mut writer = HlogWriter::new(Vec::new(), START_NS, None).unwrap();
        writer
            .append_histogram(
                &histogram_of(&[7]),
                START_NS + 1_500_000_000,
                START_NS + 2_500_000_000,
            )
            .unwrap();
        let text = String::from_utf8(writer.into_inner()).unwrap();
        let interval_line = text.lines().last().unwrap();
        let java_style = format!("#a comment\n\nTag=wire,{interval_line}\n");
        let read = read_hlog(java_style.as_bytes()).unwrap();
        assert_eq!(read.base_time_ns, None);
        assert_eq!(read.intervals.len(), 1);
        assert_eq!(read.intervals[0].tag.as_deref(), Some("wire"));
        assert_eq!(read.intervals[0].start_ns, 1_500_000_000);
        assert_eq!(read.intervals[0].line, 3);
        assert_eq!(read.intervals[0].histogram.len(), 1);
    }

    #[test]
    fn empty_log_merges_to_empty() {
        let read = read_hlog(b"").unwrap();
        assert!(read.intervals.is_empty());
        assert!(read.merged().unwrap().is_empty());
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            utc_date_time(START_NS + 123_456_789),
            "2026-01-05T09:30:00.123Z"
        );
        // 2024-02-29 (leap day) 23:59:59 UTC = 1709251199.
        assert_eq!(
            utc_date_time(1_709_251_199_000_000_000),
            "2024-02-29T23:59:59.000Z"
        );
        assert_eq!(
            utc_date_time(1_709_251_200_000_000_000),
            "2024-03-01T00:00:00.000Z"
        );
        // 2000-12-31 (day 366 of a leap century year).
        assert_eq!(
            utc_date_time(978_220_800_000_000_000),
            "2000-12-31T00:00:00.000Z"
        );
    }
}
