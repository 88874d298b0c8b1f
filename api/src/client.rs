//! Who the client of a request is, for the audit log: its IP address and user agent.
//!
//! The address is the TCP peer's. Behind a reverse proxy or load balancer the peer is the
//! proxy, and the client is named in `X-Forwarded-For`, a header anyone can send: so it is read
//! only when the peer is one of the operator's trusted proxies (`--trusted-proxy`, an address or
//! a network). Then the header is read from the right (the hop the trusted peer added last),
//! skipping addresses that are themselves trusted proxies; the first other address is the
//! client. What a client wrote into the header itself lies further left and is never reached
//! past an untrusted hop. An unreadable hop stops the walk at the last trusted address read.

use std::net::{IpAddr, SocketAddr};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::serve::IncomingStream;
use domain::ClientContext;
pub use ipnet::IpNet;

use crate::tls::TlsListener;
use crate::AppState;

/// A connection's peer address, over plain TCP or built-in TLS (axum's own
/// `ConnectInfo<SocketAddr>` knows only its `TcpListener`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// The header a proxy names the client in.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Parses a `--trusted-proxy` value: an IP address (one host) or a network in CIDR notation.
pub fn parse_trusted_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("`{s}` is neither an IP address nor a network like 10.0.0.0/8"))
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// One `X-Forwarded-For` hop: an address, or an address with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client's address: `peer`, or, when `peer` is a trusted proxy, the address
/// `X-Forwarded-For` names (see the module documentation). `None` without a peer address
/// (a router driven without a socket).
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    // Several headers are one list, in order (RFC 9110, section 5.3).
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    Some(client)
}

/// The client of the request `parts`: address (through [`client_ip`]) and user agent.
pub fn context_of(parts: &Parts, trusted: &[IpNet]) -> ClientContext {
    let peer = parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(Peer(addr))| addr.ip());
    let user_agent = parts
        .headers
        .get(USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    ClientContext::new(
        client_ip(peer, &parts.headers, trusted),
        user_agent.as_deref(),
    )
}

/// The request's client, as an extractor (for routes without a signed-in user: login).
#[derive(Debug, Clone)]
pub struct Client(pub ClientContext);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client(context_of(parts, &state.config.trusted_proxies)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn proxies_parse_as_hosts_or_networks() {
        assert_eq!(
            parse_trusted_proxy("10.0.0.1").unwrap().to_string(),
            "10.0.0.1/32"
        );
        assert_eq!(
            parse_trusted_proxy("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_trusted_proxy("fd00::/8").unwrap().to_string(),
            "fd00::/8"
        );
        assert!(parse_trusted_proxy("proxy.example").is_err());
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let trusted = [parse_trusted_proxy("10.0.0.0/8").unwrap()];
        let headers = xff(&["203.0.113.9"]);
        // Untrusted peer: its header is ignored.
        assert_eq!(
            client_ip(Some(ip("198.51.100.1")), &headers, &trusted),
            Some(ip("198.51.100.1"))
        );
        // Nothing trusted: ignored too.
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &headers, &[]),
            Some(ip("10.0.0.5"))
        );
        // Trusted peer: the client it names.
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &headers, &trusted),
            Some(ip("203.0.113.9"))
        );
        // No header from a trusted peer: the peer.
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &HeaderMap::new(), &trusted),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(client_ip(None, &headers, &trusted), None);
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_hop() {
        let trusted = [parse_trusted_proxy("10.0.0.0/8").unwrap()];
        // The client forged the left part; the proxies appended the rest.
        let headers = xff(&["6.6.6.6, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &headers, &trusted),
            Some(ip("203.0.113.9"))
        );
        // Ports and brackets are tolerated; mapped IPv4 is IPv4.
        let headers = xff(&["[2001:db8::1]:443"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &headers, &trusted),
            Some(ip("2001:db8::1"))
        );
        let headers = xff(&["203.0.113.9:5000"]);
        assert_eq!(
            client_ip(Some(ip("::ffff:10.0.0.5")), &headers, &trusted),
            Some(ip("203.0.113.9"))
        );
        // Garbage stops the walk at the last trusted address.
        let headers = xff(&["203.0.113.9, not-an-ip, 10.0.0.7"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &headers, &trusted),
            Some(ip("10.0.0.7"))
        );
        // Every hop trusted: the leftmost.
        let headers = xff(&["10.9.9.9, 10.0.0.7"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &headers, &trusted),
            Some(ip("10.9.9.9"))
        );
    }
}
