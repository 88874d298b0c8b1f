//! Discovery: the sites phones deliver to and return to (created when there are none), and the
//! available assets they share out.

use anyhow::{Context, Result};
use mobile_shared::wire::{Asset, NewSite, Site, SiteKind};
use mobile_shared::AssetStatus;

use super::client::Http;
use super::FALLBACK_POSITION;

/// The sites the phones deliver to and return to.
#[derive(Debug)]
pub(crate) struct Sites {
    pub(super) customers: Vec<Site>,
    /// Depots and workshops: where returns go.
    pub(super) yards: Vec<Site>,
}

/// Lists the sites; creates a customer site or a depot when there is none (needs a user who may
/// create sites), so a fresh registry can be simulated too.
pub(super) async fn discover_sites(http: &Http) -> Result<Sites> {
    let all: Vec<Site> = http
        .list("/api/v1/sites", &[], 10_000)
        .await
        .context("listing sites")?;
    let mut customers: Vec<Site> = all
        .iter()
        .filter(|s| s.kind == SiteKind::CustomerSite)
        .cloned()
        .collect();
    let mut yards: Vec<Site> = all
        .iter()
        .filter(|s| s.kind != SiteKind::CustomerSite)
        .cloned()
        .collect();
    if customers.is_empty() {
        customers
            .push(create_site(http, "fieldops-sim customer site", SiteKind::CustomerSite).await?);
    }
    if yards.is_empty() {
        yards.push(create_site(http, "fieldops-sim depot", SiteKind::Depot).await?);
    }
    Ok(Sites { customers, yards })
}

async fn create_site(http: &Http, name: &str, kind: SiteKind) -> Result<Site> {
    let new = NewSite {
        name: name.to_owned(),
        kind,
        customer_id: None,
        address: None,
        location: Some(FALLBACK_POSITION),
        geofence: None,
    };
    http.post("/api/v1/sites", &new).await.with_context(|| {
        format!(
            "there is no {} site, and creating one failed (log in as a user who may create sites, \
             or create one)",
            kind.as_str()
        )
    })
}

/// Up to `want` available assets, in the server's list order.
pub(super) async fn discover_assets(http: &Http, want: usize) -> Result<Vec<Asset>> {
    let filter = [("status", AssetStatus::Available.as_str().to_owned())];
    http.list("/api/v1/assets", &filter, want)
        .await
        .context("listing available assets")
}
