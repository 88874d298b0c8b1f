//! Telemetry from GPS trackers, on the database side.
//!
//! - [`ingest`]: a batch of decoded MQTT messages becomes history rows and current asset state in
//!   ONE transaction (the rules are in its module doc and ARCHITECTURE.md, "Telemetry ingest
//!   rules"), with one module of set-based statements per backend.
//! - [`history`]: an asset's position history.
//! - [`rejects`]: the refused messages, kept with their raw payload.

pub mod history;
pub mod ingest;
pub mod rejects;

pub use history::{positions, PositionPoint};
pub use ingest::{IngestOptions, IngestReport, Ingestor, LockTurn, Message, MessageKind};
pub use rejects::{list_rejects, StoredReject};
