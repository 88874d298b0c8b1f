//! The stocktake part of a phone run: tag the site's machines with RFID EPCs if they have none,
//! count them with bursts of reads like a handheld RFID reader sends, and check the report.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use mobile_shared::stocktake::{
    NewStocktake, ScanBurstResult, Stocktake, StocktakeReport, StocktakeScans,
};
use mobile_shared::tag::encode_giai96;
use mobile_shared::wire::{Asset, Identifier, NewIdentifier, Site};
use mobile_shared::IdentifierKind;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use uuid::Uuid;

use super::client::Http;
use super::discovery::Sites;
use super::summary::StocktakeSummary;
use super::{PhoneConfig, StocktakeChoice};

/// GS1 company prefix of the tags the simulation attaches (7 digits: 58-bit asset references).
const OUR_PREFIX: &str = "4012345";
/// Company prefix of the "foreign" tags read in the yard (a neighbour's containers) that match
/// no asset.
const FOREIGN_PREFIX: &str = "4098765";
/// GIAI-96 filter value 0 ("all others").
const FILTER: u8 = 0;
/// 58 bits: the asset reference of a GIAI-96 with a 7-digit company prefix.
const REFERENCE_MASK: u64 = (1 << 58) - 1;
/// Share of the site's tagged machines the count reads; the rest come out missing.
const SEEN_SHARE: f64 = 0.9;
/// Most machines recorded elsewhere that are read at the site.
const ELSEWHERE: usize = 5;
/// Tags are attached this many at a time.
const TAG_CONCURRENCY: usize = 8;

/// The EPC of a machine the count may read.
#[derive(Debug, Clone)]
struct Tagged {
    epc: String,
    attached: bool,
}

/// What the simulation means to read, and so what the report must say.
#[derive(Debug, Default)]
struct Plan {
    here: Vec<Tagged>,
    elsewhere: Vec<Tagged>,
    foreign: Vec<String>,
}

/// Runs the stocktake; returns its summary and the contradictions found in the report.
pub(crate) async fn run(
    http: &Http,
    config: &PhoneConfig,
    sites: &Sites,
    pool: &[Asset],
    rng: &mut StdRng,
) -> Result<(StocktakeSummary, Vec<String>)> {
    let site = choose_site(http, &config.stocktake, sites, pool).await?;
    let id = site.id.to_string();
    let listed: Vec<Asset> = http
        .list(
            "/api/v1/assets",
            &[("site_id", id.clone())],
            config.stocktake_assets,
        )
        .await
        .with_context(|| format!("listing the assets at {}", site.name))?;
    let complete_listing = listed.len() < config.stocktake_assets;
    let listed_count = listed.len() as i64;
    let others = elsewhere(http, pool, site.id).await?;
    let (plan, attached) = tag_and_plan(http, listed, others, rng).await?;

    let st: Stocktake = http
        .post("/api/v1/stocktakes", &NewStocktake { site_id: site.id })
        .await
        .with_context(|| format!("starting a stocktake at {}", site.name))?;
    let mut summary = StocktakeSummary {
        stocktake_id: st.id.to_string(),
        site: site.name.clone(),
        tags_attached: attached,
        ..StocktakeSummary::default()
    };
    let mut problems = Vec::new();
    if complete_listing && st.expected_count != listed_count {
        // Nothing moves between listing and starting: the phones are done by now.
        problems.push(format!(
            "stocktake expects {} assets at {}, the asset list shows {listed_count}",
            st.expected_count, site.name
        ));
    }
    let seen_here = read_bursts(http, st.id, &plan, rng, &mut summary, &mut problems).await?;
    let report: StocktakeReport = http
        .post(&format!("/api/v1/stocktakes/{}/complete", st.id), &())
        .await
        .context("completing the stocktake")?;
    fill_report(&mut summary, &report, &plan, seen_here);
    problems.extend(check_report(&summary, &report));
    Ok((summary, problems))
}

/// The site to count: by id or name, or (auto) the depot or workshop where most of the
/// discovered assets are recorded.
async fn choose_site(
    http: &Http,
    choice: &StocktakeChoice,
    sites: &Sites,
    pool: &[Asset],
) -> Result<Site> {
    match choice {
        StocktakeChoice::Site(want) => {
            let all: Vec<Site> = http.list("/api/v1/sites", &[], 10_000).await?;
            all.into_iter()
                .find(|s| s.id.to_string() == *want || s.name.eq_ignore_ascii_case(want))
                .with_context(|| format!("no site with id or name {want:?} (--stocktake)"))
        }
        StocktakeChoice::Auto | StocktakeChoice::Off => {
            let mut counts: BTreeMap<Uuid, usize> = BTreeMap::new();
            for a in pool {
                if let Some(s) = a.site_id {
                    *counts.entry(s).or_default() += 1;
                }
            }
            let best = sites
                .yards
                .iter()
                .max_by_key(|s| counts.get(&s.id).copied().unwrap_or(0))
                .context("no depot or workshop to count")?;
            Ok(best.clone())
        }
    }
}

/// A few assets of the pool that are recorded at another site (or none) now: read at this site,
/// they must be reported at the wrong location (or unexpected).
async fn elsewhere(http: &Http, pool: &[Asset], site: Uuid) -> Result<Vec<Asset>> {
    let mut out = Vec::new();
    for a in pool {
        if out.len() >= ELSEWHERE {
            break;
        }
        let now: Asset = http.get(&format!("/api/v1/assets/{}", a.id), &[]).await?;
        if now.site_id != Some(site) {
            out.push(now);
        }
    }
    Ok(out)
}

/// The EPC the simulation gives an asset: GIAI-96 with our prefix and 58 bits of its id (the
/// random tail of a UUIDv7), so a re-run finds the same tag.
fn epc_for(asset: Uuid) -> Result<String> {
    let low = u64::try_from(asset.as_u128() & u128::from(u64::MAX)).unwrap_or(0);
    encode_giai96(FILTER, OUR_PREFIX, low & REFERENCE_MASK)
        .with_context(|| format!("encoding an EPC for {asset}"))
}

/// The asset's active RFID tag, attaching one when it has none.
async fn ensure_tag(http: Http, asset: Asset) -> Result<Tagged> {
    let path = format!("/api/v1/assets/{}/identifiers", asset.id);
    let tags: Vec<Identifier> = http.get(&path, &[]).await?;
    if let Some(t) = tags
        .iter()
        .find(|t| t.active && t.kind == IdentifierKind::RfidEpc)
    {
        return Ok(Tagged {
            epc: t.value.clone(),
            attached: false,
        });
    }
    let new = NewIdentifier {
        kind: IdentifierKind::RfidEpc,
        value: epc_for(asset.id)?,
    };
    let tag: Identifier = http
        .post(&path, &new)
        .await
        .with_context(|| format!("tagging {}", asset.code))?;
    Ok(Tagged {
        epc: tag.value,
        attached: true,
    })
}

/// Tags every asset (a few at a time) and draws the plan: which of the site's machines are
/// read, plus the ones from elsewhere and some foreign tags.
async fn tag_and_plan(
    http: &Http,
    here: Vec<Asset>,
    others: Vec<Asset>,
    rng: &mut StdRng,
) -> Result<(Plan, u64)> {
    let n_here = here.len();
    let mut tagged = Vec::with_capacity(here.len() + others.len());
    let all: Vec<Asset> = here.into_iter().chain(others).collect();
    for chunk in all.chunks(TAG_CONCURRENCY) {
        let mut set = tokio::task::JoinSet::new();
        for (k, a) in chunk.iter().enumerate() {
            let http = http.clone();
            let a = a.clone();
            set.spawn(async move { (k, ensure_tag(http, a).await) });
        }
        let mut done: Vec<(usize, Tagged)> = Vec::new();
        while let Some(j) = set.join_next().await {
            let (k, t) = j.context("a tagging task panicked")?;
            done.push((k, t?));
        }
        done.sort_by_key(|(k, _)| *k);
        tagged.extend(done.into_iter().map(|(_, t)| t));
    }
    let attached = tagged.iter().filter(|t| t.attached).count() as u64;
    let elsewhere = tagged.split_off(n_here);
    let mut here = tagged;
    here.shuffle(rng);
    // At least one read and, from two machines on, at least one left unread.
    let seen = match here.len() {
        0 | 1 => here.len(),
        n => ((n as f64 * SEEN_SHARE) as usize).clamp(1, n - 1),
    };
    // The rest are simply not read: the report derives them from the snapshot.
    here.truncate(seen);
    let foreign = (0..rng.gen_range(3..=6))
        .map(|_| encode_giai96(FILTER, FOREIGN_PREFIX, rng.gen_range(0..REFERENCE_MASK)))
        .collect::<Result<Vec<_>, _>>()
        .context("encoding foreign EPCs")?;
    let plan = Plan {
        here,
        elsewhere,
        foreign,
    };
    Ok((plan, attached))
}

/// Sends the reads in bursts of 150-400 (each tag read 1-5 times, shuffled), then replays the
/// first burst; returns how many of the site's machines were read.
async fn read_bursts(
    http: &Http,
    stocktake: Uuid,
    plan: &Plan,
    rng: &mut StdRng,
    summary: &mut StocktakeSummary,
    problems: &mut Vec<String>,
) -> Result<u64> {
    let mut reads: Vec<String> = Vec::new();
    for t in plan.here.iter().chain(&plan.elsewhere) {
        for _ in 0..rng.gen_range(1..=5) {
            reads.push(t.epc.clone());
        }
    }
    for epc in &plan.foreign {
        for _ in 0..rng.gen_range(1..=3) {
            reads.push(epc.clone());
        }
    }
    reads.shuffle(rng);
    let path = format!("/api/v1/stocktakes/{stocktake}/scans");
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    let mut first_burst: Option<(Vec<String>, ScanBurstResult)> = None;
    let mut rest = reads.as_slice();
    while !rest.is_empty() {
        let size = rng.gen_range(150..=400).min(rest.len());
        let (burst, tail) = rest.split_at(size);
        rest = tail;
        let codes = burst.to_vec();
        let r: ScanBurstResult = http
            .post(
                &path,
                &StocktakeScans {
                    codes: codes.clone(),
                },
            )
            .await
            .context("posting an RFID burst")?;
        if r.accepted != codes.len() {
            problems.push(format!(
                "a burst of {} reads was answered accepted {}",
                codes.len(),
                r.accepted
            ));
        }
        summary.bursts += 1;
        summary.reads += codes.len() as u64;
        summary.new_assets += r.new_assets as u64;
        summary.repeats += r.repeats as u64;
        unknown.extend(r.unknown.iter().cloned());
        first_burst.get_or_insert((codes, r));
    }
    summary.unknown = unknown.len() as u64;
    if let Some((codes, first)) = first_burst {
        replay(http, &path, codes, &first, summary, problems).await?;
    }
    Ok(plan.here.len() as u64)
}

/// The reader sends its first inventory round again: nothing new may be counted.
async fn replay(
    http: &Http,
    path: &str,
    codes: Vec<String>,
    first: &ScanBurstResult,
    summary: &mut StocktakeSummary,
    problems: &mut Vec<String>,
) -> Result<()> {
    let again: ScanBurstResult = http
        .post(path, &StocktakeScans { codes })
        .await
        .context("replaying an RFID burst")?;
    summary.replay_added_nothing = again.new_assets == 0;
    if again.new_assets != 0 || again.accepted != first.accepted || again.unknown != first.unknown {
        problems.push(format!(
            "a replayed burst was answered {again:?}, first {first:?} (want no new assets, the \
             rest the same)"
        ));
    }
    Ok(())
}

fn fill_report(summary: &mut StocktakeSummary, report: &StocktakeReport, plan: &Plan, here: u64) {
    summary.planned_seen_here = here;
    summary.planned_elsewhere = plan.elsewhere.len() as u64;
    summary.planned_unknown = plan.foreign.len() as u64;
    summary.expected = u64::try_from(report.stocktake.expected_count).unwrap_or(0);
    summary.planned_missing = summary.expected.saturating_sub(here);
    summary.found = report.found.len() as u64;
    summary.missing = report.missing.len() as u64;
    summary.unexpected = report.unexpected.len() as u64;
    summary.wrong_location = report.wrong_location.len() as u64;
    summary.unknown_codes = report.unknown_codes.len() as u64;
}

/// The report against the plan: every read machine of the site found, the rest missing, the
/// machines from elsewhere flagged, the foreign tags unknown, and the counts adding up.
fn check_report(s: &StocktakeSummary, report: &StocktakeReport) -> Vec<String> {
    let st = &report.stocktake;
    let mut out = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            out.push(format!("stocktake report: {what}"));
        }
    };
    check(
        s.found == s.planned_seen_here,
        format!(
            "{} found, {} of the site's assets read",
            s.found, s.planned_seen_here
        ),
    );
    check(
        s.found + s.missing == s.expected,
        format!(
            "{} found + {} missing ≠ {} expected",
            s.found, s.missing, s.expected
        ),
    );
    check(
        s.unexpected + s.wrong_location == s.planned_elsewhere,
        format!(
            "{} unexpected + {} wrong location, {} assets from elsewhere read",
            s.unexpected, s.wrong_location, s.planned_elsewhere
        ),
    );
    check(
        s.unknown_codes == s.planned_unknown && s.unknown == s.planned_unknown,
        format!(
            "{} unknown codes ({} in the burst answers), {} foreign tags read",
            s.unknown_codes, s.unknown, s.planned_unknown
        ),
    );
    check(
        s.new_assets == s.planned_seen_here + s.planned_elsewhere,
        format!(
            "bursts counted {} new assets, {} distinct assets read",
            s.new_assets,
            s.planned_seen_here + s.planned_elsewhere
        ),
    );
    let seen = s.found + s.unexpected + s.wrong_location;
    check(
        u64::try_from(st.seen_count).ok() == Some(seen),
        format!(
            "seen_count {} ≠ found + unexpected + wrong location {seen}",
            st.seen_count
        ),
    );
    check(
        u64::try_from(st.unknown_count).ok() == Some(s.unknown_codes),
        format!(
            "unknown_count {} ≠ {} unknown codes",
            st.unknown_count, s.unknown_codes
        ),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_epcs_are_valid_giai96_and_stable() {
        let id = Uuid::now_v7();
        let epc = epc_for(id).unwrap_or_default();
        assert_eq!(epc.len(), 24);
        assert!(epc.starts_with("34"), "{epc}");
        assert_eq!(epc_for(id).ok(), Some(epc.clone()));
        let scanned = mobile_shared::tag::parse_from(&epc, mobile_shared::tag::ScanSource::Rfid);
        assert!(
            matches!(
                scanned.map(|s| s.form),
                Ok(mobile_shared::tag::TagForm::Epc {
                    scheme: Some(mobile_shared::tag::EpcScheme::Giai96),
                    ..
                })
            ),
            "{epc}"
        );
    }
}
