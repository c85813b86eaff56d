//! Keeps a stream at its configured rate without a timer per record: each record has a
//! due time (`start + i / rate`), and the stream sleeps only when it is more than a
//! millisecond ahead, so high rates go out in small bursts and low rates evenly.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::Rate;

/// Paces one stream.
pub struct Pacer {
    start: Instant,
    interval: Option<Duration>,
}

impl Pacer {
    /// A pacer for `rate`, starting now.
    pub fn new(rate: Rate) -> Self {
        let interval = match rate {
            Rate::Max => None,
            Rate::PerSecond(r) => Some(Duration::from_secs_f64(1.0 / r)),
        };
        Pacer {
            start: Instant::now(),
            interval,
        }
    }

    /// Waits until record number `index` (from 0) is due.
    pub async fn wait_for(&self, index: u64) {
        if let Some(interval) = self.interval {
            let due = self.start + interval.mul_f64(index as f64);
            if due > Instant::now() + Duration::from_millis(1) {
                tokio::time::sleep_until(due).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ten_per_second_takes_one_second_for_ten_records() {
        let pacer = Pacer::new(Rate::PerSecond(10.0));
        let start = Instant::now();
        for i in 0..=10 {
            pacer.wait_for(i).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn max_rate_never_waits() {
        let pacer = Pacer::new(Rate::Max);
        let start = Instant::now();
        for i in 0..100_000 {
            pacer.wait_for(i).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
