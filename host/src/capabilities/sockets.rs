//! `wasi:sockets` under `allowed_outbound_hosts`, as Spin grants it: `tcp://host:port` lets a
//! component connect to that address, `udp://host:port` send datagrams to it; hosts may be IP
//! addresses, ranges (`10.0.0.0/8`), `*`, or names — a name allows the addresses it resolves to
//! when the socket connects. Nothing else: no listening sockets, no explicit binds to a chosen
//! address, and name lookup only for a component with a socket grant naming a host.
//!
//! wasmtime-wasi asks [`check`] before every bind, connect and send; a `false` is the guest's
//! `access-denied`.

use std::net::SocketAddr;
use std::sync::Arc;

use riff_outbound_http::AllowList;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::WasiCtxBuilder;

/// Turn on the socket kinds `allow` grants, each connection checked against it.
pub fn grant(wasi: &mut WasiCtxBuilder, allow: &Arc<AllowList>) {
    let tcp = allow.grants_scheme("tcp");
    let udp = allow.grants_scheme("udp");
    let names = !allow.names_for("tcp").is_empty() || !allow.names_for("udp").is_empty();
    wasi.allow_tcp(tcp).allow_udp(udp).allow_ip_name_lookup(names);
    if tcp || udp {
        let allow = allow.clone();
        wasi.socket_addr_check(move |addr, used| {
            let allow = allow.clone();
            Box::pin(async move { check(&allow, addr, used).await })
        });
    }
}

/// May a socket of this component be used at `addr` this way?
pub async fn check(allow: &AllowList, addr: SocketAddr, used: SocketAddrUse) -> bool {
    let scheme = match used {
        // The implicit bind before a connect or a first datagram: to no address in particular.
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
            return addr.ip().is_unspecified() && addr.port() == 0
        }
        SocketAddrUse::TcpConnect => "tcp",
        SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => "udp",
        _ => return false,
    };
    let ip = addr.ip().to_string();
    if allow.allows(scheme, &ip, addr.port()) {
        return true;
    }
    for name in allow.names_for(scheme) {
        if !allow.allows(scheme, &name, addr.port()) {
            continue;
        }
        if let Ok(mut resolved) = tokio::net::lookup_host((name.as_str(), addr.port())).await {
            if resolved.any(|a| a.ip() == addr.ip()) {
                return true;
            }
        }
    }
    tracing::warn!("socket {scheme} to {addr} denied: not in allowed_outbound_hosts");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[tokio::test]
    async fn connects_only_where_granted() {
        let allow = list(&["tcp://127.0.0.0/24:5432", "udp://localhost:53", "https://example.com"]);
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(check(&allow, at("127.0.0.7:5432"), SocketAddrUse::TcpConnect).await);
        assert!(!check(&allow, at("127.0.0.7:5433"), SocketAddrUse::TcpConnect).await);
        assert!(!check(&allow, at("127.0.0.7:5432"), SocketAddrUse::UdpSend).await);
        assert!(check(&allow, at("127.0.0.1:53"), SocketAddrUse::UdpSend).await, "a name resolves");
        assert!(!check(&allow, at("192.0.2.1:53"), SocketAddrUse::UdpReceive).await);
        assert!(check(&allow, at("0.0.0.0:0"), SocketAddrUse::TcpBind).await, "the implicit bind");
        assert!(!check(&allow, at("0.0.0.0:8080"), SocketAddrUse::TcpBind).await, "no chosen port");
        assert!(!check(&allow, at("127.0.0.7:5432"), SocketAddrUse::TcpListen).await, "no servers");
    }
}
