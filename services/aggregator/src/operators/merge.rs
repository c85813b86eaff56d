//! The login statistics of every partition together.

use std::collections::BTreeMap;

use ferroflow_schema::LoginStats;

use super::{Checkpoint, Origin, PartialMessage, checkpoint_from};
use crate::logins::{LoginAccumulator, merge_in_order};
use crate::window::{Timing, Window};

/// The merger's clock: the watermark each source partition last reported.
pub type Reported = BTreeMap<i32, i64>;

#[derive(Debug, Clone)]
struct MergeWindow {
    window: Window,
    /// The latest share of each source partition (a final share replaces early ones).
    shares: BTreeMap<i32, LoginAccumulator>,
    origin: Origin<Reported>,
    /// Changed by an early share since the last early result.
    early: bool,
}

/// What one partials message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeOutcome {
    /// Shares of windows the merger had already closed, dropped. Never happens while
    /// every source keeps its guarantees; counted so it would be seen.
    pub dropped: usize,
}

/// Merges the per-partition login shares of `sources` partitions. A window closes when
/// the combined watermark — the minimum over the sources' reported watermarks —
/// closes it; until every source has reported, nothing closes.
#[derive(Debug, Clone)]
pub struct LoginMerger {
    timing: Timing,
    sources: i32,
    reported: Reported,
    next_offset: Option<i64>,
    open: BTreeMap<i64, MergeWindow>,
}

impl LoginMerger {
    /// A merger of `sources` login partitions.
    pub fn new(timing: Timing, sources: i32) -> Self {
        LoginMerger {
            timing,
            sources,
            reported: Reported::new(),
            next_offset: None,
            open: BTreeMap::new(),
        }
    }

    /// The starting point of a replay from `checkpoint`.
    pub fn replaying(timing: Timing, sources: i32, checkpoint: &Checkpoint<Reported>) -> Self {
        LoginMerger {
            reported: checkpoint.clock.clone(),
            next_offset: Some(checkpoint.replay_from),
            ..LoginMerger::new(timing, sources)
        }
    }

    /// Login partitions merged.
    pub fn sources(&self) -> i32 {
        self.sources
    }

    /// The offset after the last message processed (or skipped).
    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    /// Records that the message at `offset` was passed over.
    pub fn skip(&mut self, offset: i64) {
        self.next_offset = Some(offset + 1);
    }

    /// The watermark combined across partitions: the smallest reported one, once every
    /// source partition has reported.
    pub fn watermark(&self) -> Option<i64> {
        let mut min: Option<i64> = None;
        for source in 0..self.sources {
            let wm = *self.reported.get(&source)?;
            min = Some(min.map_or(wm, |m| m.min(wm)));
        }
        min
    }

    /// Takes in the message at `offset`; statistics of the windows it closes go to
    /// `closed` (final, in window order).
    pub fn process(
        &mut self,
        offset: i64,
        message: &PartialMessage,
        closed: &mut Vec<LoginStats>,
    ) -> MergeOutcome {
        let mut outcome = MergeOutcome::default();
        let combined = self.watermark();
        for share in &message.windows {
            if self.timing.is_closed(&share.window, combined) {
                outcome.dropped += 1;
                continue;
            }
            let reported = &self.reported;
            let open = self
                .open
                .entry(share.window.start_ms)
                .or_insert_with(|| MergeWindow {
                    window: share.window,
                    shares: BTreeMap::new(),
                    origin: Origin {
                        offset,
                        clock_before: reported.clone(),
                    },
                    early: false,
                });
            open.shares
                .insert(message.source_partition, share.logins.clone());
            open.early |= !share.is_final;
        }
        if let Some(wm) = message.watermark {
            let entry = self.reported.entry(message.source_partition).or_insert(wm);
            *entry = (*entry).max(wm);
        }
        self.next_offset = Some(offset + 1);
        let combined = self.watermark();
        while let Some(entry) = self.open.first_entry() {
            if !self.timing.is_closed(&entry.get().window, combined) {
                break;
            }
            let window = entry.remove();
            closed.push(merge_in_order(window.shares.values()).stats(window.window, true));
        }
        outcome
    }

    /// Where a replay must start to rebuild this merger; `None` before any message.
    pub fn checkpoint(&self) -> Option<Checkpoint<Reported>> {
        let next_offset = self.next_offset?;
        Some(checkpoint_from(
            next_offset,
            &self.reported,
            self.open.values().map(|w| &w.origin),
        ))
    }

    /// Non-final statistics of the windows early shares changed since the last call.
    pub fn early_stats(&mut self) -> Vec<LoginStats> {
        self.open
            .values_mut()
            .filter(|w| w.early)
            .map(|w| {
                w.early = false;
                merge_in_order(w.shares.values()).stats(w.window, false)
            })
            .collect()
    }

    /// Open windows: the merger's size.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logins::tests::login;
    use crate::operators::{LoginOperator, PartialWindow};
    use crate::window::{Lateness, WindowSpec};

    fn timing() -> Timing {
        Timing::new(
            WindowSpec::tumbling(1_000).unwrap(),
            Lateness {
                out_of_orderness_ms: 0,
                grace_ms: 0,
            },
        )
    }

    fn share(window: Window, users: &[&str], is_final: bool) -> PartialWindow {
        let mut logins = LoginAccumulator::new();
        for u in users {
            logins.add(&login(u, "RU", "web", "2.3.0"));
        }
        PartialWindow {
            window,
            logins,
            is_final,
        }
    }

    const W0: Window = Window {
        start_ms: 0,
        end_ms: 1_000,
    };

    #[test]
    fn a_window_closes_only_when_every_partition_has_passed_it() {
        let mut merger = LoginMerger::new(timing(), 2);
        let mut closed = Vec::new();
        let from = |p: i32, wm: i64, windows: Vec<PartialWindow>| PartialMessage {
            source_partition: p,
            watermark: Some(wm),
            windows,
        };
        merger.process(
            0,
            &from(0, 1_500, vec![share(W0, &["a", "b"], true)]),
            &mut closed,
        );
        assert!(closed.is_empty(), "partition 1 has not reported");
        assert_eq!(merger.watermark(), None);
        merger.process(1, &from(1, 800, vec![]), &mut closed);
        assert!(closed.is_empty(), "partition 1 is still inside [0, 1000)");
        assert_eq!(merger.watermark(), Some(800));
        merger.process(
            2,
            &from(1, 1_000, vec![share(W0, &["b", "c"], true)]),
            &mut closed,
        );
        assert_eq!(closed.len(), 1);
        let stats = &closed[0];
        assert_eq!(stats.logins, 4);
        assert_eq!(stats.distinct_users_estimate, 3, "b is counted once");
        assert!(stats.r#final);
        // A share for the closed window would double it: dropped and counted.
        let outcome = merger.process(
            3,
            &from(0, 1_600, vec![share(W0, &["z"], true)]),
            &mut closed,
        );
        assert_eq!(outcome.dropped, 1);
        assert_eq!(closed.len(), 1);
    }

    #[test]
    fn merged_statistics_do_not_depend_on_how_partitions_interleave() {
        // Three login partitions with their own event times; their messages reach the
        // merger in two different interleavings.
        let mut messages: Vec<Vec<PartialMessage>> = Vec::new();
        for p in 0..3 {
            let mut op = LoginOperator::new(timing(), p);
            let mut out = Vec::new();
            for i in 0..200i64 {
                let t = i * 30 + i64::from(p) * 7 + (i * 7919) % 400;
                op.process(
                    i,
                    t,
                    &login(
                        &format!("u{}", (i * 3 + i64::from(p)) % 97),
                        "RU",
                        "web",
                        "2.3.0",
                    ),
                    &mut out,
                );
            }
            messages.push(out);
        }
        let run = |order: &[(usize, usize)]| {
            let mut merger = LoginMerger::new(timing(), 3);
            let mut closed = Vec::new();
            for (offset, &(p, i)) in order.iter().enumerate() {
                merger.process(offset as i64, &messages[p][i], &mut closed);
            }
            closed
        };
        let by_partition: Vec<(usize, usize)> = (0..3)
            .flat_map(|p| (0..messages[p].len()).map(move |i| (p, i)))
            .collect();
        let mut round_robin = Vec::new();
        for i in 0..messages.iter().map(Vec::len).max().unwrap() {
            for (p, m) in messages.iter().enumerate() {
                if i < m.len() {
                    round_robin.push((p, i));
                }
            }
        }
        let a = run(&by_partition);
        let b = run(&round_robin);
        assert!(a.len() > 3);
        let key = |s: &LoginStats| s.window_start_ms;
        let mut a_sorted = a.clone();
        a_sorted.sort_by_key(key);
        let mut b_sorted = b.clone();
        b_sorted.sort_by_key(key);
        assert_eq!(a_sorted, b_sorted);
    }

    #[test]
    fn early_shares_give_early_results_and_the_final_share_replaces_them() {
        let mut merger = LoginMerger::new(timing(), 1);
        let mut closed = Vec::new();
        let early = PartialMessage {
            source_partition: 0,
            watermark: Some(100),
            windows: vec![share(W0, &["a"], false)],
        };
        merger.process(0, &early, &mut closed);
        let results = merger.early_stats();
        assert_eq!(results.len(), 1);
        assert!(!results[0].r#final);
        assert!(merger.early_stats().is_empty());
        let last = PartialMessage {
            source_partition: 0,
            watermark: Some(1_000),
            windows: vec![share(W0, &["a", "b"], true)],
        };
        merger.process(1, &last, &mut closed);
        assert_eq!(closed.len(), 1);
        assert_eq!(
            closed[0].logins, 2,
            "the final share replaced the early one"
        );
    }

    #[test]
    fn replay_from_a_checkpoint_closes_the_same_windows() {
        let mut messages = Vec::new();
        for p in 0..2 {
            let mut op = LoginOperator::new(timing(), p);
            for i in 0..150i64 {
                let t = i * 40 + (i * 31 + i64::from(p) * 13) % 300;
                op.process(
                    i,
                    t,
                    &login(&format!("u{i}"), "DE", "web", "2.3.0"),
                    &mut messages,
                );
            }
        }
        // Interleave: the first half of each, then the rest.
        let mut whole = LoginMerger::new(timing(), 2);
        let mut all = Vec::new();
        for (offset, m) in messages.iter().enumerate() {
            whole.process(offset as i64, m, &mut all);
        }
        for cut in (1..messages.len()).step_by(11) {
            let mut first = LoginMerger::new(timing(), 2);
            let mut closed = Vec::new();
            for (offset, m) in messages.iter().enumerate().take(cut) {
                first.process(offset as i64, m, &mut closed);
            }
            let checkpoint = first.checkpoint().unwrap();
            let mut rebuilt = LoginMerger::replaying(timing(), 2, &checkpoint);
            let mut discarded = Vec::new();
            for (offset, m) in messages
                .iter()
                .enumerate()
                .take(cut)
                .skip(checkpoint.replay_from as usize)
            {
                rebuilt.process(offset as i64, m, &mut discarded);
            }
            for (offset, m) in messages.iter().enumerate().skip(cut) {
                rebuilt.process(offset as i64, m, &mut closed);
            }
            assert_eq!(closed, all, "cut at {cut}");
        }
    }
}
