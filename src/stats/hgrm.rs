//! Percentile distributions (`.hgrm`), byte for byte as the reference HdrHistogram
//! (Java, 2.1.x) prints them with `outputPercentileDistribution(out, ticks, ratio)`.
//!
//! Three things have to agree with Java for the text to match, and none is what the
//! Rust crate does on its own:
//! - the percentile steps ([`JavaPercentiles`]): a fixed number of ticks per "half the
//!   remaining distance to 100%", repeated on one value until the running count passes
//!   the level, and a final row at exactly 100% (the crate's `iter_quantiles` ends
//!   differently);
//! - the numbers: Java's `%.Nf` rounds the shortest decimal representation of the
//!   double half-up (`0.15` → `0.2`, `2.675` → `2.68`), where Rust rounds the exact
//!   binary value (`0.1`, `2.67`);
//! - the mean and standard deviation: summed in bucket order over each bucket's
//!   median-equivalent value, divided once at the end.
//!
//! This runs on the control side after a run (or per report), never on the measuring
//! thread: it formats through ordinary `String`s.

use std::fmt::Write as _;
use std::io::{self, Write};

use hdrhistogram::iterators::{recorded, HistogramIterator};
use hdrhistogram::Histogram;

/// One row of a percentile distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentileStep {
    /// The highest value equivalent to the bucket the level was reached in.
    pub value: u64,
    /// The percentile level reached, 0 to 100.
    pub percentile: f64,
    /// How many samples are at or below `value`.
    pub total_count: u64,
}

/// Java HdrHistogram's percentile iterator over a histogram's recorded buckets.
///
/// Levels start at 0% and advance in ticks: `ticks_per_half_distance` ticks span 0–50%,
/// as many again 50–75%, then 75–87.5%, and so on, so every halving of the distance to
/// 100% gets the same number of rows. A level is reported at the first bucket whose
/// running count reaches it (several levels can land on one bucket); after the bucket
/// that completes the count, one last row reports 100%. An empty histogram yields
/// nothing.
pub struct JavaPercentiles<'a> {
    buckets: HistogramIterator<'a, u64, recorded::Iter>,
    total: u64,
    ticks_per_half_distance: u32,
    level: f64,
    current_value: Option<u64>,
    running_count: u64,
    reached_last: bool,
}

impl<'a> JavaPercentiles<'a> {
    /// Iterates `histogram`'s percentiles with `ticks_per_half_distance` rows per
    /// halving (Java's `percentileTicksPerHalfDistance`; 5 is its usual choice).
    pub fn new(histogram: &'a Histogram<u64>, ticks_per_half_distance: u32) -> Self {
        JavaPercentiles {
            buckets: histogram.iter_recorded(),
            total: histogram.len(),
            ticks_per_half_distance,
            level: 0.0,
            current_value: None,
            running_count: 0,
            reached_last: false,
        }
    }

    fn advance_level(&mut self) {
        if self.level >= 100.0 {
            return;
        }
        // Which halving of the distance to 100% the level is in; each gets twice the
        // ticks of the one before, so the tick size halves with the distance.
        let halvings = ((100.0 / (100.0 - self.level)).ln() / 2f64.ln()) as i64;
        let ticks = i64::from(self.ticks_per_half_distance)
            .wrapping_mul(2f64.powf((halvings + 1) as f64) as i64);
        if ticks > 0 {
            self.level += 100.0 / ticks as f64;
        } else {
            self.level = 100.0;
        }
    }
}

impl Iterator for JavaPercentiles<'_> {
    type Item = PercentileStep;

    fn next(&mut self) -> Option<PercentileStep> {
        if self.running_count >= self.total {
            if self.reached_last || self.total == 0 {
                return None;
            }
            self.level = 100.0;
            self.reached_last = true;
        }
        loop {
            if let Some(value) = self.current_value {
                let reached = 100.0 * self.running_count as f64 / self.total as f64;
                if reached >= self.level {
                    let step = PercentileStep {
                        value,
                        percentile: self.level,
                        total_count: self.running_count,
                    };
                    self.advance_level();
                    return Some(step);
                }
            }
            let bucket = self.buckets.next()?;
            self.current_value = Some(bucket.value_iterated_to());
            self.running_count += bucket.count_at_value();
        }
    }
}

/// Writes `histogram`'s percentile distribution exactly as Java HdrHistogram's
/// `outputPercentileDistribution(out, ticks_per_half_distance, value_unit_scaling_ratio)`
/// does: the header, one row per [`JavaPercentiles`] step (value divided by
/// `value_unit_scaling_ratio`, printed with as many decimals as the histogram has
/// significant digits), and the `#[Mean ...]`, `#[Max ...]`, `#[Buckets ...]` footer.
/// With nanosecond values, a ratio of 1000 prints microseconds and 1e6 milliseconds.
pub fn write_percentile_distribution<W: Write>(
    out: &mut W,
    histogram: &Histogram<u64>,
    ticks_per_half_distance: u32,
    value_unit_scaling_ratio: f64,
) -> io::Result<()> {
    let decimals = usize::from(histogram.sigfig());
    let mut line = String::with_capacity(128);
    line.push_str(&format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    ));
    out.write_all(line.as_bytes())?;

    for step in JavaPercentiles::new(histogram, ticks_per_half_distance) {
        line.clear();
        let quantile = step.percentile / 100.0;
        push_java_fixed(
            &mut line,
            step.value as f64 / value_unit_scaling_ratio,
            12,
            decimals,
        );
        line.push(' ');
        push_java_fixed(&mut line, quantile, 2, 12);
        // Writing to a String cannot fail.
        let _ = write!(line, " {:>10}", step.total_count);
        if step.percentile != 100.0 {
            line.push(' ');
            push_java_fixed(&mut line, 1.0 / (1.0 - quantile), 14, 2);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }

    let (mean, std_deviation) = java_mean_and_std_deviation(histogram);
    let max = if histogram.is_empty() {
        0
    } else {
        histogram.max()
    };
    line.clear();
    line.push_str("#[Mean    = ");
    push_java_fixed(&mut line, mean / value_unit_scaling_ratio, 12, decimals);
    line.push_str(", StdDeviation   = ");
    push_java_fixed(
        &mut line,
        std_deviation / value_unit_scaling_ratio,
        12,
        decimals,
    );
    line.push_str("]\n#[Max     = ");
    push_java_fixed(
        &mut line,
        max as f64 / value_unit_scaling_ratio,
        12,
        decimals,
    );
    let _ = write!(
        line,
        ", Total count    = {:>12}]\n#[Buckets = {:>12}, SubBuckets     = {:>12}]\n",
        histogram.len(),
        histogram.buckets(),
        sub_bucket_count(histogram.sigfig()),
    );
    out.write_all(line.as_bytes())
}

/// Sub-buckets per bucket: the smallest power of two that holds `2 * 10^sigfig`
/// distinct values at unit resolution.
fn sub_bucket_count(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// Mean and (population) standard deviation over each recorded bucket's
/// median-equivalent value, accumulated in bucket order and divided at the end, as
/// Java computes them (the Rust crate's `mean()` divides inside the sum, which differs
/// in the last bits).
pub(super) fn java_mean_and_std_deviation(histogram: &Histogram<u64>) -> (f64, f64) {
    let total = histogram.len();
    if total == 0 {
        return (0.0, 0.0);
    }
    let mut sum = 0.0f64;
    for bucket in histogram.iter_recorded() {
        let median = histogram.median_equivalent(bucket.value_iterated_to());
        sum += median as f64 * bucket.count_at_value() as f64;
    }
    let mean = sum / total as f64;
    let mut squared_deviations = 0.0f64;
    for bucket in histogram.iter_recorded() {
        let deviation = histogram.median_equivalent(bucket.value_iterated_to()) as f64 - mean;
        squared_deviations += deviation * deviation * bucket.count_since_last_iteration() as f64;
    }
    (mean, (squared_deviations / total as f64).sqrt())
}

/// Appends `value` as Java's `String.format(Locale.US, "%{width}.{precision}f", value)`
/// would print it: the shortest decimal digits that identify the double, rounded
/// half-up at `precision` decimals, right-aligned in `width` characters; infinities
/// print as `Infinity`, NaN as `NaN`.
fn push_java_fixed(out: &mut String, value: f64, width: usize, precision: usize) {
    let start = out.len();
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value < 0.0 { "-Infinity" } else { "Infinity" });
    } else {
        if value.is_sign_negative() {
            out.push('-');
        }
        push_java_fixed_digits(out, value.abs(), precision);
    }
    let written = out.len() - start;
    if written < width {
        out.insert_str(start, &" ".repeat(width - written));
    }
}

/// `magnitude` is finite and not negative.
fn push_java_fixed_digits(out: &mut String, magnitude: f64, precision: usize) {
    // Rust's `{:e}` prints the shortest round-tripping digits, d.ddde±x: the same
    // digits Java's FloatingDecimal starts from.
    let scientific = format!("{magnitude:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mut digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|d| d - b'0')
        .collect();
    // Digits before the decimal point; may be zero or negative (0.00ddd).
    let mut point = exponent.parse::<i64>().unwrap_or(0) + 1;
    if digits.iter().all(|&d| d == 0) {
        digits.clear();
        point = 1;
    }

    let keep = point + precision as i64;
    if keep < 0 {
        // The first significant digit lies beyond the rounding digit: rounds to zero.
        digits.clear();
    } else if (keep as usize) < digits.len() {
        let round_up = digits[keep as usize] >= 5;
        digits.truncate(keep as usize);
        if round_up {
            let mut carry = true;
            for digit in digits.iter_mut().rev() {
                if *digit == 9 {
                    *digit = 0;
                } else {
                    *digit += 1;
                    carry = false;
                    break;
                }
            }
            if carry {
                digits.insert(0, 1);
                point += 1;
            }
        }
    }

    let digit_at = |position: i64| -> char {
        // position counts from the first stored digit; outside it there are zeros.
        if position < 0 {
            return '0';
        }
        digits
            .get(position as usize)
            .map_or('0', |&d| char::from(b'0' + d))
    };
    if point <= 0 {
        out.push('0');
    } else {
        for position in 0..point {
            out.push(digit_at(position));
        }
    }
    if precision > 0 {
        out.push('.');
        for decimal in 0..precision as i64 {
            out.push(digit_at(point + decimal));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::latency_histogram;

    fn java_fixed(value: f64, width: usize, precision: usize) -> String {
        let mut s = String::new();
        push_java_fixed(&mut s, value, width, precision);
        s
    }

    #[test]
    fn fixed_point_matches_java_string_format() {
        // Expected strings are what OpenJDK 17's String.format(Locale.US, ...) prints.
        let cases: &[(f64, usize, usize, &str)] = &[
            (0.15, 0, 1, "0.2"),
            (2.675, 0, 2, "2.68"),
            (1.0005, 0, 3, "1.001"),
            (0.0005, 0, 3, "0.001"),
            (0.0004999, 0, 3, "0.000"),
            (0.00001, 0, 3, "0.000"),
            (0.1, 0, 20, "0.10000000000000000000"),
            (0.0, 12, 3, "       0.000"),
            (-0.0, 0, 3, "-0.000"),
            (9.9996, 0, 3, "10.000"),
            (999.9995, 12, 3, "    1000.000"),
            (100031.0, 12, 3, "  100031.000"),
            (0.990625, 2, 12, "0.990625000000"),
            (1.0, 2, 12, "1.000000000000"),
            (1.0 / (1.0 - 0.99), 14, 2, "        100.00"),
            (1.0 / (1.0 - 0.1), 14, 2, "          1.11"),
            (f64::INFINITY, 14, 2, "      Infinity"),
            (f64::NAN, 4, 1, " NaN"),
            (1e21, 0, 1, "1000000000000000000000.0"),
            (123_456_789.0, 0, 0, "123456789"),
        ];
        for &(value, width, precision, expected) in cases {
            assert_eq!(
                java_fixed(value, width, precision),
                expected,
                "{value} %{width}.{precision}f"
            );
        }
    }

    #[test]
    fn sub_buckets_follow_significant_digits() {
        assert_eq!(sub_bucket_count(0), 2);
        assert_eq!(sub_bucket_count(1), 32);
        assert_eq!(sub_bucket_count(2), 256);
        assert_eq!(sub_bucket_count(3), 2048);
        assert_eq!(sub_bucket_count(5), 262_144);
    }

    /// 1, 2, 3, 1000, 2049 and 100000 ns. Below 2048 every value is its own bucket; 2049
    /// shares [2048, 2049]; 100000 falls in [99968, 100031] (64 ns wide). Medians: 1, 2,
    /// 3, 1000, 2049, 100000, so the mean is 103055 / 6 = 17175.8333.
    fn six_values() -> Histogram<u64> {
        let mut h = latency_histogram();
        for v in [1, 2, 3, 1000, 2049, 100_000] {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn percentile_steps_by_hand() {
        let h = six_values();
        let steps: Vec<(u64, f64, u64)> = JavaPercentiles::new(&h, 5)
            .map(|s| (s.value, s.percentile, s.total_count))
            .collect();
        // 5 ticks per half: 10% steps to 50%, 5% to 75%, 2.5% to 87.5%, ... A level is
        // reported at the first value whose running share (1/6 = 16.7%, 33.3%, 50%,
        // 66.7%, 83.3%, 100%) reaches it; the value completing the count is reported
        // once more, at 100%.
        let expected = vec![
            (1, 0.0, 1),
            (1, 10.0, 1),
            (2, 20.0, 2),
            (2, 30.0, 2),
            (3, 40.0, 3),
            (3, 50.0, 3),
            (1000, 55.0, 4),
            (1000, 60.0, 4),
            (1000, 65.0, 4),
            (2049, 70.0, 5),
            (2049, 75.0, 5),
            (2049, 77.5, 5),
            (2049, 80.0, 5),
            (2049, 82.5, 5),
            (100_031, 85.0, 6),
            (100_031, 100.0, 6),
        ];
        assert_eq!(steps, expected);
    }

    #[test]
    fn distribution_text_by_hand() {
        let mut out = Vec::new();
        write_percentile_distribution(&mut out, &six_values(), 5, 1.0).unwrap();
        let expected = r#"
       Value     Percentile TotalCount 1/(1-Percentile)

       1.000 0.000000000000          1           1.00
       1.000 0.100000000000          1           1.11
       2.000 0.200000000000          2           1.25
       2.000 0.300000000000          2           1.43
       3.000 0.400000000000          3           1.67
       3.000 0.500000000000          3           2.00
    1000.000 0.550000000000          4           2.22
    1000.000 0.600000000000          4           2.50
    1000.000 0.650000000000          4           2.86
    2049.000 0.700000000000          5           3.33
    2049.000 0.750000000000          5           4.00
    2049.000 0.775000000000          5           4.44
    2049.000 0.800000000000          5           5.00
    2049.000 0.825000000000          5           5.71
  100031.000 0.850000000000          6           6.67
  100031.000 1.000000000000          6
#[Mean    =    17175.833, StdDeviation   =    37047.589]
#[Max     =   100031.000, Total count    =            6]
#[Buckets =           26, SubBuckets     =         2048]
"#;
        assert_eq!(
            Some(String::from_utf8(out).unwrap().as_str()),
            expected.strip_prefix('\n')
        );
    }

    #[test]
    fn distribution_scales_values_but_not_counts() {
        let mut out = Vec::new();
        write_percentile_distribution(&mut out, &six_values(), 5, 1000.0).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "       0.001 0.000000000000          1           1.00"
        );
        assert_eq!(lines[17], "     100.031 1.000000000000          6");
        assert_eq!(
            lines[18],
            "#[Mean    =       17.176, StdDeviation   =       37.048]"
        );
        assert_eq!(
            lines[19],
            "#[Max     =      100.031, Total count    =            6]"
        );
    }

    #[test]
    fn empty_histogram_has_header_and_footer_only() {
        let mut out = Vec::new();
        write_percentile_distribution(&mut out, &latency_histogram(), 5, 1.0).unwrap();
        let expected = r#"
       Value     Percentile TotalCount 1/(1-Percentile)

#[Mean    =        0.000, StdDeviation   =        0.000]
#[Max     =        0.000, Total count    =            0]
#[Buckets =           26, SubBuckets     =         2048]
"#;
        assert_eq!(
            Some(String::from_utf8(out).unwrap().as_str()),
            expected.strip_prefix('\n')
        );
        assert_eq!(JavaPercentiles::new(&latency_histogram(), 5).count(), 0);
    }

    #[test]
    fn single_value_gives_two_rows() {
        let mut h = latency_histogram();
        h.record_n(500, 10).unwrap();
        let steps: Vec<(u64, f64, u64)> = JavaPercentiles::new(&h, 5)
            .map(|s| (s.value, s.percentile, s.total_count))
            .collect();
        assert_eq!(steps, vec![(500, 0.0, 10), (500, 100.0, 10)]);
    }
}
