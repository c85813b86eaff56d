//! Event-time windows and the rules that close them.
//!
//! Windows are aligned to the epoch: window `k` is `[k·advance, k·advance + size)` in
//! epoch milliseconds. Tumbling windows have `advance == size`; hopping windows a smaller
//! advance, so an event lies in `ceil(size / advance)` windows (or one fewer, when the
//! advance does not divide the size).
//!
//! A partition's **watermark** is the largest event time it has shown minus the allowed
//! out-of-orderness. A window is **closed** once the watermark has passed its end by the
//! grace period: `watermark >= end + grace`. Nothing here reads a clock: the event times
//! passed in are the only clock, so replaying the same records gives the same windows,
//! the same closing points and the same late events.

use serde::{Deserialize, Serialize};

/// A half-open event-time interval `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start, epoch milliseconds.
    pub start_ms: i64,
    /// Exclusive end, epoch milliseconds.
    pub end_ms: i64,
}

/// Why a window shape is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// The size is zero or negative.
    #[error("the window size must be at least 1ms")]
    Size,
    /// The advance is zero, negative or larger than the size.
    #[error("the advance must be between 1ms and the window size")]
    Advance,
}

impl WindowError {
    /// Whether the problem lies with the advance (rather than the size).
    pub fn concerns_advance(&self) -> bool {
        matches!(self, WindowError::Advance)
    }
}

/// The shape of the windows: size and advance, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    size_ms: i64,
    advance_ms: i64,
}

impl WindowSpec {
    /// Tumbling windows of `size_ms`.
    pub fn tumbling(size_ms: i64) -> Result<Self, WindowError> {
        Self::hopping(size_ms, size_ms)
    }

    /// Hopping windows of `size_ms`, one starting every `advance_ms`.
    pub fn hopping(size_ms: i64, advance_ms: i64) -> Result<Self, WindowError> {
        if size_ms < 1 {
            return Err(WindowError::Size);
        }
        if advance_ms < 1 || advance_ms > size_ms {
            return Err(WindowError::Advance);
        }
        Ok(WindowSpec {
            size_ms,
            advance_ms,
        })
    }

    /// Window length.
    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    /// Distance between window starts.
    pub fn advance_ms(&self) -> i64 {
        self.advance_ms
    }

    /// Window number `k`.
    pub fn window(&self, k: i64) -> Window {
        let start_ms = k.saturating_mul(self.advance_ms);
        Window {
            start_ms,
            end_ms: start_ms.saturating_add(self.size_ms),
        }
    }

    /// The number of the window that starts at `start_ms` (an aligned start).
    pub fn index_of(&self, start_ms: i64) -> i64 {
        start_ms.div_euclid(self.advance_ms)
    }

    /// The windows that contain event time `t`, earliest first.
    pub fn windows_of(&self, t: i64) -> impl Iterator<Item = Window> + use<> {
        let spec = *self;
        // The last window starting at or before t, and the first whose end is after t.
        let last = t.div_euclid(spec.advance_ms);
        let first = t.saturating_sub(spec.size_ms).div_euclid(spec.advance_ms) + 1;
        (first..=last).map(move |k| spec.window(k))
    }
}

/// How late events may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lateness {
    /// The watermark trails the largest event time by this much.
    pub out_of_orderness_ms: i64,
    /// A window closes this long after the watermark passes its end.
    pub grace_ms: i64,
}

/// Window shape and lateness rules together: everything that decides where an event
/// goes and when a window closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    spec: WindowSpec,
    lateness: Lateness,
}

impl Timing {
    /// Windows of `spec` closed under `lateness`.
    pub fn new(spec: WindowSpec, lateness: Lateness) -> Self {
        Timing { spec, lateness }
    }

    /// The window shape.
    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    /// The lateness rules.
    pub fn lateness(&self) -> &Lateness {
        &self.lateness
    }

    /// The watermark of a partition whose largest event time is `max_event_ms`.
    pub fn watermark(&self, max_event_ms: Option<i64>) -> Option<i64> {
        max_event_ms.map(|m| m.saturating_sub(self.lateness.out_of_orderness_ms))
    }

    /// Whether `window` is closed at `watermark`.
    pub fn is_closed(&self, window: &Window, watermark: Option<i64>) -> bool {
        watermark.is_some_and(|wm| wm >= window.end_ms.saturating_add(self.lateness.grace_ms))
    }

    /// The number of the last window closed at `watermark`: every window up to it is
    /// closed, every later one open. `None` before the first event.
    pub fn closed_through(&self, watermark: Option<i64>) -> Option<i64> {
        watermark.map(|wm| {
            wm.saturating_sub(self.lateness.grace_ms)
                .saturating_sub(self.spec.size_ms)
                .div_euclid(self.spec.advance_ms)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start_ms: i64, end_ms: i64) -> Window {
        Window { start_ms, end_ms }
    }

    #[test]
    fn tumbling_windows_put_each_event_in_exactly_one_aligned_window() {
        let spec = WindowSpec::tumbling(60_000).unwrap();
        assert_eq!(spec.windows_of(0).collect::<Vec<_>>(), [w(0, 60_000)]);
        assert_eq!(spec.windows_of(59_999).collect::<Vec<_>>(), [w(0, 60_000)]);
        assert_eq!(
            spec.windows_of(60_000).collect::<Vec<_>>(),
            [w(60_000, 120_000)]
        );
        // Before the epoch, floor division keeps the alignment.
        assert_eq!(spec.windows_of(-1).collect::<Vec<_>>(), [w(-60_000, 0)]);
    }

    #[test]
    fn hopping_windows_overlap_and_put_each_event_in_size_over_advance_windows() {
        let spec = WindowSpec::hopping(10_000, 5_000).unwrap();
        assert_eq!(
            spec.windows_of(7_000).collect::<Vec<_>>(),
            [w(0, 10_000), w(5_000, 15_000)]
        );
        // On a boundary the window ending there no longer contains it.
        assert_eq!(
            spec.windows_of(10_000).collect::<Vec<_>>(),
            [w(5_000, 15_000), w(10_000, 20_000)]
        );
        let spec = WindowSpec::hopping(10_000, 3_000).unwrap();
        for t in 0..40_000 {
            let windows: Vec<Window> = spec.windows_of(t).collect();
            assert!(windows.len() == 3 || windows.len() == 4, "{t}: {windows:?}");
            for window in &windows {
                assert!(window.start_ms <= t && t < window.end_ms, "{t}: {window:?}");
                assert_eq!(window.start_ms % 3_000, 0);
            }
            // And no window containing t is missed.
            let before = spec.window(spec.index_of(windows[0].start_ms) - 1);
            assert!(before.end_ms <= t);
        }
    }

    #[test]
    fn window_shapes_are_checked() {
        assert_eq!(WindowSpec::tumbling(0), Err(WindowError::Size));
        assert_eq!(WindowSpec::hopping(10, 0), Err(WindowError::Advance));
        assert_eq!(WindowSpec::hopping(10, 11), Err(WindowError::Advance));
        assert!(WindowError::Advance.concerns_advance());
    }

    #[test]
    fn a_window_closes_when_the_watermark_passes_its_end_plus_grace() {
        let timing = Timing::new(
            WindowSpec::tumbling(1_000).unwrap(),
            Lateness {
                out_of_orderness_ms: 200,
                grace_ms: 300,
            },
        );
        let window = w(0, 1_000);
        assert_eq!(timing.watermark(None), None);
        assert!(!timing.is_closed(&window, None), "no events, no watermark");
        // Largest event 1_499: watermark 1_299 < 1_000 + 300.
        assert!(!timing.is_closed(&window, timing.watermark(Some(1_499))));
        // Largest event 1_500: watermark 1_300 = end + grace: closed.
        assert!(timing.is_closed(&window, timing.watermark(Some(1_500))));
        assert_eq!(
            timing.closed_through(timing.watermark(Some(1_499))),
            Some(-1)
        );
        assert_eq!(
            timing.closed_through(timing.watermark(Some(1_500))),
            Some(0)
        );
        assert_eq!(
            timing.closed_through(timing.watermark(Some(2_499))),
            Some(0)
        );
        assert_eq!(
            timing.closed_through(timing.watermark(Some(2_500))),
            Some(1)
        );
    }

    #[test]
    fn closed_through_agrees_with_is_closed_for_hopping_windows() {
        let timing = Timing::new(
            WindowSpec::hopping(10_000, 3_000).unwrap(),
            Lateness {
                out_of_orderness_ms: 1_234,
                grace_ms: 567,
            },
        );
        for max_event in (-5_000..50_000).step_by(97) {
            let wm = timing.watermark(Some(max_event));
            let through = timing.closed_through(wm).unwrap();
            for k in through - 3..=through + 3 {
                assert_eq!(
                    timing.is_closed(&timing.spec().window(k), wm),
                    k <= through,
                    "max_event {max_event}, window {k}"
                );
            }
        }
    }
}
