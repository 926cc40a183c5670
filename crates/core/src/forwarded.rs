//! The client's address behind reverse proxies: `X-Forwarded-For` is believed only as far as
//! it was written by proxies the operator named (`--trusted-proxy`).
//!
//! Each proxy appends the address of the peer it heard from, so the list reads client first,
//! nearest proxy last, and anything to the left of the last trusted proxy may have been made up
//! by the client. The client is therefore the rightmost address that is not a trusted proxy,
//! walking left from the TCP peer; a peer that is not a trusted proxy is the client, whatever
//! the header says.

use crate::Invalid;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block, `10.0.0.0/8` or `::1` (a single address is a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    base: IpAddr,
    prefix: u8,
}

impl IpBlock {
    /// Whether `ip` lies in the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpBlock {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        let refuse = || {
            Invalid::new(format!(
                "'{s}' is not an IP address or block like 10.0.0.0/8"
            ))
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let base = addr.parse::<IpAddr>().map_err(|_| refuse())?.to_canonical();
        let bits = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(refuse)?,
            Some(_) => return Err(refuse()),
            None => bits,
        };
        Ok(IpBlock { base, prefix })
    }
}

impl std::fmt::Display for IpBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` is believed; empty (the default) believes none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpBlock>);

impl TrustedProxies {
    /// Trusts the given blocks.
    pub fn new(blocks: Vec<IpBlock>) -> Self {
        TrustedProxies(blocks)
    }

    /// Parses each of `items` as an address or block.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, Invalid> {
        items
            .into_iter()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// The blocks, for showing the configuration.
    pub fn blocks(&self) -> &[IpBlock] {
        &self.0
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|b| b.contains(ip))
    }

    /// The client's address for a request from `peer` carrying the `X-Forwarded-For` header
    /// lines `forwarded_for` (in the order received): the rightmost hop that is not a trusted
    /// proxy. A hop that cannot be read ends the walk at the trusted proxy that reported it.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|line| line.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.trusts(ip) => client = ip,
                Some(ip) => return ip,
                None => return client,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5`, `[::1]:5`), as
/// some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest
            .split_once(']')?
            .0
            .parse::<IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical());
    }
    let (addr, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(items: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(items.iter().copied()).unwrap()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let cases = [
            ("10.0.0.0/8", "10.200.3.4", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "::1", false),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "fe80::1", false),
            ("::1", "::1", true),
            ("::/0", "2001:db8::1", true),
            ("192.168.1.0/24", "::ffff:192.168.1.7", true),
            ("::ffff:192.168.1.7", "192.168.1.7", true),
        ];
        for (block, addr, inside) in cases {
            let b: IpBlock = block.parse().unwrap();
            assert_eq!(b.contains(ip(addr)), inside, "{block} ∋ {addr}");
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0/8",
            "x",
            "10.0.0.0/+8",
        ] {
            assert!(bad.parse::<IpBlock>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_header_is_believed_only_from_trusted_proxies() {
        let t = trusted(&["10.0.0.0/8"]);
        let cases: &[(&str, &[&str], &str)] = &[
            // An untrusted peer is the client, whatever it claims.
            ("203.0.113.9", &["198.51.100.1"], "203.0.113.9"),
            // A trusted proxy without the header: the proxy itself.
            ("10.0.0.1", &[], "10.0.0.1"),
            ("10.0.0.1", &["198.51.100.1"], "198.51.100.1"),
            // The client's own made-up entries stay to the left of the real one.
            ("10.0.0.1", &["1.1.1.1, 198.51.100.1"], "198.51.100.1"),
            (
                "10.0.0.1",
                &["1.1.1.1", "198.51.100.1, 10.0.0.2"],
                "198.51.100.1",
            ),
            // Every hop trusted: the leftmost.
            ("10.0.0.1", &["10.0.0.3, 10.0.0.2"], "10.0.0.3"),
            // Unreadable hops stop the walk at the proxy that reported them.
            ("10.0.0.1", &["198.51.100.1, garbage"], "10.0.0.1"),
            ("10.0.0.1", &["garbage, 10.0.0.2"], "10.0.0.2"),
            ("10.0.0.1", &["198.51.100.1:4711"], "198.51.100.1"),
            ("10.0.0.1", &["[2001:db8::7]:4711"], "2001:db8::7"),
            ("::ffff:10.0.0.1", &["2001:db8::7"], "2001:db8::7"),
        ];
        for (peer, header, client) in cases {
            assert_eq!(
                t.client(ip(peer), header.iter().copied()),
                ip(client),
                "{peer} {header:?}"
            );
        }
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), ["198.51.100.1"]),
            ip("10.0.0.1"),
            "nobody is trusted by default"
        );
    }

    proptest! {
        /// Whatever the header says, the client is the peer or an address the header names
        /// to the left of nothing but trusted proxies: a client cannot pick an address past
        /// an untrusted hop.
        #[test]
        fn the_client_is_never_left_of_an_untrusted_hop(
            hops in proptest::collection::vec((any::<bool>(), any::<[u8; 4]>()), 0..6),
            peer_trusted in any::<bool>(),
        ) {
            let t = trusted(&["10.0.0.0/8"]);
            let addr = |(trusted, b): (bool, [u8; 4])| {
                if trusted { IpAddr::from([10, b[1], b[2], b[3]]) }
                else { IpAddr::from([192, b[1], b[2], b[3]]) }
            };
            let peer = if peer_trusted { ip("10.9.9.9") } else { ip("192.0.2.1") };
            let list: Vec<IpAddr> = hops.iter().copied().map(addr).collect();
            let header = list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let client = t.client(peer, [header.as_str()]);
            let mut expected = peer;
            if peer_trusted {
                for hop in list.iter().rev() {
                    expected = *hop;
                    if !t.trusts(*hop) {
                        break;
                    }
                }
            }
            prop_assert_eq!(client, expected);
        }
    }
}
