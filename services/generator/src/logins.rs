//! User logins with the variety of a real app's traffic: a pool of returning users, each
//! with a stable device, several app versions (most on the newest), mixed-case device
//! types and locales as real clients send them, IPv4 and IPv6, public and private.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroflow_schema::UserLogin;
use rand::Rng;
use rand::seq::IndexedRandom;

const APP_VERSIONS: &[(&str, u32)] = &[
    ("2.3.0", 45),
    ("2.2.1", 25),
    ("2.1.0", 12),
    ("2.0.4", 8),
    ("1.9.7", 6),
    ("1.8.0", 4),
];
const DEVICE_TYPES: &[(&str, u32)] = &[
    ("android", 45),
    ("iOS", 35),
    ("web", 12),
    ("Android", 4),
    ("ios", 4),
];
const LOCALES: &[(&str, u32)] = &[
    ("US", 20),
    ("IN", 12),
    ("RU", 8),
    ("DE", 8),
    ("BR", 8),
    ("GB", 7),
    ("FR", 6),
    ("JP", 6),
    ("CN", 5),
    ("ES", 4),
    ("IT", 4),
    ("CA", 4),
    ("MX", 3),
    ("us", 1),
];

struct User {
    user_id: String,
    device_id: String,
    device_type: &'static str,
    locale: &'static str,
}

/// Makes logins for a fixed pool of users.
pub struct LoginModel {
    users: Vec<User>,
}

fn weighted<'a>(rng: &mut impl Rng, table: &[(&'a str, u32)]) -> &'a str {
    table
        .choose_weighted(rng, |(_, w)| *w)
        .map(|(v, _)| *v)
        .unwrap_or(table[0].0)
}

impl LoginModel {
    /// A pool of `users` users.
    pub fn new(users: usize, rng: &mut impl Rng) -> Self {
        let users = (0..users.max(1))
            .map(|_| User {
                user_id: uuid::Builder::from_random_bytes(rng.random())
                    .into_uuid()
                    .to_string(),
                device_id: format!(
                    "{:03}-{:02}-{:04}",
                    rng.random_range(100..1000),
                    rng.random_range(10..100),
                    rng.random_range(1000..10_000)
                ),
                device_type: weighted(rng, DEVICE_TYPES),
                locale: weighted(rng, LOCALES),
            })
            .collect();
        LoginModel { users }
    }

    /// The next login, at `timestamp_s` epoch seconds.
    pub fn next_login(&self, rng: &mut impl Rng, timestamp_s: i64) -> UserLogin {
        let user = &self.users[rng.random_range(0..self.users.len())];
        UserLogin {
            user_id: user.user_id.clone(),
            app_version: weighted(rng, APP_VERSIONS).to_string(),
            device_type: user.device_type.to_string(),
            ip: random_ip(rng),
            locale: user.locale.to_string(),
            device_id: user.device_id.clone(),
            timestamp: timestamp_s.to_string(),
        }
    }
}

fn random_ip(rng: &mut impl Rng) -> String {
    match rng.random_range(0..100) {
        // Most traffic: public IPv4.
        0..=64 => loop {
            let ip = Ipv4Addr::from(rng.random::<u32>());
            if !(ip.is_private()
                || ip.is_loopback()
                || ip.is_multicast()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_link_local()
                || ip.octets()[0] >= 224)
            {
                break ip.to_string();
            }
        },
        // Clients behind a corporate network or VPN report private addresses.
        65..=74 => {
            Ipv4Addr::new(10, rng.random(), rng.random(), rng.random_range(1..255)).to_string()
        }
        75..=79 => Ipv4Addr::new(192, 168, rng.random(), rng.random_range(1..255)).to_string(),
        // IPv6: global unicast (2000::/3) and some unique-local (fc00::/7).
        80..=94 => {
            let mut segments: [u16; 8] = rng.random();
            segments[0] = 0x2000 | (segments[0] & 0x1fff);
            Ipv6Addr::from(segments).to_string()
        }
        _ => {
            let mut segments: [u16; 8] = rng.random();
            segments[0] = 0xfd00 | (segments[0] & 0x00ff);
            Ipv6Addr::from(segments).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use std::collections::HashSet;
    use std::net::IpAddr;

    #[test]
    fn logins_have_the_published_shape_and_real_variety() {
        let mut rng = SmallRng::seed_from_u64(3);
        let model = LoginModel::new(500, &mut rng);
        let logins: Vec<_> = (0..5000)
            .map(|i| model.next_login(&mut rng, 1_694_479_551 + i))
            .collect();
        let v4 = logins
            .iter()
            .filter(|l| l.ip.parse::<IpAddr>().unwrap().is_ipv4())
            .count();
        assert!(v4 > 3000 && v4 < 4500, "{v4} IPv4 of 5000");
        assert!(
            logins
                .iter()
                .all(|l| uuid::Uuid::parse_str(&l.user_id).is_ok())
        );
        assert!(logins.iter().all(|l| l.timestamp.parse::<i64>().is_ok()));
        let versions: HashSet<_> = logins.iter().map(|l| l.app_version.as_str()).collect();
        let devices: HashSet<_> = logins.iter().map(|l| l.device_type.as_str()).collect();
        let locales: HashSet<_> = logins.iter().map(|l| l.locale.as_str()).collect();
        let users: HashSet<_> = logins.iter().map(|l| l.user_id.as_str()).collect();
        assert_eq!(versions.len(), APP_VERSIONS.len());
        assert!(devices.len() >= 4 && locales.len() >= 10);
        assert!(
            users.len() > 400 && users.len() <= 500,
            "returning users: {}",
            users.len()
        );
    }
}
