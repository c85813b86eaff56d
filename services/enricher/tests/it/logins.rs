//! User login rules: validation of every field, normalisation, derived fields.

use ferroflow_enricher::LoginEnricher;
use ferroflow_enricher::rules::DEVICE_TYPES;
use ferroflow_schema::{EnrichedUserLogin, UserLogin};

use crate::helpers::{NO_SKEW, NOW_MS, SKEW_MS, login_enricher, reason, sample_login};

fn with(edit: impl FnOnce(&mut UserLogin)) -> UserLogin {
    let mut login = sample_login();
    edit(&mut login);
    login
}

fn enrich_one(login: UserLogin) -> EnrichedUserLogin {
    let shown = format!("{login:?}");
    login_enricher().enrich(login, NOW_MS).expect(&shown)
}

#[test]
fn sample_login_is_enriched_with_every_derived_field() {
    let enriched = enrich_one(sample_login());
    assert_eq!(
        enriched,
        EnrichedUserLogin {
            user_id: "424cdd21-063a-43a7-b91b-7ca1a833afae".into(),
            app_version: "2.3.0".into(),
            device_type: "android".into(),
            ip: "199.172.111.135".into(),
            locale: "RU".into(),
            device_id: "593-47-5928".into(),
            event_time_rfc3339: "2023-09-12T00:45:51Z".into(),
            timestamp_seconds: 1_694_479_551,
            version_major: 2,
            version_minor: 3,
            version_patch: 0,
            version_outdated: false,
            ip_version: 4,
            ip_private: false,
            ip_anonymized: "199.172.111.0".into(),
            country: "Russian Federation".into(),
        }
    );
}

#[test]
fn fields_are_normalised() {
    let enriched = enrich_one(with(|l| {
        l.user_id = "424CDD21-063A-43A7-B91B-7CA1A833AFAE".into();
        l.device_type = "iOS".into();
        l.locale = "us".into();
        l.ip = "2001:0DB8:85A3:0000:0000:8A2E:0370:7334".into();
    }));
    assert_eq!(enriched.user_id, "424cdd21-063a-43a7-b91b-7ca1a833afae");
    assert_eq!(enriched.device_type, "ios");
    assert_eq!(enriched.locale, "US");
    assert_eq!(enriched.country, "United States of America");
    assert_eq!(enriched.ip, "2001:db8:85a3::8a2e:370:7334");
}

#[test]
fn every_listed_device_type_is_accepted_in_any_case() {
    for device in DEVICE_TYPES {
        for form in [device.to_string(), device.to_uppercase()] {
            let enriched = enrich_one(with(|l| l.device_type = form.clone()));
            assert_eq!(enriched.device_type, *device);
        }
    }
}

#[test]
fn ipv6_is_anonymised_to_its_48_bit_prefix() {
    let enriched = enrich_one(with(|l| {
        l.ip = "2001:db8:85a3:8d3:1319:8a2e:370:7348".into();
    }));
    assert_eq!(enriched.ip_version, 6);
    assert!(!enriched.ip_private);
    assert_eq!(enriched.ip_anonymized, "2001:db8:85a3::");

    let local = enrich_one(with(|l| l.ip = "fd12:3456:789a:1::1".into()));
    assert!(local.ip_private);
    assert_eq!(local.ip_anonymized, "fd12:3456:789a::");
}

#[test]
fn private_ipv4_ranges_are_flagged() {
    for (ip, private, anonymized) in [
        ("10.1.2.3", true, "10.1.2.0"),
        ("192.168.0.17", true, "192.168.0.0"),
        ("172.20.1.1", true, "172.20.1.0"),
        ("127.0.0.1", true, "127.0.0.0"),
        ("169.254.1.1", true, "169.254.1.0"),
        ("100.100.100.100", true, "100.100.100.0"),
        ("8.8.8.8", false, "8.8.8.0"),
    ] {
        let enriched = enrich_one(with(|l| l.ip = ip.into()));
        assert_eq!(
            (enriched.ip_private, enriched.ip_anonymized.as_str()),
            (private, anonymized),
            "{ip}"
        );
    }
}

#[test]
fn version_outdated_once_a_newer_version_is_seen() {
    let mut enricher = login_enricher();
    let mut outdated = |version: &str| {
        enricher
            .enrich(with(|l| l.app_version = version.into()), NOW_MS)
            .expect(version)
            .version_outdated
    };
    assert!(!outdated("2.2.1"), "the first version seen is the newest");
    assert!(!outdated("2.2.1"));
    assert!(!outdated("2.3.0"), "a newer version");
    assert!(outdated("2.2.1"), "now behind 2.3.0");
    assert!(outdated("2.3.0-rc.1"), "a pre-release precedes its release");
    assert!(
        !outdated("2.3.0+build.7"),
        "build metadata has no precedence"
    );
    assert!(!outdated("10.0.0"), "numeric, not lexical, comparison");
    assert!(outdated("9.99.99"));
    assert_eq!(
        enricher.newest_version().map(ToString::to_string),
        Some("10.0.0".to_owned())
    );
}

#[test]
fn rejected_logins_do_not_raise_the_newest_version() {
    let mut enricher = login_enricher();
    enricher.enrich(sample_login(), NOW_MS).expect("valid");
    let bad = with(|l| {
        l.app_version = "99.0.0".into();
        l.ip = "nope".into();
    });
    enricher.enrich(bad, NOW_MS).expect_err("invalid ip");
    let again = enricher.enrich(sample_login(), NOW_MS).expect("valid");
    assert!(!again.version_outdated);
}

#[test]
fn restoring_a_snapshot_undoes_the_newest_version() {
    let mut enricher = login_enricher();
    enricher.enrich(sample_login(), NOW_MS).expect("valid");
    let snapshot = enricher.snapshot();
    enricher
        .enrich(with(|l| l.app_version = "3.0.0".into()), NOW_MS)
        .expect("valid");
    enricher.restore(snapshot);
    assert_eq!(
        enricher.newest_version().map(ToString::to_string),
        Some("2.3.0".to_owned())
    );
}

#[test]
fn semantic_versions_follow_semver_org() {
    for ok in [
        "0.0.0",
        "1.2.3-alpha",
        "1.2.3-alpha.1",
        "1.2.3-0.3.7",
        "1.2.3-x.7.z.92",
        "1.0.0-alpha+001",
        "1.0.0+20130313144700",
        "1.0.0-beta+exp.sha.5114f85",
        "1.0.0+21AF26D3----117B344092BD",
        "18446744073709551615.0.0",
    ] {
        let enriched = enrich_one(with(|l| l.app_version = ok.into()));
        assert_eq!(enriched.app_version, ok);
    }
    let enriched = enrich_one(with(|l| l.app_version = "1.2.3-rc.1+b5".into()));
    assert_eq!(
        (
            enriched.version_major,
            enriched.version_minor,
            enriched.version_patch
        ),
        (1, 2, 3)
    );
}

#[test]
fn malformed_logins_are_rejected_with_their_reason() {
    type Edit = fn(&mut UserLogin);
    let corpus: &[(Edit, (&str, &str))] = &[
        (
            |l| l.user_id = String::new(),
            ("invalid_user_id", "user_id"),
        ),
        (
            |l| l.user_id = "not-a-uuid".into(),
            ("invalid_user_id", "user_id"),
        ),
        (
            |l| l.user_id = "424cdd21-063a-43a7-b91b-7ca1a833afa".into(),
            ("invalid_user_id", "user_id"),
        ),
        (
            |l| l.user_id = "424cdd21-063a-43a7-b91b-7ca1a833afaz".into(),
            ("invalid_user_id", "user_id"),
        ),
        (
            |l| l.user_id = " 424cdd21-063a-43a7-b91b-7ca1a833afae".into(),
            ("invalid_user_id", "user_id"),
        ),
        (
            |l| l.user_id = "00000000-0000-0000-0000-000000000000".into(),
            ("invalid_user_id", "user_id"),
        ),
        (
            |l| l.app_version = String::new(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = "2.3".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = "v2.3.0".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = "02.3.0".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = "2.3.0.1".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = "2.3.0-".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = "2.3.0-01".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = "2.3.0+".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = " 2.3.0".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = "2.3.x".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.app_version = "18446744073709551616.0.0".into(),
            ("invalid_app_version", "app_version"),
        ),
        (
            |l| l.device_type = String::new(),
            ("unknown_device_type", "device_type"),
        ),
        (
            |l| l.device_type = "toaster".into(),
            ("unknown_device_type", "device_type"),
        ),
        (
            |l| l.device_type = "android ".into(),
            ("unknown_device_type", "device_type"),
        ),
        (
            |l| l.device_type = "ANDROİD".into(),
            ("unknown_device_type", "device_type"),
        ),
        (|l| l.ip = String::new(), ("invalid_ip", "ip")),
        (|l| l.ip = "199.172.111".into(), ("invalid_ip", "ip")),
        (|l| l.ip = "199.172.111.256".into(), ("invalid_ip", "ip")),
        (|l| l.ip = "199.172.111.035".into(), ("invalid_ip", "ip")),
        (|l| l.ip = "199.172.111.135/24".into(), ("invalid_ip", "ip")),
        (|l| l.ip = "2001:db8::1::1".into(), ("invalid_ip", "ip")),
        (|l| l.ip = "fe80::1%eth0".into(), ("invalid_ip", "ip")),
        (|l| l.ip = "localhost".into(), ("invalid_ip", "ip")),
        (|l| l.locale = String::new(), ("unknown_locale", "locale")),
        (|l| l.locale = "XX".into(), ("unknown_locale", "locale")),
        (|l| l.locale = "RUS".into(), ("unknown_locale", "locale")),
        (|l| l.locale = "ru_RU".into(), ("unknown_locale", "locale")),
        (|l| l.locale = "R".into(), ("unknown_locale", "locale")),
        (|l| l.locale = "Р У".into(), ("unknown_locale", "locale")),
        (
            |l| l.device_id = String::new(),
            ("missing_device_id", "device_id"),
        ),
        (
            |l| l.device_id = " \t".into(),
            ("missing_device_id", "device_id"),
        ),
        (
            |l| l.timestamp = String::new(),
            ("invalid_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "abc".into(),
            ("invalid_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "-1".into(),
            ("invalid_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "+1694479551".into(),
            ("invalid_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "1694479551.5".into(),
            ("invalid_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = " 1694479551".into(),
            ("invalid_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "2023-09-12T00:45:51Z".into(),
            ("invalid_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "0".into(),
            ("implausible_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "946684799".into(),
            ("implausible_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "1694479551000".into(),
            ("implausible_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "99999999999999999999999".into(),
            ("implausible_timestamp", "timestamp"),
        ),
        (
            |l| l.timestamp = "9223372036854775807".into(),
            ("implausible_timestamp", "timestamp"),
        ),
        // Fields are checked in order: the first bad one is reported.
        (
            |l| {
                l.ip = "bad".into();
                l.locale = "bad".into();
            },
            ("invalid_ip", "ip"),
        ),
        (
            |l| {
                l.device_id = String::new();
                l.timestamp = "bad".into();
            },
            ("missing_device_id", "device_id"),
        ),
    ];
    for (edit, want) in corpus {
        let login = with(edit);
        let shown = format!("{login:?}");
        let err = login_enricher().enrich(login, NOW_MS).expect_err(&shown);
        assert_eq!(reason(&err), *want, "{shown}: {err}");
        assert!(err.to_string().len() < 400, "bounded message: {err}");
    }
}

#[test]
fn login_timestamps_within_the_skew_are_plausible() {
    let now_s = NOW_MS / 1000;
    let mut enricher = login_enricher();
    let at = |seconds: i64| with(|l| l.timestamp = seconds.to_string());
    assert!(enricher.enrich(at(now_s + SKEW_MS / 1000), NOW_MS).is_ok());
    let err = enricher
        .enrich(at(now_s + SKEW_MS / 1000 + 1), NOW_MS)
        .expect_err("beyond the skew");
    assert_eq!(reason(&err), ("implausible_timestamp", "timestamp"));
    let mut strict = LoginEnricher::new(NO_SKEW);
    assert!(strict.enrich(at(now_s + 1), NOW_MS).is_err());
}

#[test]
fn millisecond_timestamps_get_a_hint() {
    let err = login_enricher()
        .enrich(with(|l| l.timestamp = "1694479551000".into()), NOW_MS)
        .expect_err("milliseconds");
    assert!(
        err.to_string()
            .ends_with("(epoch milliseconds? expected seconds)"),
        "{err}"
    );
}

#[test]
fn rejection_messages_name_the_field_and_quote_the_value() {
    let err = login_enricher()
        .enrich(with(|l| l.locale = "ZZ".into()), NOW_MS)
        .expect_err("unknown");
    assert_eq!(
        err.to_string(),
        r#"`locale` "ZZ": not an ISO 3166-1 alpha-2 country code"#
    );
    let err = login_enricher()
        .enrich(with(|l| l.device_id = String::new()), NOW_MS)
        .expect_err("empty");
    assert_eq!(err.to_string(), "`device_id` is empty");
    let err = login_enricher()
        .enrich(with(|l| l.app_version = "2.3".into()), NOW_MS)
        .expect_err("short");
    assert!(
        err.to_string().starts_with(r#"`app_version` "2.3": "#),
        "{err}"
    );
    let huge = "x".repeat(1 << 20);
    let err = login_enricher()
        .enrich(with(|l| l.user_id = huge), NOW_MS)
        .expect_err("huge");
    assert!(err.to_string().len() < 300, "{err}");
}
