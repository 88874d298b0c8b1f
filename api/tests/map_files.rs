//! `/maps/…`: an operator's basemap files (a PMTiles archive, its style) served from
//! `<data_dir>/maps/` with HTTP range requests, to signed-in users only. The archive read by
//! MapLibre in a real browser: `console_browser.rs`, `a_pmtiles_basemap_loads_by_range_requests`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mobile_shared::Role;
use reqwest::header::{ACCEPT_RANGES, CONTENT_RANGE, COOKIE, LAST_MODIFIED, RANGE};
use reqwest::{Method, StatusCode};
use serde_json::json;

domain::backend_matrix!(
    ScanApp:
    map_files_need_a_signed_in_user,
    map_files_answer_range_requests,
    map_files_stay_inside_their_folder,
);

/// 64 KiB of bytes that differ by offset, so a wrong range shows.
fn archive_bytes() -> Vec<u8> {
    (0..65_536u32).map(|i| (i % 251) as u8).collect()
}

fn put(app: &ScanApp, name: &str, bytes: &[u8]) {
    let dir = app.data_dir.path().join(api::console::MAP_FILES_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

async fn map_files_need_a_signed_in_user(app: ScanApp) {
    put(&app, "region.pmtiles", &archive_bytes());
    expect_unauthenticated(app.get("/maps/region.pmtiles", None).await).await;
    expect_unauthenticated(app.get("/maps/region.pmtiles", "not-a-token").await).await;
    // Every role may read the basemap (it is not fleet data), by bearer token or cookie.
    for role in Role::ALL {
        let token = app.user_with_role(role).await;
        let resp = app.get("/maps/region.pmtiles", token.as_str()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{role:?}");
        assert_eq!(resp.bytes().await.unwrap().len(), 65_536);
    }
    let login = app
        .request(Method::POST, "/api/v1/auth/session", None)
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = header(&login, "set-cookie");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let resp = app
        .request(Method::GET, "/maps/region.pmtiles", None)
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// What a PMTiles reader does: the first 16 KiB (header and root directory), then a tile's
/// bytes by offset; an open-ended and a suffix range; a range past the end is 416.
async fn map_files_answer_range_requests(app: ScanApp) {
    let bytes = archive_bytes();
    put(&app, "region.pmtiles", &bytes);
    let token = app.admin().to_owned();
    let ranged = |range: &'static str| {
        app.request(Method::GET, "/maps/region.pmtiles", token.as_str())
            .header(RANGE, range)
            .send()
    };
    let whole = app.get("/maps/region.pmtiles", token.as_str()).await;
    assert_eq!(header(&whole, ACCEPT_RANGES.as_str()), "bytes");
    assert!(!header(&whole, LAST_MODIFIED.as_str()).is_empty());
    assert_eq!(header(&whole, "cache-control"), "private, no-cache");
    assert_eq!(whole.bytes().await.unwrap().as_ref(), &bytes[..]);

    for (range, from, to) in [
        ("bytes=0-16383", 0, 16_383),
        ("bytes=40000-40999", 40_000, 40_999),
        ("bytes=65000-", 65_000, 65_535),
        ("bytes=-100", 65_436, 65_535),
    ] {
        let resp = ranged(range).await.unwrap();
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header(&resp, CONTENT_RANGE.as_str()),
            format!("bytes {from}-{to}/65536"),
            "{range}"
        );
        assert_eq!(
            resp.bytes().await.unwrap().as_ref(),
            &bytes[from..=to],
            "{range}"
        );
    }
    let past = ranged("bytes=70000-70010").await.unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&past, CONTENT_RANGE.as_str()), "bytes */65536");
}

/// Only files of the folder: no climbing out of it, no listing, a missing file is the API's
/// problem JSON 404.
async fn map_files_stay_inside_their_folder(app: ScanApp) {
    put(&app, "style.json", br#"{"version":8}"#);
    std::fs::write(app.data_dir.path().join("secret.txt"), "not a map").unwrap();
    let token = app.admin().to_owned();
    let style = app.get("/maps/style.json", token.as_str()).await;
    assert_eq!(style.status(), StatusCode::OK);
    assert!(header(&style, "content-type").starts_with("application/json"));
    for path in [
        "/maps/../secret.txt",
        "/maps/%2e%2e/secret.txt",
        "/maps/..%2Fsecret.txt",
        "/maps/missing.pmtiles",
        "/maps/",
    ] {
        let resp = app.get(path, token.as_str()).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let (_, body) = problem(resp).await;
        assert_eq!(body["error"], "not_found", "{path}");
    }
}
