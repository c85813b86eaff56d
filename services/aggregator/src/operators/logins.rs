//! One login partition's share of the login statistics.

use std::collections::BTreeMap;

use ferroflow_schema::EnrichedUserLogin;
use serde::{Deserialize, Serialize};

use super::{Checkpoint, Origin, PartitionClock, Placement};
use crate::logins::LoginAccumulator;
use crate::window::{Timing, Window};

/// What one login partition tells the merger: its share of some windows, and how far
/// its watermark has come. Sent whenever the partition's watermark closes a window
/// (whether or not the partition had logins in it), so the merger learns that the
/// partition has nothing more for the windows up to there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialMessage {
    /// The `user-login-enriched` partition it comes from.
    pub source_partition: i32,
    /// That partition's watermark once these windows were sent.
    pub watermark: Option<i64>,
    /// The partition's share of windows.
    pub windows: Vec<PartialWindow>,
}

/// One partition's logins in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialWindow {
    /// The window.
    pub window: Window,
    /// The partition's logins in it.
    pub logins: LoginAccumulator,
    /// Whether the window is closed in that partition (else an early, updating share).
    pub is_final: bool,
}

#[derive(Debug, Clone)]
struct OpenLogins {
    logins: LoginAccumulator,
    origin: Origin<Option<i64>>,
    touched: bool,
}

/// The login windows of one partition. Its clock is the largest event time seen.
#[derive(Debug, Clone)]
pub struct LoginOperator {
    clock: PartitionClock,
    partition: i32,
    open: BTreeMap<i64, OpenLogins>,
}

impl LoginOperator {
    /// Partition `partition`, seen for the first time.
    pub fn new(timing: Timing, partition: i32) -> Self {
        LoginOperator {
            clock: PartitionClock::new(timing),
            partition,
            open: BTreeMap::new(),
        }
    }

    /// The starting point of a replay from `checkpoint` (see [`Checkpoint`]).
    pub fn replaying(timing: Timing, partition: i32, checkpoint: &Checkpoint<Option<i64>>) -> Self {
        LoginOperator {
            clock: PartitionClock::replaying(timing, checkpoint),
            ..LoginOperator::new(timing, partition)
        }
    }

    /// The offset after the last record processed (or skipped).
    pub fn next_offset(&self) -> Option<i64> {
        self.clock.next_offset
    }

    /// The watermark.
    pub fn watermark(&self) -> Option<i64> {
        self.clock.watermark()
    }

    /// Records that the record at `offset` was passed over.
    pub fn skip(&mut self, offset: i64) {
        self.clock.skip(offset);
    }

    /// Adds the login at `offset`, event time `t_ms`; when the watermark closes windows,
    /// a message with their final shares goes to `out`.
    pub fn process(
        &mut self,
        offset: i64,
        t_ms: i64,
        login: &EnrichedUserLogin,
        out: &mut Vec<PartialMessage>,
    ) -> Placement {
        let watermark = self.watermark();
        let mut placement = Placement {
            watermark,
            ..Placement::default()
        };
        for window in self.clock.timing.spec().windows_of(t_ms) {
            if self.clock.timing.is_closed(&window, watermark) {
                placement.missed.push(window);
                continue;
            }
            let clock_before = self.clock.max_event_ms;
            let open = self
                .open
                .entry(window.start_ms)
                .or_insert_with(|| OpenLogins {
                    logins: LoginAccumulator::new(),
                    origin: Origin {
                        offset,
                        clock_before,
                    },
                    touched: false,
                });
            open.logins.add(login);
            open.touched = true;
            placement.added += 1;
        }
        let before = self.clock.timing.closed_through(watermark);
        self.clock.advance(offset, t_ms);
        let after = self.watermark();
        if self.clock.timing.closed_through(after) != before {
            let mut windows = Vec::new();
            while let Some(entry) = self.open.first_entry() {
                let window = self.clock.window_at(*entry.key());
                if !self.clock.timing.is_closed(&window, after) {
                    break;
                }
                windows.push(PartialWindow {
                    window,
                    logins: entry.remove().logins,
                    is_final: true,
                });
            }
            out.push(PartialMessage {
                source_partition: self.partition,
                watermark: after,
                windows,
            });
        }
        placement
    }

    /// Where a replay must start to rebuild this operator; `None` before any record.
    pub fn checkpoint(&self) -> Option<Checkpoint<Option<i64>>> {
        self.clock.checkpoint(self.open.values().map(|o| &o.origin))
    }

    /// The non-final shares of the windows changed since the last call, if any.
    pub fn early_partials(&mut self) -> Option<PartialMessage> {
        let clock = self.clock;
        let windows: Vec<PartialWindow> = self
            .open
            .iter_mut()
            .filter(|(_, o)| o.touched)
            .map(|(&start, open)| {
                open.touched = false;
                PartialWindow {
                    window: clock.window_at(start),
                    logins: open.logins.clone(),
                    is_final: false,
                }
            })
            .collect();
        (!windows.is_empty()).then(|| PartialMessage {
            source_partition: self.partition,
            watermark: self.watermark(),
            windows,
        })
    }

    /// Open windows: the operator's size.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logins::tests::login;
    use crate::window::{Lateness, WindowSpec};

    fn timing() -> Timing {
        Timing::new(
            WindowSpec::tumbling(1_000).unwrap(),
            Lateness {
                out_of_orderness_ms: 0,
                grace_ms: 500,
            },
        )
    }

    fn user(i: usize) -> EnrichedUserLogin {
        login(&format!("user-{i}"), "RU", "ios", "2.3.0")
    }

    #[test]
    fn the_watermark_closing_windows_sends_their_shares_with_the_watermark() {
        let mut op = LoginOperator::new(timing(), 2);
        let mut out = Vec::new();
        op.process(0, 100, &user(0), &mut out);
        // The first record announces the partition's watermark (nothing closed yet).
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].watermark, Some(100));
        assert!(out[0].windows.is_empty());
        // Watermark 1_200 closes [-1000, 0): a progress message, no share.
        op.process(1, 1_200, &user(1), &mut out);
        assert_eq!(out.len(), 2);
        assert!(out[1].windows.is_empty());
        op.process(2, 1_499, &user(2), &mut out);
        assert_eq!(out.len(), 2, "[0, 1000) open until 1500");
        op.process(3, 1_500, &user(3), &mut out);
        assert_eq!(out.len(), 3);
        let message = &out[2];
        assert_eq!(
            (message.source_partition, message.watermark),
            (2, Some(1_500))
        );
        assert_eq!(message.windows.len(), 1);
        assert_eq!(message.windows[0].window.start_ms, 0);
        assert_eq!(message.windows[0].logins.logins(), 1);
        assert!(message.windows[0].is_final);
        // A jump over empty windows sends one message that closes them all.
        op.process(4, 9_000, &user(4), &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(out[3].windows.len(), 1, "only [1000, 2000) had logins");
        assert_eq!(out[3].windows[0].logins.logins(), 3);
    }

    #[test]
    fn a_login_for_a_closed_window_is_late() {
        let mut op = LoginOperator::new(timing(), 0);
        let mut out = Vec::new();
        op.process(0, 100, &user(0), &mut out);
        op.process(1, 1_500, &user(1), &mut out);
        let placement = op.process(2, 999, &user(2), &mut out);
        assert!(placement.is_late());
        let placement = op.process(3, 1_000, &user(3), &mut out);
        assert!(!placement.is_late());
    }

    #[test]
    fn replay_from_a_checkpoint_sends_the_same_partials() {
        let events: Vec<i64> = (0..300i64)
            .map(|i| 5_000 + i * 23 + (i * 7919) % 900 - 450)
            .collect();
        let run = |op: &mut LoginOperator, from: usize, to: usize| {
            let mut out = Vec::new();
            for (offset, t) in events.iter().enumerate().take(to).skip(from) {
                op.process(offset as i64, *t, &user(offset % 50), &mut out);
            }
            out
        };
        let mut whole = LoginOperator::new(timing(), 1);
        let all = run(&mut whole, 0, events.len());
        for cut in (1..events.len()).step_by(17) {
            let mut first = LoginOperator::new(timing(), 1);
            let mut sent = run(&mut first, 0, cut);
            let checkpoint = first.checkpoint().unwrap();
            let mut rebuilt = LoginOperator::replaying(timing(), 1, &checkpoint);
            run(&mut rebuilt, checkpoint.replay_from as usize, cut);
            sent.extend(run(&mut rebuilt, cut, events.len()));
            assert_eq!(sent, all, "cut at {cut}");
        }
    }

    #[test]
    fn early_partials_carry_changed_open_windows_only() {
        let mut op = LoginOperator::new(timing(), 0);
        let mut out = Vec::new();
        assert_eq!(op.early_partials(), None);
        op.process(0, 100, &user(0), &mut out);
        let early = op.early_partials().unwrap();
        assert_eq!(early.windows.len(), 1);
        assert!(!early.windows[0].is_final);
        assert_eq!(op.early_partials(), None);
        assert_eq!(op.open_windows(), 1);
    }
}
