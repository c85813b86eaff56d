//! Login statistics of one window: counts by locale, device type and app version,
//! distinct users (HyperLogLog), the outdated share and the top locales.
//!
//! A [`LoginAccumulator`] holds the logins of one window from one input partition; the
//! accumulators of every partition merge into the window's [`LoginStats`]. Counts add
//! up; the distinct-user sketches merge register by register, which is the sketch of
//! the union, so a user seen in two partitions is still counted once.
//!
//! # Distinct users
//!
//! [`DistinctUsers`] is HyperLogLog++ (the `hyperloglogplus` crate, safe Rust) with
//! precision 14: 2^14 six-bit registers. Small sets stay in its sparse representation
//! (precision 25), where the estimate is all but exact; beyond that the relative
//! standard error is `1.04 / sqrt(2^14)` = 0.8125 % ([`DISTINCT_USERS_RELATIVE_ERROR`]):
//! about 68 % of estimates lie within 1 error of the truth, 99.7 % within 3. The
//! estimate depends only on the set of hashed ids, not on the order of insertion or
//! merging, and the hash is WyHash with a fixed seed, so every process, every replay and
//! the batch recomputation estimate alike.

use std::collections::BTreeMap;

use std::hash::BuildHasher;

use ferroflow_schema::{EnrichedUserLogin, LocaleCount, LoginStats};
use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};

use crate::window::Window;

/// Precision of the distinct-user sketch: 2^14 registers.
pub const HLL_PRECISION: u8 = 14;

/// WyHash with seed 0: the same hash of a user id in every process.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct FixedHasher;

impl BuildHasher for FixedHasher {
    type Hasher = wyhash::WyHash;

    fn build_hasher(&self) -> wyhash::WyHash {
        wyhash::WyHash::with_seed(0)
    }
}

/// The HyperLogLog++ sketch of distinct user ids.
pub type DistinctUsers = HyperLogLogPlus<String, FixedHasher>;

/// Relative standard error of [`DistinctUsers`] in its dense representation:
/// `1.04 / sqrt(2^14)`.
pub const DISTINCT_USERS_RELATIVE_ERROR: f64 = 1.04 / 128.0;

fn new_sketch() -> DistinctUsers {
    #[allow(clippy::expect_used)] // 14 lies within the crate's 4..=18: cannot fail
    HyperLogLogPlus::new(HLL_PRECISION, FixedHasher).expect("valid HyperLogLog precision")
}

/// The sketch's estimate, rounded.
fn estimate(users: &DistinctUsers) -> u64 {
    // `count` folds buffered hashes into the sketch, hence `&mut`; work on a copy.
    users.clone().count().round() as u64
}

/// How many locales `top_locales` lists.
pub const TOP_LOCALES: usize = 10;

/// Logins of one window (from one partition, or merged).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginAccumulator {
    logins: u64,
    outdated: u64,
    by_locale: BTreeMap<String, u64>,
    by_device_type: BTreeMap<String, u64>,
    by_app_version: BTreeMap<String, u64>,
    users: DistinctUsers,
}

impl Default for LoginAccumulator {
    fn default() -> Self {
        LoginAccumulator {
            logins: 0,
            outdated: 0,
            by_locale: BTreeMap::new(),
            by_device_type: BTreeMap::new(),
            by_app_version: BTreeMap::new(),
            users: new_sketch(),
        }
    }
}

impl PartialEq for LoginAccumulator {
    /// Equal counts and an equal distinct-user estimate (the sketch's internal buffers
    /// may hold the same hashes in another arrangement).
    fn eq(&self, other: &Self) -> bool {
        self.logins == other.logins
            && self.outdated == other.outdated
            && self.by_locale == other.by_locale
            && self.by_device_type == other.by_device_type
            && self.by_app_version == other.by_app_version
            && estimate(&self.users) == estimate(&other.users)
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str, by: u64) {
    match map.get_mut(key) {
        Some(n) => *n += by,
        None => {
            map.insert(key.to_string(), by);
        }
    }
}

impl LoginAccumulator {
    /// No logins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one login.
    pub fn add(&mut self, login: &EnrichedUserLogin) {
        self.logins += 1;
        if login.version_outdated {
            self.outdated += 1;
        }
        bump(&mut self.by_locale, &login.locale, 1);
        bump(&mut self.by_device_type, &login.device_type, 1);
        bump(&mut self.by_app_version, &login.app_version, 1);
        // Hashes the str as it would the String: no allocation per login.
        self.users.insert_any(login.user_id.as_str());
    }

    /// Adds the logins of `other` (another partition's share of the same window).
    pub fn merge(&mut self, other: &LoginAccumulator) {
        self.logins += other.logins;
        self.outdated += other.outdated;
        for (mine, theirs) in [
            (&mut self.by_locale, &other.by_locale),
            (&mut self.by_device_type, &other.by_device_type),
            (&mut self.by_app_version, &other.by_app_version),
        ] {
            for (key, n) in theirs {
                bump(mine, key, *n);
            }
        }
        // Both sketches have precision 14, the only error `merge` reports.
        let _ = self.users.merge(&other.users);
    }

    /// Number of logins.
    pub fn logins(&self) -> u64 {
        self.logins
    }

    /// The statistics of `window`.
    pub fn stats(&self, window: Window, is_final: bool) -> LoginStats {
        let mut ranked: Vec<(&String, &u64)> = self.by_locale.iter().collect();
        // Most logins first; ties in locale order (the map's order, kept by a stable sort).
        ranked.sort_by(|a, b| b.1.cmp(a.1));
        LoginStats {
            window_start_ms: window.start_ms,
            window_end_ms: window.end_ms,
            logins: self.logins,
            by_locale: self.by_locale.clone(),
            by_device_type: self.by_device_type.clone(),
            by_app_version: self.by_app_version.clone(),
            distinct_users_estimate: estimate(&self.users),
            distinct_users_relative_error: DISTINCT_USERS_RELATIVE_ERROR,
            outdated_logins: self.outdated,
            outdated_share: if self.logins == 0 {
                0.0
            } else {
                self.outdated as f64 / self.logins as f64
            },
            top_locales: ranked
                .into_iter()
                .take(TOP_LOCALES)
                .map(|(locale, n)| LocaleCount {
                    locale: locale.clone(),
                    logins: *n,
                })
                .collect(),
            r#final: is_final,
        }
    }
}

/// Merges per-partition accumulators of one window, in partition order (counts and
/// sketches merge alike in any order; a fixed one keeps the maps' insertion identical).
pub fn merge_in_order<'a>(
    partials: impl IntoIterator<Item = &'a LoginAccumulator>,
) -> LoginAccumulator {
    let mut merged = LoginAccumulator::new();
    for partial in partials {
        merged.merge(partial);
    }
    merged
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn login(
        user: &str,
        locale: &str,
        device: &str,
        version: &str,
    ) -> EnrichedUserLogin {
        EnrichedUserLogin {
            user_id: user.into(),
            app_version: version.into(),
            device_type: device.into(),
            ip: "192.0.2.1".into(),
            locale: locale.into(),
            device_id: "d".into(),
            event_time_rfc3339: "2023-09-12T00:45:51Z".into(),
            timestamp_seconds: 1_694_479_551,
            version_major: 2,
            version_minor: 3,
            version_patch: 0,
            version_outdated: version == "1.0.0",
            ip_version: 4,
            ip_private: false,
            ip_anonymized: "192.0.2.0".into(),
            country: "".into(),
        }
    }

    const W: Window = Window {
        start_ms: 0,
        end_ms: 60_000,
    };

    #[test]
    fn counts_by_locale_device_and_version_with_outdated_share() {
        let mut acc = LoginAccumulator::new();
        acc.add(&login("u1", "RU", "android", "2.3.0"));
        acc.add(&login("u2", "RU", "ios", "1.0.0"));
        acc.add(&login("u1", "DE", "android", "2.3.0"));
        let stats = acc.stats(W, true);
        assert_eq!(stats.logins, 3);
        assert_eq!(
            stats.by_locale,
            BTreeMap::from([("DE".into(), 1), ("RU".into(), 2)])
        );
        assert_eq!(
            stats.by_device_type,
            BTreeMap::from([("android".into(), 2), ("ios".into(), 1)])
        );
        assert_eq!(stats.by_app_version["2.3.0"], 2);
        assert_eq!(stats.distinct_users_estimate, 2, "u1 twice counts once");
        assert_eq!(stats.outdated_logins, 1);
        assert_eq!(stats.outdated_share, 1.0 / 3.0);
        assert_eq!(stats.distinct_users_relative_error, 0.008_125);
        assert_eq!(stats.key(), "0-60000");
    }

    #[test]
    fn top_locales_are_the_ten_largest_ties_in_locale_order() {
        let mut acc = LoginAccumulator::new();
        let locales = [
            "AA", "BB", "CC", "DD", "EE", "FF", "GG", "HH", "II", "JJ", "KK", "LL",
        ];
        for (i, locale) in locales.iter().enumerate() {
            // LL gets 12 logins, KK 11, …; CC, BB and AA tie at 3.
            for n in 0..(i + 1).max(3) {
                acc.add(&login(&format!("{locale}{n}"), locale, "web", "2.3.0"));
            }
        }
        let top: Vec<(String, u64)> = acc
            .stats(W, true)
            .top_locales
            .into_iter()
            .map(|c| (c.locale, c.logins))
            .collect();
        assert_eq!(top.len(), TOP_LOCALES);
        assert_eq!(top[0], ("LL".into(), 12));
        assert_eq!(top[8], ("DD".into(), 4));
        assert_eq!(top[9], ("AA".into(), 3), "ties go to the earlier locale");
    }

    #[test]
    fn merged_partitions_equal_one_accumulator_over_all_logins() {
        let logins: Vec<EnrichedUserLogin> = (0..5_000)
            .map(|i| {
                login(
                    &format!("user-{}", i % 1_700),
                    ["RU", "US", "DE"][i % 3],
                    "web",
                    "2.3.0",
                )
            })
            .collect();
        let mut whole = LoginAccumulator::new();
        let mut parts = [
            LoginAccumulator::new(),
            LoginAccumulator::new(),
            LoginAccumulator::new(),
        ];
        for (i, l) in logins.iter().enumerate() {
            whole.add(l);
            parts[i % 3].add(l);
        }
        let merged = merge_in_order(&parts).stats(W, true);
        let direct = whole.stats(W, true);
        assert_eq!(merged.by_locale, direct.by_locale);
        assert_eq!(merged.logins, direct.logins);
        // The union's sketch: the very same estimate.
        assert_eq!(
            merged.distinct_users_estimate,
            direct.distinct_users_estimate
        );
        assert_eq!(merged, direct);
    }

    #[test]
    fn small_sets_of_distinct_users_are_counted_exactly() {
        let mut acc = LoginAccumulator::new();
        for i in 0..300 {
            acc.add(&login(&format!("u{i}"), "RU", "web", "2.3.0"));
            acc.add(&login(&format!("u{i}"), "RU", "web", "2.3.0"));
        }
        assert_eq!(acc.stats(W, true).distinct_users_estimate, 300);
    }

    #[test]
    fn distinct_users_estimate_stays_within_three_standard_errors() {
        // Deterministic ids (the hash is seeded), many cardinalities: every estimate
        // must be within 3 relative standard errors, and most within 1.
        let mut within_one = 0;
        let sizes = [500usize, 1_000, 5_000, 20_000, 50_000, 100_000];
        for (round, &n) in sizes.iter().enumerate() {
            let mut acc = LoginAccumulator::new();
            for i in 0..n {
                let user = format!("{round:02}-{i:08x}-4000-8000-000000000000");
                acc.add(&login(&user, "RU", "web", "2.3.0"));
            }
            let estimate = acc.stats(W, true).distinct_users_estimate as f64;
            let error = (estimate - n as f64).abs() / n as f64;
            assert!(
                error <= 3.0 * DISTINCT_USERS_RELATIVE_ERROR,
                "{n} users estimated as {estimate} ({:.3} %)",
                error * 100.0
            );
            if error <= DISTINCT_USERS_RELATIVE_ERROR {
                within_one += 1;
            }
        }
        assert!(
            within_one >= sizes.len() / 2,
            "{within_one} of {} within 1 error",
            sizes.len()
        );
    }

    #[test]
    fn accumulators_survive_serialisation() {
        let mut acc = LoginAccumulator::new();
        for i in 0..1_000 {
            acc.add(&login(&format!("u{i}"), "RU", "web", "1.0.0"));
        }
        let bytes = postcard::to_stdvec(&acc).unwrap();
        let back: LoginAccumulator = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, acc);
        assert_eq!(back.stats(W, true), acc.stats(W, true));
        assert_eq!(merge_in_order([&acc]).stats(W, true), acc.stats(W, true));
    }
}
