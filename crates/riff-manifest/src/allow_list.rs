//! `allowed_outbound_hosts`: parsing the manifest's entries and matching a destination against
//! them. A leaf: the manifest checks entries at load time with it, without the capability.

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
            "http" | "https" => Some(scheme.to_string()),
            other => return Err(format!("{entry:?}: unsupported scheme {other:?} (use http, https or *)")),
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(format!("{entry:?}: give a scheme, host and port only, no path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
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
        _ => None,
    }
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
