//! Maintenance: service plans on engine hours, the calendar and the odometer, and the forecast
//! of each asset's next service.
//!
//! - [`plans`]: the plans themselves (a category's or one asset's; an asset's own replace its
//!   category's), validated, audited, and the baselines that start each asset's counting.
//! - [`forecast`]: loads an asset's meters, utilisation and anchors and applies the pure rule in
//!   `mobile_shared::maintenance` (whichever-first, lead, nested services, fixed grid); keeps
//!   the daily meter snapshots utilisation is measured from.
//! - [`history`]: services done, each re-anchoring the asset under its plan.
//! - [`orders`]: work orders, opened when a service enters its lead window (one active per asset
//!   and plan, enforced by the database) or by hand; completing one records the service.
//! - `field`: what field commands do to work orders (`start_work`, `complete_work`, and the
//!   order a failed return inspection opens or joins), through `orders`' own functions.
//! - [`triggers`]: where hour and odometer services are evaluated as readings arrive: the meter
//!   value at which each service enters its window, left by the clock's sweep and compared by
//!   ingest in its own transaction. Calendar services are the sweep's.
//! - [`due`]: the fleet's "due for service" list, from the pressing services the sweep keeps.
//! - [`kpis`]: downtime, availability, MTBF, MTTR and services on time, from the orders' times.
//!
//! Where the counting of an asset under a plan starts is one table, `maintenance_history`:
//! occurrence 0 is the baseline taken when the plan began to apply, occurrence n the n-th
//! service done. A forecast reads only the latest row, so recording a service re-anchors the
//! plan without touching the plan.

pub mod due;
pub(crate) mod field;
pub mod forecast;
pub mod history;
pub mod kpis;
pub mod orders;
pub mod plans;
pub mod triggers;
