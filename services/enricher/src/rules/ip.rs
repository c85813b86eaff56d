//! IP addresses: private ranges and anonymisation.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is not publicly routable in the sense that matters for
/// analytics: IPv4 private (10/8, 172.16/12, 192.168/16), loopback (127/8),
/// link-local (169.254/16) or shared address space for carrier-grade NAT
/// (100.64/10); IPv6 unique-local (fc00::/7), loopback (::1), link-local
/// (fe80::/10), or an IPv4-mapped address (::ffff:a.b.c.d) whose IPv4 address
/// is private.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00
                || v6.is_loopback()
                || (first & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(is_private_v4)
        }
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private() || ip.is_loopback() || ip.is_link_local() || (a == 100 && (b & 0xc0) == 64)
}

/// `ip` with the host part zeroed: its /24 network for IPv4
/// (`199.172.111.135` → `199.172.111.0`), its /48 for IPv6
/// (`2001:db8:85a3:8d3:1319:8a2e:370:7348` → `2001:db8:85a3::`).
pub fn anonymize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (!0u128 << 80))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn private_ranges_are_private() {
        for private in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.10.10",
            "100.64.0.1",
            "100.127.255.255",
            "fc00::1",
            "fd12:3456::1",
            "::1",
            "fe80::1",
            "febf::1",
            "::ffff:10.1.2.3",
        ] {
            assert!(is_private(ip(private)), "{private}");
        }
        for public in [
            "199.172.111.135",
            "8.8.8.8",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.0",
            "2001:db8::1",
            "2a00:1450::1",
            "fec0::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(ip(public)), "{public}");
        }
    }

    #[test]
    fn anonymize_keeps_the_network() {
        assert_eq!(anonymize(ip("199.172.111.135")), ip("199.172.111.0"));
        assert_eq!(anonymize(ip("10.0.0.255")), ip("10.0.0.0"));
        assert_eq!(
            anonymize(ip("2001:db8:85a3:8d3:1319:8a2e:370:7348")).to_string(),
            "2001:db8:85a3::"
        );
        assert_eq!(anonymize(ip("::1")).to_string(), "::");
    }
}
