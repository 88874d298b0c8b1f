//! HTTP handlers, one module per resource. Each handler authenticates (by taking
//! [`CurrentUser`](crate::auth::CurrentUser)), authorises with `require`, and calls one domain
//! service; no handler touches the database directly.

pub mod assets;
pub mod audit;
pub mod auth;
pub mod categories;
pub mod devices;
pub mod labels;
pub mod ops;
pub mod scans;
pub mod sites;
pub mod stocktakes;
pub mod telemetry;
pub mod users;

use serde::Deserialize;
use utoipa::IntoParams;

/// Keyset pagination parameters shared by list routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn page(&self) -> Result<domain::PageRequest, crate::error::ApiError> {
        Ok(domain::PageRequest::new(
            self.limit,
            self.cursor.as_deref(),
        )?)
    }
}
