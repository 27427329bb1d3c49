//! `ticklab::stats` against the reference HdrHistogram, and its no-allocation promise.
//!
//! - Interop: a deterministic latency distribution with a long tail is recorded through
//!   a recorder/collector pair into several intervals and written as an `.hlog` by our
//!   writer. Java's `org.HdrHistogram.HistogramLogProcessor` (Debian's
//!   `libhdrhistogram-java`) must read every interval with our counts, and the
//!   `.hgrm` it prints for the whole log must equal ours line for line. Without java or
//!   the jar the test fails, naming the package to install (`lab-scripts/setup`
//!   installs both).
//! - Allocation: this test binary's global allocator counts calls per thread; a million
//!   `record`s with a thousand interval swaps must make none on the recording thread,
//!   nor on the collecting thread after set-up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ticklab::feed::rng::Rng;
use ticklab::stats::{
    interval_recorder, read_hlog, write_percentile_distribution, Histogram, HlogWriter, Interval,
    StatsError, HIGHEST_TRACKABLE_NS,
};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocator_calls_on_this_thread;

// ---------------------------------------------------------------------------------
// A latency distribution shaped like a trading path's: a tight body around a
// microsecond, a 1% tail to hundreds of microseconds, a rarer one to a fifth of a
// second, the odd 0 ns (one clock tick) and the odd value beyond 60 s.

const START_NS: u64 = 1_767_605_400_000_000_000; // 2026-01-05T09:30:00Z
const SECOND_NS: u64 = 1_000_000_000;

fn latency_ns(rng: &mut Rng) -> u64 {
    let roll = rng.below(100_000);
    match roll {
        0 => 0,
        1 => HIGHEST_TRACKABLE_NS + rng.below(HIGHEST_TRACKABLE_NS),
        2..=50 => 1_000_000 + rng.exponential(20_000_000.0) as u64,
        51..=1_050 => 5_000 + rng.exponential(60_000.0) as u64,
        _ => 600 + rng.exponential(350.0) as u64,
    }
}

// ---------------------------------------------------------------------------------
// No allocation.

#[test]
fn a_million_records_and_a_thousand_swaps_allocate_nothing() {
    let (mut recorder, mut collector) = interval_recorder(START_NS);
    let mut rng = Rng::seed(11);
    let mut swaps = 0u64;
    let mut drained = 0usize;
    let mut samples_seen = 0u64;

    let before = allocator_calls_on_this_thread();
    for i in 0..1_000_000u64 {
        recorder.record(latency_ns(&mut rng));
        let end_of_interval = i % 1_000 == 999;
        if end_of_interval && !collector.request_interval() {
            break; // asserted below: the loop must run to the end
        }
        if recorder.maybe_swap(START_NS + i) {
            swaps += 1;
        }
        if end_of_interval {
            let Ok(n) = collector.drain(|interval| {
                samples_seen += interval.histogram.len();
                Ok::<(), StatsError>(())
            }) else {
                break;
            };
            drained += n;
        }
    }
    let calls = allocator_calls_on_this_thread() - before;

    assert_eq!(calls, 0, "allocator calls while recording and swapping");
    assert_eq!(swaps, 1_000);
    assert_eq!(drained, 1_000);
    assert_eq!(samples_seen, 1_000_000);
    assert_eq!(collector.total().len(), 1_000_000);
    assert!(recorder.current().is_empty());
}

#[test]
fn recording_thread_allocates_nothing_while_a_collector_thread_swaps() {
    const SAMPLES: u64 = 1_000_000;
    let (mut recorder, mut collector) = interval_recorder(START_NS);
    let done = Arc::new(AtomicBool::new(false));

    let hot_done = Arc::clone(&done);
    let hot = std::thread::spawn(move || {
        let mut rng = Rng::seed(12);
        let mut swaps = 0u64;
        let before = allocator_calls_on_this_thread();
        for i in 0..SAMPLES {
            recorder.record(latency_ns(&mut rng));
            if recorder.maybe_swap(START_NS + i) {
                swaps += 1;
            }
        }
        let calls = allocator_calls_on_this_thread() - before;
        hot_done.store(true, Ordering::Release);
        (recorder, calls, swaps)
    });

    let mut samples_seen = 0u64;
    let mut count = |interval: &Interval| {
        samples_seen += interval.histogram.len();
        Ok::<(), StatsError>(())
    };
    let before = allocator_calls_on_this_thread();
    let mut drained = 0;
    while !done.load(Ordering::Acquire) {
        collector.request_interval();
        drained += collector.drain(&mut count).unwrap();
        std::hint::spin_loop();
    }
    let collector_calls = allocator_calls_on_this_thread() - before;

    let (recorder, hot_calls, swaps) = hot.join().unwrap();
    drained += collector
        .finish(recorder, START_NS + SAMPLES, &mut count)
        .unwrap();

    assert_eq!(hot_calls, 0, "allocator calls on the recording thread");
    assert_eq!(
        collector_calls, 0,
        "allocator calls on the collecting thread"
    );
    assert!(swaps >= 1, "the collector never got an interval");
    assert_eq!(
        drained as u64,
        swaps + 1,
        "every swap arrived, plus the final interval"
    );
    assert_eq!(samples_seen, SAMPLES);
    assert_eq!(collector.total().len(), SAMPLES);
}

// ---------------------------------------------------------------------------------
// Java's HistogramLogProcessor.

const JAR: &str = "/usr/share/java/hdrhistogram.jar";
const INTERVALS: u64 = 6;

/// Records the test distribution into `INTERVALS` one-second intervals of different
/// sizes and writes them as an `.hlog`. Returns the log, each interval's histogram, and
/// the run total.
fn record_log() -> (Vec<u8>, Vec<Histogram<u64>>, Histogram<u64>, u64) {
    let (mut recorder, mut collector) = interval_recorder(START_NS);
    let mut log = HlogWriter::new(Vec::new(), START_NS, Some("ticklab hdr_interop")).unwrap();
    let mut intervals = Vec::new();
    let mut rng = Rng::seed(7);
    let mut keep = |interval: &Interval| -> Result<(), Box<dyn std::error::Error>> {
        log.append(interval)?;
        intervals.push(interval.histogram.clone());
        Ok(())
    };
    for k in 0..INTERVALS {
        for _ in 0..(20_000 + 13_000 * k) {
            recorder.record(latency_ns(&mut rng));
        }
        if k + 1 < INTERVALS {
            assert!(collector.request_interval());
            assert!(recorder.maybe_swap(START_NS + (k + 1) * SECOND_NS));
            assert_eq!(collector.drain(&mut keep).unwrap(), 1);
        }
    }
    let last = collector.finish(recorder, START_NS + INTERVALS * SECOND_NS, &mut keep);
    assert_eq!(last.unwrap(), 1);
    let total = collector.total().clone();
    let clamped = collector.clamped();
    (log.into_inner(), intervals, total, clamped)
}

/// Runs HistogramLogProcessor on `hlog` with `extra` options; returns the interval
/// summary (`OUTBASE`) and the percentile distribution (`OUTBASE.hgrm`) without the
/// two lines the processor puts before it (checked here): the time range and the
/// log's StartTime.
fn java_log_processor(dir: &Path, hlog: &Path, name: &str, extra: &[&str]) -> (String, String) {
    if !Path::new(JAR).exists() {
        panic!(
            "{JAR} is missing: install the Debian package libhdrhistogram-java \
             (lab-scripts/setup installs it)"
        );
    }
    let out_base: PathBuf = dir.join(name);
    let output = match Command::new("java")
        .args(["-cp", JAR, "org.HdrHistogram.HistogramLogProcessor", "-i"])
        .arg(hlog)
        .arg("-o")
        .arg(&out_base)
        .args(extra)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "java is not installed: install the Debian package default-jre-headless \
             (lab-scripts/setup installs it)"
        ),
        Err(e) => panic!("running java: {e}"),
    };
    assert!(
        output.status.success(),
        "HistogramLogProcessor failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |path: &Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let hgrm = read(&out_base.with_file_name(format!("{name}.hgrm")));
    let mut preamble = hgrm.splitn(3, '\n');
    assert_eq!(
        preamble.next(),
        Some("#[Overall percentile distribution between 0.000 and <Infinite> seconds (relative to StartTime)]")
    );
    // Java appends the date in the machine's time zone and locale.
    let start_time = preamble.next().unwrap_or_default();
    assert!(
        start_time.starts_with("#[StartTime: 1767605400.000 (seconds since epoch), "),
        "{start_time}"
    );
    (
        read(&out_base),
        preamble.next().unwrap_or_default().to_owned(),
    )
}

fn our_hgrm(histogram: &Histogram<u64>, ratio: f64) -> String {
    let mut out = Vec::new();
    write_percentile_distribution(&mut out, histogram, 5, ratio).unwrap();
    String::from_utf8(out).unwrap()
}

fn assert_same_lines(ours: &str, java: &str, what: &str) {
    let ours_lines: Vec<&str> = ours.lines().collect();
    let java_lines: Vec<&str> = java.lines().collect();
    for (number, (o, j)) in ours_lines.iter().zip(&java_lines).enumerate() {
        assert_eq!(
            o,
            j,
            "{what}: line {} differs (left: ours, right: Java)",
            number + 1
        );
    }
    assert_eq!(
        ours_lines.len(),
        java_lines.len(),
        "{what}: line count (ours, Java)"
    );
    assert_eq!(ours, java, "{what}: line endings");
}

#[test]
fn java_reads_our_log_and_prints_our_percentile_distribution() {
    let (hlog_bytes, intervals, total, clamped) = record_log();
    assert_eq!(intervals.len() as u64, INTERVALS);
    assert!(clamped > 0, "the distribution should exercise clamping");
    assert!(
        total.count_at(0) > 0,
        "the distribution should exercise 0 ns"
    );
    assert!(
        total.max() > 100_000_000,
        "the distribution should have a long tail"
    );

    // Our reader gives back what we wrote.
    let read = read_hlog(&hlog_bytes).unwrap();
    assert_eq!(read.incomplete_last_line, None);
    let read_back: Vec<&Histogram<u64>> = read.intervals.iter().map(|i| &i.histogram).collect();
    assert_eq!(read_back, intervals.iter().collect::<Vec<_>>());
    assert_eq!(read.merged().unwrap(), total);
    let starts: Vec<u64> = read
        .intervals
        .iter()
        .map(|i| (i.start_ns - START_NS) / SECOND_NS)
        .collect();
    assert_eq!(starts, (0..INTERVALS).collect::<Vec<_>>());

    let dir = tempfile::tempdir().unwrap();
    let hlog = dir.path().join("run.hlog");
    std::fs::write(&hlog, &hlog_bytes).unwrap();

    // Java's default unit ratio (1e6: nanoseconds shown as milliseconds).
    let (java_intervals, java_hgrm) = java_log_processor(dir.path(), &hlog, "default", &[]);
    assert_same_lines(
        &our_hgrm(&total, 1e6),
        &java_hgrm,
        "percentile distribution, ratio 1e6",
    );

    // Microseconds, as ticklab reports.
    let (_, java_hgrm_us) = java_log_processor(
        dir.path(),
        &hlog,
        "micros",
        &["-outputValueUnitRatio", "1000"],
    );
    assert_same_lines(
        &our_hgrm(&total, 1000.0),
        &java_hgrm_us,
        "percentile distribution, ratio 1000",
    );

    // Java read every interval, at its time, with our counts.
    let java_counts = interval_counts(&java_intervals);
    let mut running = 0;
    let our_counts: Vec<(String, u64, u64)> = intervals
        .iter()
        .zip(1..)
        .map(|(h, end_second)| {
            running += h.len();
            (format!("{end_second}.000"), h.len(), running)
        })
        .collect();
    assert_eq!(
        java_counts, our_counts,
        "interval counts (Java, ours):\n{java_intervals}"
    );
    assert_eq!(running, total.len());
}

/// From HistogramLogProcessor's interval summary, each interval's end time, count and
/// running total: the lines read `1.000: I:20000 ( ... ) T:20000 ( ... )`.
fn interval_counts(summary: &str) -> Vec<(String, u64, u64)> {
    let field = |line: &str, key: &str| -> u64 {
        let Some(rest) = line.split(key).nth(1) else {
            panic!("no {key} in {line:?}");
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits
            .parse()
            .unwrap_or_else(|e| panic!("{key} in {line:?}: {e}"))
    };
    summary
        .lines()
        .filter(|line| line.contains(" I:"))
        .map(|line| {
            let time = line.split(':').next().unwrap_or_default().to_owned();
            (time, field(line, " I:"), field(line, " T:"))
        })
        .collect()
}
