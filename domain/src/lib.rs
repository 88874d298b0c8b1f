//! fieldops business logic and persistence.
//!
//! [`Store`] is the database handle (SQLite or PostgreSQL, chosen from the URL). Each module
//! below is a service over it: every function that changes business data runs in one
//! transaction and writes its audit entry in that same transaction. Only this crate names SQL
//! or a sqlx driver; callers see domain types from `mobile_shared::wire` and [`DomainError`].
#![forbid(unsafe_code)]

pub mod actor;
pub mod alerts;
pub mod assets;
pub mod audit;
pub mod backup;
pub mod categories;
pub mod classification;
pub mod clock;
pub mod contract_documents;
pub mod contracts;
pub mod customers;
pub mod devices;
pub mod entity;
pub mod error;
pub mod events;
pub mod export;
pub mod geofence;
pub mod identifiers;
pub mod import;
pub mod login_throttle;
pub mod maintenance;
pub mod map;
pub mod notifications;
pub mod on_hire;
pub mod pagination;
pub mod photos;
mod refs;
pub mod scans;
pub mod schedule;
pub mod sealed_blobs;
pub mod secrets;
pub mod seed;
pub mod seed_office;
pub mod sites;
pub mod stocktake;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod two_factor;
pub mod users;

pub use actor::{Actor, ClientContext};
pub use entity::Entity;
pub use error::{DomainError, FieldErrors};
pub use pagination::PageRequest;
pub use store::{Backend, Store, StoreOptions, Tx};
#[cfg(feature = "testing")]
pub mod testing;
