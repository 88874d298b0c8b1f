//! Who is making a change, recorded in the audit log with every write.

use mobile_shared::wire::AuditSource;
use mobile_shared::Role;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    /// Username, device id, or `system`.
    pub name: String,
    pub role: Option<Role>,
    pub source: AuditSource,
}

impl Actor {
    pub fn user(id: Uuid, username: impl Into<String>, role: Role, source: AuditSource) -> Actor {
        Actor {
            user_id: Some(id),
            name: username.into(),
            role: Some(role),
            source,
        }
    }

    /// The server itself (first-run setup, background jobs).
    pub fn system() -> Actor {
        Actor {
            user_id: None,
            name: "system".into(),
            role: None,
            source: AuditSource::System,
        }
    }

    /// Telemetry ingest: what the trackers' readings cause (a work order opened when an hour
    /// meter crosses its service's threshold).
    pub fn ingest() -> Actor {
        Actor {
            user_id: None,
            name: "ingest".into(),
            role: None,
            source: AuditSource::Mqtt,
        }
    }

    /// An operator at the command line.
    pub fn cli() -> Actor {
        Actor {
            user_id: None,
            name: "cli".into(),
            role: None,
            source: AuditSource::Cli,
        }
    }

    /// A tracker publishing over MQTT.
    pub fn device(device_id: impl Into<String>) -> Actor {
        Actor {
            user_id: None,
            name: device_id.into(),
            role: None,
            source: AuditSource::Mqtt,
        }
    }
}
