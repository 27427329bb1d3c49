//! The measuring thread's [`Recorder`] and the control thread's [`IntervalCollector`].
//!
//! A pair shares two pre-allocated histograms and two single-producer single-consumer
//! rings: the collector sends an empty histogram down one ring to ask for the current
//! interval; the recorder, at its next [`Recorder::maybe_swap`], swaps it in and sends
//! the full one back up the other ring with the interval's start and end times. After
//! [`interval_recorder`] returns, the recorder side never allocates, frees, locks,
//! makes a system call or reads a clock; a swap is a pointer-sized move, and a loop
//! iteration with nothing to swap costs one atomic load. The collector adds each
//! interval into a run total, resets the histogram and keeps it for the next request.

use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::errors::AdditionError;
use hdrhistogram::Histogram;
use rtrb::{Consumer, Producer, PushError, RingBuffer};

use super::{latency_histogram, HIGHEST_TRACKABLE_NS};

/// Histograms per pair: one being recorded into, one with the collector (spare, on its
/// way, or being logged). More would only let requests queue up behind each other.
const HISTOGRAMS_PER_PAIR: usize = 2;

/// Tells the collector which recorder is its partner (see [`IntervalCollector::finish`]).
static NEXT_PAIR_ID: AtomicU64 = AtomicU64::new(0);

/// One finished interval: the latencies recorded between `start_ns` and `end_ns`, both
/// read from the caller's clock by the measuring thread (see [`Recorder::maybe_swap`]).
#[derive(Debug, Clone)]
pub struct Interval {
    /// The recorded latencies, in nanoseconds.
    pub histogram: Histogram<u64>,
    /// When recording into this histogram began.
    pub start_ns: u64,
    /// When the measuring thread swapped it out.
    pub end_ns: u64,
    /// How many of its samples were above [`HIGHEST_TRACKABLE_NS`] and are counted in
    /// the histogram as exactly that value.
    pub clamped: u64,
}

/// Errors of the control side. None can happen in a correctly wired run; they exist so
/// that a mistake is loud rather than a silently smaller total.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// An interval's histogram did not fit the run total (different bounds).
    #[error("adding an interval histogram to the run total: {0}")]
    Merge(#[from] AdditionError),
    /// [`IntervalCollector::finish`] was given a recorder from another pair.
    #[error("the recorder given to IntervalCollector::finish belongs to another collector")]
    NotPartner,
}

/// Creates a recorder (for the measuring thread) and its collector (for a control
/// thread). `start_ns` is when the first interval begins, on the same clock the
/// recorder's caller will pass to [`Recorder::maybe_swap`]. This is the only step that
/// allocates: two histograms for the pair, one for the run total, and the two rings.
pub fn interval_recorder(start_ns: u64) -> (Recorder, IntervalCollector) {
    let pair = NEXT_PAIR_ID.fetch_add(1, Ordering::Relaxed);
    let (requests, fresh) = RingBuffer::new(HISTOGRAMS_PER_PAIR);
    let (finished_tx, finished_rx) = RingBuffer::new(HISTOGRAMS_PER_PAIR);
    let mut spare = Vec::with_capacity(HISTOGRAMS_PER_PAIR);
    spare.push(latency_histogram());
    let recorder = Recorder {
        active: latency_histogram(),
        interval_start_ns: start_ns,
        interval_clamped: 0,
        fresh,
        finished: finished_tx,
        pair,
    };
    let collector = IntervalCollector {
        spare,
        requests,
        finished: finished_rx,
        total: latency_histogram(),
        clamped: 0,
        intervals: 0,
        pair,
    };
    (recorder, collector)
}

/// The measuring thread's end of a pair. Owned by exactly one thread (it is `Send`,
/// not shared); every method is allocation-free and wait-free.
#[derive(Debug)]
pub struct Recorder {
    active: Histogram<u64>,
    interval_start_ns: u64,
    interval_clamped: u64,
    fresh: Consumer<Histogram<u64>>,
    finished: Producer<Interval>,
    pair: u64,
}

impl Recorder {
    /// Records one latency in nanoseconds. A value above [`HIGHEST_TRACKABLE_NS`] (60 s)
    /// is recorded as 60 s and counted in [`Recorder::clamped_in_interval`], so an
    /// outlier moves the maximum and the tail instead of vanishing. A value of 0 is
    /// recorded as 0: the histogram holds it exactly, and a zero latency (both
    /// timestamps from one clock tick) says something about the clock that rounding it
    /// up to 1 ns would hide.
    #[inline]
    pub fn record(&mut self, value_ns: u64) {
        let value_ns = if value_ns > HIGHEST_TRACKABLE_NS {
            self.interval_clamped += 1;
            HIGHEST_TRACKABLE_NS
        } else {
            value_ns
        };
        // In range by the check above, so this never clamps again and never resizes.
        self.active.saturating_record(value_ns);
    }

    /// Ends the current interval at `now_ns` if the collector has asked for it (sent an
    /// empty histogram): swaps that histogram in and sends the full one back. Returns
    /// whether it swapped. Call it once per loop iteration; with no request pending it
    /// is one atomic load.
    #[inline]
    pub fn maybe_swap(&mut self, now_ns: u64) -> bool {
        if self.fresh.is_empty() || self.finished.is_full() {
            return false;
        }
        let Ok(fresh) = self.fresh.pop() else {
            return false;
        };
        let interval = Interval {
            histogram: mem::replace(&mut self.active, fresh),
            start_ns: self.interval_start_ns,
            end_ns: now_ns,
            clamped: mem::take(&mut self.interval_clamped),
        };
        match self.finished.push(interval) {
            Ok(()) => {
                self.interval_start_ns = now_ns;
                true
            }
            // Unreachable: this thread is the ring's only producer and saw a free slot.
            // Should it ever happen, keep recording into the full histogram (the empty
            // one is dropped) rather than lose samples.
            Err(PushError::Full(interval)) => {
                self.active = interval.histogram;
                self.interval_clamped = interval.clamped;
                false
            }
        }
    }

    /// The histogram of the interval in progress.
    pub fn current(&self) -> &Histogram<u64> {
        &self.active
    }

    /// When the interval in progress began.
    pub fn interval_start_ns(&self) -> u64 {
        self.interval_start_ns
    }

    /// Samples clamped to [`HIGHEST_TRACKABLE_NS`] in the interval in progress.
    pub fn clamped_in_interval(&self) -> u64 {
        self.interval_clamped
    }
}

/// The control thread's end of a pair: asks for intervals, receives them, keeps the
/// run total. It allocates nothing after [`interval_recorder`] either, so it may run on
/// a busy thread too.
#[derive(Debug)]
pub struct IntervalCollector {
    spare: Vec<Histogram<u64>>,
    requests: Producer<Histogram<u64>>,
    finished: Consumer<Interval>,
    total: Histogram<u64>,
    clamped: u64,
    intervals: u64,
    pair: u64,
}

impl IntervalCollector {
    /// Asks the recorder to end its interval at its next [`Recorder::maybe_swap`].
    /// Returns false, and does nothing, while an earlier request is still unanswered or
    /// its interval has not been drained yet (the pair's histograms are all in use).
    pub fn request_interval(&mut self) -> bool {
        if self.requests.is_full() {
            return false;
        }
        let Some(empty) = self.spare.pop() else {
            return false;
        };
        match self.requests.push(empty) {
            Ok(()) => true,
            Err(PushError::Full(empty)) => {
                self.spare.push(empty);
                false
            }
        }
    }

    /// Takes every interval the recorder has sent back, in order: adds it to the run
    /// total, hands it to `each` (to log it, say), then resets it for reuse. Returns how
    /// many there were. An error from `each` stops the drain after that interval has
    /// been counted and recycled.
    pub fn drain<E: From<StatsError>>(
        &mut self,
        mut each: impl FnMut(&Interval) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut drained = 0;
        while let Ok(interval) = self.finished.pop() {
            drained += 1;
            self.absorb(interval, &mut each)?;
        }
        Ok(drained)
    }

    /// Ends the run: drains what the recorder sent, then takes the recorder's interval
    /// in progress as the last one, ending at `end_ns` (skipped if it is empty and
    /// lasted no time). Call it with the recorder back from the measuring thread once
    /// that thread has stopped. Returns how many intervals were handed to `each`.
    pub fn finish<E: From<StatsError>>(
        &mut self,
        recorder: Recorder,
        end_ns: u64,
        mut each: impl FnMut(&Interval) -> Result<(), E>,
    ) -> Result<usize, E> {
        if recorder.pair != self.pair {
            return Err(StatsError::NotPartner.into());
        }
        let mut drained = self.drain(&mut each)?;
        let Recorder {
            active,
            interval_start_ns,
            interval_clamped,
            ..
        } = recorder;
        if !active.is_empty() || end_ns > interval_start_ns {
            drained += 1;
            let last = Interval {
                histogram: active,
                start_ns: interval_start_ns,
                end_ns,
                clamped: interval_clamped,
            };
            self.absorb(last, &mut each)?;
        }
        Ok(drained)
    }

    fn absorb<E: From<StatsError>>(
        &mut self,
        mut interval: Interval,
        each: &mut impl FnMut(&Interval) -> Result<(), E>,
    ) -> Result<(), E> {
        let merged = self.total.add(&interval.histogram);
        self.clamped += interval.clamped;
        self.intervals += 1;
        let handled = each(&interval);
        interval.histogram.reset();
        if self.spare.len() < self.spare.capacity() {
            self.spare.push(interval.histogram);
        }
        merged.map_err(StatsError::from)?;
        handled
    }

    /// Every latency of every interval drained so far.
    pub fn total(&self) -> &Histogram<u64> {
        &self.total
    }

    /// Samples clamped to [`HIGHEST_TRACKABLE_NS`] over the intervals drained so far.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Intervals drained so far.
    pub fn intervals(&self) -> u64 {
        self.intervals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_all(collector: &mut IntervalCollector) -> Vec<(u64, u64, u64, u64)> {
        let mut seen = Vec::new();
        collector
            .drain(|i| {
                seen.push((i.start_ns, i.end_ns, i.histogram.len(), i.clamped));
                Ok::<(), StatsError>(())
            })
            .unwrap();
        seen
    }

    #[test]
    fn no_swap_until_requested_then_exactly_one() {
        let (mut recorder, mut collector) = interval_recorder(100);
        recorder.record(5);
        assert!(!recorder.maybe_swap(150));
        assert!(collector.request_interval());
        // The only spare is on its way: a second request cannot be made.
        assert!(!collector.request_interval());
        recorder.record(7);
        assert!(recorder.maybe_swap(200));
        assert!(!recorder.maybe_swap(250));
        assert_eq!(recorder.interval_start_ns(), 200);
        assert!(recorder.current().is_empty());

        assert_eq!(collect_all(&mut collector), vec![(100, 200, 2, 0)]);
        assert_eq!(collector.total().len(), 2);
        assert_eq!(collector.intervals(), 1);
        // The histogram came back: it can be requested again, and arrives empty.
        assert!(collector.request_interval());
        recorder.record(9);
        assert!(recorder.maybe_swap(300));
        assert_eq!(collect_all(&mut collector), vec![(200, 300, 1, 0)]);
        assert_eq!(collector.total().len(), 3);
        assert_eq!(collector.total().max(), 9);
    }

    #[test]
    fn values_above_sixty_seconds_are_clamped_and_counted() {
        let (mut recorder, mut collector) = interval_recorder(0);
        recorder.record(HIGHEST_TRACKABLE_NS);
        recorder.record(HIGHEST_TRACKABLE_NS + 1);
        recorder.record(u64::MAX);
        assert_eq!(recorder.clamped_in_interval(), 2);
        assert_eq!(recorder.current().len(), 3);
        let h = recorder.current();
        assert_eq!(h.count_at(HIGHEST_TRACKABLE_NS), 3);
        assert!(collector.request_interval());
        assert!(recorder.maybe_swap(10));
        assert_eq!(recorder.clamped_in_interval(), 0);
        assert_eq!(collect_all(&mut collector), vec![(0, 10, 3, 2)]);
        assert_eq!(collector.clamped(), 2);
    }

    #[test]
    fn zero_is_recorded_as_zero() {
        let (mut recorder, _collector) = interval_recorder(0);
        recorder.record(0);
        recorder.record(0);
        recorder.record(3);
        let h = recorder.current();
        assert_eq!(h.len(), 3);
        assert_eq!(h.count_at(0), 2);
        assert_eq!(h.count_at(1), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.value_at_quantile(0.5), 0);
    }

    #[test]
    fn finish_takes_the_interval_in_progress() {
        let (mut recorder, mut collector) = interval_recorder(1_000);
        recorder.record(10);
        assert!(collector.request_interval());
        assert!(recorder.maybe_swap(2_000));
        recorder.record(20);
        recorder.record(30);
        // The swapped interval is still in the ring: finish drains it first.
        let mut seen = Vec::new();
        let n = collector
            .finish(recorder, 2_500, |i| {
                seen.push((i.start_ns, i.end_ns, i.histogram.len()));
                Ok::<(), StatsError>(())
            })
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(seen, vec![(1_000, 2_000, 1), (2_000, 2_500, 2)]);
        assert_eq!(collector.total().len(), 3);
        assert_eq!(collector.intervals(), 2);
    }

    #[test]
    fn finish_skips_an_empty_instant_and_refuses_a_stranger() {
        let (recorder, mut collector) = interval_recorder(1_000);
        let n = collector
            .finish(recorder, 1_000, |_| Ok::<(), StatsError>(()))
            .unwrap();
        assert_eq!(n, 0);

        let (stranger, _its_collector) = interval_recorder(0);
        let err = collector
            .finish(stranger, 5, |_| Ok::<(), StatsError>(()))
            .unwrap_err();
        assert!(matches!(err, StatsError::NotPartner));
    }

    #[test]
    fn an_error_from_the_callback_still_counts_and_recycles() {
        #[derive(Debug)]
        enum Failure {
            Log,
            Stats,
        }
        impl From<StatsError> for Failure {
            fn from(_: StatsError) -> Self {
                Failure::Stats
            }
        }
        let (mut recorder, mut collector) = interval_recorder(0);
        recorder.record(42);
        assert!(collector.request_interval());
        assert!(recorder.maybe_swap(1));
        let result = collector.drain(|_| Err(Failure::Log));
        assert!(matches!(result, Err(Failure::Log)));
        assert_eq!(collector.total().len(), 1);
        assert!(collector.request_interval(), "the histogram was recycled");
    }
}
