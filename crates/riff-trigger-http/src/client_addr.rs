//! The client's address, as components see it in `spin-client-addr`.
//!
//! It comes from the socket. A client header (`X-Forwarded-For`) is believed only when the
//! socket's peer is a proxy the operator named with `--trusted-proxy`: then the client is the
//! right-most address in that header that is not itself a trusted proxy (each proxy appends the
//! address it saw, so entries to the left of the last untrusted one may be forged). Auth's
//! per-client login throttling keys on this address, so believing any client header by default
//! would let a guesser pick a fresh address per attempt.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// Networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// Parse `--trusted-proxy` values: an address (`10.0.0.7`) or a network (`10.0.0.0/8`).
    pub fn parse(values: &[String]) -> Result<Self, String> {
        values
            .iter()
            .map(|v| {
                v.parse::<IpNet>().or_else(|_| v.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                    format!("--trusted-proxy {v:?}: expected an IP address or a network like 10.0.0.0/8")
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy that forwarded the
    /// request for someone else.
    pub fn client_addr(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if self.0.is_empty() || !self.trusts(peer.ip()) {
            return peer;
        }
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else { return peer };
            for hop in text.split(',') {
                match parse_hop(hop.trim()) {
                    Some(ip) => hops.push(ip),
                    None => return peer, // a malformed chain proves nothing
                }
            }
        }
        hops.into_iter().rev().find(|ip| !self.trusts(*ip)).map(|ip| SocketAddr::new(ip, 0)).unwrap_or(peer)
    }
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn without_trusted_proxies_the_socket_is_the_client() {
        let peer: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        assert_eq!(TrustedProxies::default().client_addr(peer, &headers("198.51.100.1")), peer);
    }

    #[test]
    fn an_untrusted_peer_cannot_forge_its_address() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let peer: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        assert_eq!(proxies.client_addr(peer, &headers("198.51.100.1")), peer);
    }

    #[test]
    fn a_trusted_proxy_names_the_right_most_untrusted_hop() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.1".into()]).unwrap();
        let peer: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let client = proxies.client_addr(peer, &headers("1.1.1.1, 198.51.100.7, 192.0.2.1"));
        assert_eq!(client.ip(), "198.51.100.7".parse::<IpAddr>().unwrap());
        let malformed = proxies.client_addr(peer, &headers("1.1.1.1, not-an-ip"));
        assert_eq!(malformed, peer);
        assert_eq!(proxies.client_addr(peer, &HeaderMap::new()), peer);
    }

    #[test]
    fn bad_proxy_values_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }
}
