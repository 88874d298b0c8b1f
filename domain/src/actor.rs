//! Who is making a change, recorded in the audit log with every write, and from where.

use std::net::IpAddr;

use mobile_shared::wire::AuditSource;
use mobile_shared::Role;
use uuid::Uuid;

/// Longest `User-Agent` kept (characters): it is the client's own text, unbounded on the wire.
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// Where a request came from, as the API established it: the client's address (the TCP peer,
/// or the client a trusted proxy names) and what it says it is. Empty for changes no request
/// made (the clock, the command line, trackers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientContext {
    /// The client's address (IPv4-mapped IPv6 recorded as IPv4).
    pub ip: Option<IpAddr>,
    /// At most [`MAX_USER_AGENT_CHARS`] characters (see [`ClientContext::new`]).
    pub user_agent: Option<String>,
}

impl ClientContext {
    /// A context with the user agent truncated to [`MAX_USER_AGENT_CHARS`] characters and
    /// control characters replaced, so an entry (and a CSV export of it) holds one line.
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> ClientContext {
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .take(MAX_USER_AGENT_CHARS)
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect::<String>()
            })
            .filter(|ua| !ua.trim().is_empty());
        ClientContext {
            // An IPv4 client reaching an IPv6 socket shows as `::ffff:a.b.c.d`; recorded as
            // the IPv4 address it is, so a filter by that address finds it.
            ip: ip.map(|ip| ip.to_canonical()),
            user_agent,
        }
    }
}

/// Who makes a change, through what, and from where.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The signed-in user, if a user acts.
    pub user_id: Option<Uuid>,
    /// Username, device id, or `system`.
    pub name: String,
    /// The user's role, if a user acts.
    pub role: Option<Role>,
    /// Through what the change came (`api`, `console`, `mqtt`, `clock`, `cli`, `system`).
    pub source: AuditSource,
    /// The request's client, when a request made the change.
    pub client: ClientContext,
}

impl Actor {
    /// A signed-in user.
    pub fn user(id: Uuid, username: impl Into<String>, role: Role, source: AuditSource) -> Actor {
        Actor {
            user_id: Some(id),
            name: username.into(),
            role: Some(role),
            source,
            client: ClientContext::default(),
        }
    }

    /// The same actor, acting from `client`.
    pub fn with_client(mut self, client: ClientContext) -> Actor {
        self.client = client;
        self
    }

    /// The server itself (first-run setup, configuration applied at startup).
    pub fn system() -> Actor {
        Actor::named("system", AuditSource::System)
    }

    /// The clock: what a time-based rule does (overdue tasks, renewals, the retention purge…).
    pub fn clock() -> Actor {
        Actor::named("clock", AuditSource::Clock)
    }

    /// Telemetry ingest: what the trackers' readings cause (a work order opened when an hour
    /// meter crosses its service's threshold).
    pub fn ingest() -> Actor {
        Actor::named("ingest", AuditSource::Mqtt)
    }

    /// An operator at the command line.
    pub fn cli() -> Actor {
        Actor::named("cli", AuditSource::Cli)
    }

    /// A tracker publishing over MQTT.
    pub fn device(device_id: impl Into<String>) -> Actor {
        Actor::named(device_id, AuditSource::Mqtt)
    }

    /// Someone not (or not yet) signed in, under the name they gave: a failed login.
    pub fn anonymous(name: impl Into<String>, source: AuditSource) -> Actor {
        Actor::named(name, source)
    }

    fn named(name: impl Into<String>, source: AuditSource) -> Actor {
        Actor {
            user_id: None,
            name: name.into(),
            role: None,
            source,
            client: ClientContext::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_bounded_single_lines() {
        let c = ClientContext::new(None, Some("curl/8\r\n=cmd"));
        assert_eq!(c.user_agent.as_deref(), Some("curl/8  =cmd"));
        let long = "x".repeat(MAX_USER_AGENT_CHARS + 10);
        let c = ClientContext::new(None, Some(&long));
        assert_eq!(c.user_agent.map(|u| u.len()), Some(MAX_USER_AGENT_CHARS));
        assert_eq!(ClientContext::new(None, Some("  ")).user_agent, None);
    }

    #[test]
    fn mapped_ipv4_is_recorded_as_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let c = ClientContext::new(Some(mapped), None);
        assert_eq!(c.ip, Some(IpAddr::from([192, 0, 2, 7])));
    }
}
