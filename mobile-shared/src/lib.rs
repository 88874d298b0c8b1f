//! Pure library shared by the fieldops server, phone apps and simulators.
//!
//! It holds the wire types of the HTTP API, how asset codes and tag identifiers are normalised,
//! and the pure domain rules both sides must agree on (asset status transitions, role
//! permissions). It does no I/O and depends on no runtime, so it builds for mobile targets.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod authz;
pub mod classification;
pub mod contracts;
pub mod customers;
pub mod documents;
pub mod error_code;
pub mod geo_cell;
pub mod identifier;
pub mod maintenance;
pub mod map;
pub mod money;
pub mod notifications;
pub mod on_hire;
pub mod scan;
pub mod spreadsheets;
pub mod status;
pub mod stocktake;
pub mod tag;
pub mod tasks;
pub mod telemetry;
pub mod wire;

pub use authz::{Action, Role};
pub use error_code::ErrorCode;
pub use identifier::{normalize_asset_code, normalize_identifier, IdentifierError, IdentifierKind};
pub use money::Money;
pub use status::AssetStatus;
