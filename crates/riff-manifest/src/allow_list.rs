//! `allowed_outbound_hosts`: parsing the manifest's entries and matching a destination against
//! them. A leaf: the manifest checks entries at load time with it, without the capability.
//!
//! Schemes: `http` and `https` (outbound HTTP), `tcp` and `udp` (`wasi:sockets`; a port is
//! required), `redis`, `rediss`, `postgres`, `mysql`, `mqtt` and `mqtts` (Spin's outbound database and
//! messaging interfaces; a missing port means the scheme's well-known one, as in Spin), `*` for any. Hosts: a name, `*.suffix`, `*`, an IP address, or an IP range in CIDR
//! form (`127.0.0.0/24`), as Spin writes them.

use std::net::IpAddr;

use ipnet::IpNet;

/// One parsed `allowed_outbound_hosts` entry, e.g. `https://*.example.com:8443`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>, // None = any
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`: any subdomain (not the apex).
    Suffix(String),
    /// `10.0.0.0/8`: any address in the range.
    Range(IpNet),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    /// Omitted: the scheme's default port.
    Default,
    Exact(u16),
}

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<Self, String> {
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| format!("{entry:?} needs a scheme, e.g. \"https://{entry}\""))?;
        let scheme = match scheme {
            "*" => None,
            "http" | "https" | "tcp" | "udp" | "redis" | "rediss" | "postgres" | "mysql" | "mqtt"
            | "mqtts" => Some(scheme.to_string()),
            other => {
                return Err(format!(
                    "{entry:?}: unsupported scheme {other:?} (use http, https, tcp, udp, redis, rediss, \
                     postgres, mysql, mqtt, mqtts or *)"
                ))
            }
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') && (!h.ends_with(']') || h.starts_with('[')) => (h, Some(p)),
            _ => (rest, None),
        };
        let host = host.to_ascii_lowercase();
        let host = if let Some((address, prefix)) = host.split_once('/') {
            let address = address.trim_matches(|c| c == '[' || c == ']');
            if address.parse::<IpAddr>().is_err() {
                return Err(format!("{entry:?}: give a scheme, host and port only, no path"));
            }
            let range = format!("{address}/{prefix}").parse::<IpNet>();
            HostPattern::Range(range.map_err(|e| format!("{entry:?}: bad address range: {e}"))?)
        } else if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains('*') {
                return Err(format!("{entry:?}: bad wildcard host"));
            }
            HostPattern::Suffix(format!(".{suffix}"))
        } else if host.is_empty() || host.contains('*') {
            return Err(format!("{entry:?}: bad host"));
        } else {
            HostPattern::Exact(host)
        };
        let port = match port {
            None => PortPattern::Default,
            Some("*") => PortPattern::Any,
            Some(p) => PortPattern::Exact(p.parse().map_err(|_| format!("{entry:?}: bad port {p:?}"))?),
        };
        if port == PortPattern::Default && matches!(scheme.as_deref(), Some("tcp" | "udp")) {
            return Err(format!("{entry:?}: a socket grant needs a port (or *), e.g. \"{entry}:5432\""));
        }
        Ok(Self { scheme, host, port })
    }

    /// Does a request to `scheme://host:port` fall under this entry?
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if let Some(s) = &self.scheme {
            if s != scheme {
                return false;
            }
        }
        let host = host.to_ascii_lowercase();
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => *h == host,
            HostPattern::Suffix(s) => host.ends_with(s.as_str()),
            HostPattern::Range(range) => host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| range.contains(&ip)),
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Exact(p) => p == port,
            PortPattern::Default => Some(port) == default_port(scheme),
        };
        host_ok && port_ok
    }
}

/// The port a URL of `scheme` uses when it names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "redis" | "rediss" => Some(6379),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "mqtt" => Some(1883),
        "mqtts" => Some(8883),
        _ => None,
    }
}

/// `address` as a URL that has a host. The user information is percent-encoded first, so that
/// a password holding `/`, `?`, `#` or `@` does not change where the host starts.
fn parse_with_host(address: &str) -> Option<url::Url> {
    let start = address.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = address[start..].find('/').map(|i| start + i).unwrap_or(address.len());
    let encoded = match address[start..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &address[start..start + at];
            let escaped: String = userinfo
                .bytes()
                .map(
                    |b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") },
                )
                .collect();
            format!("{}{escaped}{}", &address[..start], &address[start + at..])
        }
        None => address.to_string(),
    };
    url::Url::parse(&encoded).ok().filter(|u| u.host_str().is_some_and(|h| !h.is_empty()))
}

/// A component's whole allow-list. Empty means no outbound HTTP at all.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<AllowedHost>);

impl AllowList {
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries.iter().map(|e| AllowedHost::parse(e)).collect::<Result<_, _>>().map(Self)
    }

    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.0.iter().any(|h| h.allows(scheme, host, port))
    }

    /// Does an entry allow connecting to `address`, a URL a guest hands an outbound interface
    /// (`redis://user:pw@cache:6380/0`, `mqtt://broker?client_id=x`)? Read as Spin reads it: an
    /// address that does not parse as a URL with a host is tried again as `{default_scheme}://…`,
    /// a missing port is the scheme's well-known one, and an address that still does not parse
    /// is not allowed. Only the scheme, host and port count; credentials, path and query do not.
    pub fn allows_url(&self, address: &str, default_scheme: &str) -> bool {
        let parsed =
            parse_with_host(address).or_else(|| parse_with_host(&format!("{default_scheme}://{address}")));
        let Some(url) = parsed else { return false };
        let scheme = url.scheme();
        let Some(port) = url.port().or_else(|| default_port(scheme)) else { return false };
        url.host_str().is_some_and(|host| self.allows(scheme, host, port))
    }

    /// Does any entry let `scheme` (`tcp`, `udp`) reach somewhere at all?
    pub fn grants_scheme(&self, scheme: &str) -> bool {
        self.0.iter().any(|h| h.scheme.as_deref().is_none_or(|s| s == scheme))
    }

    /// The host names (not addresses, ranges or wildcards) of the entries that apply to
    /// `scheme`: a socket connects to an address, which is allowed when one of these resolves
    /// to it.
    pub fn names_for(&self, scheme: &str) -> Vec<String> {
        let applies = |h: &&AllowedHost| h.scheme.as_deref().is_none_or(|s| s == scheme);
        self.0
            .iter()
            .filter(applies)
            .filter_map(|h| match &h.host {
                HostPattern::Exact(name)
                    if name.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().is_err() =>
                {
                    Some(name.clone())
                }
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, scheme: &str, host: &str, port: u16) -> bool {
        AllowedHost::parse(entry).unwrap().allows(scheme, host, port)
    }

    #[test]
    fn exact_hosts_and_default_ports() {
        assert!(allows("https://api.example.com", "https", "api.example.com", 443));
        assert!(!allows("https://api.example.com", "http", "api.example.com", 80));
        assert!(!allows("https://api.example.com", "https", "api.example.com", 8443));
        assert!(allows("http://localhost:3000", "http", "localhost", 3000));
        assert!(!allows("http://localhost:3000", "http", "localhost", 3001));
        assert!(allows("http://127.0.0.1:*", "http", "127.0.0.1", 9));
    }

    #[test]
    fn wildcards() {
        assert!(allows("https://*.example.com", "https", "a.example.com", 443));
        assert!(allows("https://*.example.com", "https", "a.b.example.com", 443));
        assert!(!allows("https://*.example.com", "https", "example.com", 443));
        assert!(!allows("https://*.example.com", "https", "badexample.com", 443));
        assert!(allows("*://*:*", "http", "anything", 1234));
        assert!(allows("*://example.com", "https", "EXAMPLE.com", 443));
        assert!(allows("http://*.spin.internal", "http", "catalog.spin.internal", 80));
    }

    #[test]
    fn sockets_and_address_ranges() {
        assert!(allows("tcp://127.0.0.0/24:*", "tcp", "127.0.0.9", 5432));
        assert!(!allows("tcp://127.0.0.0/24:*", "tcp", "127.0.1.9", 5432));
        assert!(!allows("tcp://127.0.0.0/24:*", "udp", "127.0.0.9", 5432));
        assert!(allows("tcp://10.0.0.0/8:6379", "tcp", "10.200.3.4", 6379));
        assert!(!allows("tcp://10.0.0.0/8:6379", "tcp", "10.200.3.4", 6380));
        assert!(allows("udp://[fd00::]/8:53", "udp", "fd12::1", 53));
        assert!(!allows("udp://[fd00::]/8:53", "udp", "127.0.0.1", 53));
        assert!(allows("*://0.0.0.0/0:*", "http", "192.0.2.1", 80));
        assert!(allows("tcp://127.0.0.1:7000", "tcp", "127.0.0.1", 7000));
        let list =
            AllowList::parse(&["tcp://db.internal:5432".into(), "https://example.com".into()]).unwrap();
        assert!(list.grants_scheme("tcp") && !list.grants_scheme("udp"));
        assert_eq!(list.names_for("tcp"), ["db.internal"]);
        assert!(AllowList::parse(&["*://*:*".into()]).unwrap().grants_scheme("udp"));
        for bad in ["tcp://127.0.0.1", "tcp://10.0.0.0/33:*", "tcp://x/8:*", "amqp://cache:5672"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn database_and_messaging_schemes_default_to_their_well_known_ports() {
        assert!(allows("redis://cache", "redis", "cache", 6379));
        assert!(!allows("redis://cache", "redis", "cache", 6380));
        assert!(!allows("redis://cache", "postgres", "cache", 6379));
        assert!(allows("postgres://db.internal", "postgres", "db.internal", 5432));
        assert!(allows("mysql://127.0.0.1", "mysql", "127.0.0.1", 3306));
        assert!(allows("mqtt://broker:*", "mqtt", "broker", 18830));
        assert!(allows("mqtt://broker", "mqtt", "broker", 1883));
        assert!(allows("postgres://10.0.0.0/8:6543", "postgres", "10.1.2.3", 6543));
        assert!(allows("*://db:5432", "postgres", "db", 5432));
    }

    #[test]
    fn addresses_as_outbound_interfaces_hand_them() {
        let list = AllowList::parse(&["redis://cache".into(), "mqtt://127.0.0.1:*".into()]).unwrap();
        assert!(list.allows_url("redis://cache", "redis"));
        assert!(list.allows_url("redis://cache:6379/2", "redis"));
        assert!(list.allows_url("redis://user:p%w?d#x@cache/0", "redis"), "credentials do not count");
        assert!(list.allows_url("redis://:s3cr@t@cache", "redis"), "an unescaped @ in a password");
        assert!(list.allows_url("cache", "redis"), "no scheme: the interface's own");
        assert!(!list.allows_url("redis://cache:6380", "redis"), "another port");
        assert!(!list.allows_url("rediss://cache", "redis"), "another scheme");
        assert!(!list.allows_url("redis://evil.example", "redis"));
        assert!(!list.allows_url("redis://evil.example?host=cache", "redis"));
        assert!(!list.allows_url("", "redis") && !list.allows_url("redis://", "redis"), "no host");
        assert!(list.allows_url("mqtt://127.0.0.1:1883?client_id=a", "mqtt"));
        assert!(list.allows_url("mqtt://127.0.0.1?client_id=a", "mqtt"));
        assert!(!list.allows_url("mqtt://localhost:1883?client_id=a", "mqtt"), "names are not resolved");
    }

    #[test]
    fn bad_entries() {
        for bad in ["example.com", "ftp://x", "https://", "https://a/b", "https://x:port", "https://a*b"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn empty_allow_list_allows_nothing() {
        assert!(!AllowList::default().allows("https", "example.com", 443));
    }
}
