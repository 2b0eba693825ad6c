//! How far a CIDR reaches: the whole internet, some public addresses, or only private ones.
//!
//! The prefix length decides, not the text: `208.236.235.254/0` (seen in real logs) is the whole
//! IPv4 internet just like `0.0.0.0/0`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Only private, loopback, link-local or shared (CGNAT) addresses.
    Private,
    /// Some public addresses, not all.
    Public,
    /// Every address of its family (prefix length 0).
    World,
}

impl Reach {
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Private => "private",
            Reach::Public => "public",
            Reach::World => "world",
        }
    }
}

/// A parsed CIDR, canonical (host bits cleared) so that equal rules compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub len: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (a, l) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len: u8 = match l {
            Some(l) => l.parse().ok().filter(|&n| n <= max)?,
            None => max,
        };
        Some(Cidr {
            addr: mask(addr, len),
            len,
        })
    }

    pub fn reach(&self) -> Reach {
        if self.len == 0 {
            return Reach::World;
        }
        let inside_private = match self.addr {
            IpAddr::V4(a) => PRIVATE_V4
                .iter()
                .any(|&(net, l)| self.len >= l && mask_v4(a, l) == net),
            IpAddr::V6(a) => PRIVATE_V6
                .iter()
                .any(|&(net, l)| self.len >= l && mask_v6(a, l) == net),
        };
        if inside_private {
            Reach::Private
        } else {
            Reach::Public
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

const PRIVATE_V4: [(Ipv4Addr, u8); 6] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
];
const PRIVATE_V6: [(Ipv6Addr, u8); 3] = [
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::LOCALHOST, 128),
];

fn mask_v4(a: Ipv4Addr, len: u8) -> Ipv4Addr {
    let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ipv4Addr::from(u32::from(a) & m)
}

fn mask_v6(a: Ipv6Addr, len: u8) -> Ipv6Addr {
    let m = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    Ipv6Addr::from(u128::from(a) & m)
}

fn mask(a: IpAddr, len: u8) -> IpAddr {
    match a {
        IpAddr::V4(a) => IpAddr::V4(mask_v4(a, len)),
        IpAddr::V6(a) => IpAddr::V6(mask_v6(a, len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(s: &str) -> Option<Reach> {
        Cidr::parse(s).map(|c| c.reach())
    }

    #[test]
    fn reaches() {
        assert_eq!(reach("0.0.0.0/0"), Some(Reach::World));
        assert_eq!(reach("208.236.235.254/0"), Some(Reach::World));
        assert_eq!(reach("::/0"), Some(Reach::World));
        assert_eq!(reach("2001:db8::/0"), Some(Reach::World));
        assert_eq!(reach("10.0.0.0/8"), Some(Reach::Private));
        assert_eq!(reach("172.16.0.0/12"), Some(Reach::Private));
        assert_eq!(reach("172.0.0.0/8"), Some(Reach::Public));
        assert_eq!(reach("192.168.10.0/24"), Some(Reach::Private));
        assert_eq!(reach("203.0.113.7/32"), Some(Reach::Public));
        assert_eq!(reach("203.0.113.7"), Some(Reach::Public));
        assert_eq!(reach("0.0.0.0/1"), Some(Reach::Public));
        assert_eq!(reach("fd00::/8"), Some(Reach::Private));
        assert_eq!(reach("2600::/16"), Some(Reach::Public));
        assert_eq!(reach("1.2.3.4/33"), None);
        assert_eq!(reach("nonsense"), None);
    }

    #[test]
    fn canonical() {
        assert_eq!(Cidr::parse("208.236.235.254/0"), Cidr::parse("0.0.0.0/0"));
        assert_eq!(
            Cidr::parse("10.1.2.3/16").unwrap().to_string(),
            "10.1.0.0/16"
        );
    }
}
