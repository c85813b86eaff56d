//! Event-time plausibility, shared by ticks and logins, and RFC 3339 output.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

/// 2000-01-01T00:00:00Z in epoch milliseconds: no event of ours is older.
pub const EARLIEST_EVENT_TIME_MS: i64 = 946_684_800_000;

/// 9999-12-31T23:59:59.999Z in epoch milliseconds: the last instant RFC 3339
/// (four-digit years) can write. Later is implausible whatever the clock says.
const LATEST_EVENT_TIME_MS: i64 = 253_402_300_799_999;

/// The allowed future skew in milliseconds, saturating.
pub(crate) fn skew_ms(skew: Duration) -> i64 {
    i64::try_from(skew.as_millis()).unwrap_or(i64::MAX)
}

/// Checks that `event_ms` is not before 2000-01-01 and at most `skew_ms`
/// after `processing_ms`. Returns the broken bound, described.
pub(crate) fn check_plausible(
    event_ms: i64,
    processing_ms: i64,
    skew_ms: i64,
) -> Result<(), String> {
    if event_ms < EARLIEST_EVENT_TIME_MS {
        return Err("before 2000-01-01T00:00:00Z".to_owned());
    }
    let latest = processing_ms.saturating_add(skew_ms);
    if event_ms > latest.min(LATEST_EVENT_TIME_MS) {
        if latest > LATEST_EVENT_TIME_MS {
            return Err("after 9999-12-31T23:59:59Z".to_owned());
        }
        let ahead = Duration::from_millis(event_ms.abs_diff(processing_ms));
        return Err(format!(
            "{} ahead of the processing time {} ms, more than the allowed {}",
            humantime::format_duration(ahead),
            processing_ms,
            humantime::format_duration(Duration::from_millis(skew_ms.unsigned_abs())),
        ));
    }
    Ok(())
}

/// `seconds` since the epoch as RFC 3339 UTC, whole seconds:
/// `2023-09-12T00:45:51Z`. `None` outside years 1970..=9999, which a
/// plausible event time never is.
pub(crate) fn rfc3339_seconds(seconds: i64) -> Option<String> {
    let seconds = u64::try_from(seconds).ok()?;
    if seconds > (LATEST_EVENT_TIME_MS / 1000) as u64 {
        return None;
    }
    let time = UNIX_EPOCH.checked_add(Duration::from_secs(seconds))?;
    let mut text = String::with_capacity(20);
    write!(text, "{}", humantime::format_rfc3339_seconds(time)).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_694_479_551_000;
    const FIVE_MIN: i64 = 300_000;

    #[test]
    fn bounds_are_inclusive() {
        assert_eq!(
            check_plausible(EARLIEST_EVENT_TIME_MS, NOW, FIVE_MIN),
            Ok(())
        );
        assert_eq!(check_plausible(NOW + FIVE_MIN, NOW, FIVE_MIN), Ok(()));
        assert_eq!(check_plausible(NOW - 86_400_000, NOW, FIVE_MIN), Ok(()));
        assert!(check_plausible(EARLIEST_EVENT_TIME_MS - 1, NOW, FIVE_MIN).is_err());
        assert!(check_plausible(NOW + FIVE_MIN + 1, NOW, FIVE_MIN).is_err());
    }

    #[test]
    fn problems_say_which_bound() {
        assert_eq!(
            check_plausible(0, NOW, FIVE_MIN),
            Err("before 2000-01-01T00:00:00Z".to_owned())
        );
        assert_eq!(
            check_plausible(NOW + 3_600_000, NOW, FIVE_MIN),
            Err(
                "1h ahead of the processing time 1694479551000 ms, more than the allowed 5m"
                    .to_owned()
            )
        );
        assert_eq!(
            check_plausible(i64::MAX, i64::MAX, i64::MAX),
            Err("after 9999-12-31T23:59:59Z".to_owned())
        );
        for (event, processing, skew) in [
            (i64::MIN, i64::MIN, i64::MIN),
            (i64::MAX, i64::MIN, i64::MAX),
            (i64::MAX, 0, i64::MIN),
        ] {
            assert!(check_plausible(event, processing, skew).is_err());
        }
    }

    #[test]
    fn rfc3339_formats_utc_whole_seconds() {
        assert_eq!(
            rfc3339_seconds(1_694_479_551).as_deref(),
            Some("2023-09-12T00:45:51Z")
        );
        assert_eq!(
            rfc3339_seconds(946_684_800).as_deref(),
            Some("2000-01-01T00:00:00Z")
        );
        assert_eq!(
            rfc3339_seconds(253_402_300_799).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(rfc3339_seconds(253_402_300_800), None);
        assert_eq!(rfc3339_seconds(-1), None);
    }

    #[test]
    fn skew_saturates() {
        assert_eq!(skew_ms(Duration::from_secs(300)), FIVE_MIN);
        assert_eq!(skew_ms(Duration::MAX), i64::MAX);
    }
}
