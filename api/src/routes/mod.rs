//! HTTP handlers, one module per resource. Each handler authenticates (by taking
//! [`CurrentUser`](crate::auth::CurrentUser)), authorises with `require`, and calls one domain
//! service; no handler touches the database directly.

pub mod alerts;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod availability;
pub mod categories;
pub mod classification;
pub mod complaints;
pub mod contract_documents;
pub mod contracts;
pub mod customers;
pub mod devices;
pub mod events;
pub mod imports;
pub mod labels;
pub mod maintenance;
pub mod map;
pub mod notifications;
pub mod on_hire;
pub mod ops;
pub mod picklists;
pub mod scans;
pub mod sites;
pub mod stocktakes;
pub mod tasks;
pub mod telemetry;
pub mod two_factor;
pub mod users;
