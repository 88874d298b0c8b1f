//! Printable asset labels over HTTP: the printed QR code leads back to the asset, text is
//! escaped, sheets paginate, and the usual errors apply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use asset_labels::{self as labels, QrMatrix};
use common::*;
use qr_decode::{decode_image_bytes, decode_luma, DecodeLimits, DecodedCode};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use reqwest::{Response, StatusCode};
use serde_json::json;

/// The public URL the test server is configured with (`ApiConfig::default()`).
const PUBLIC_URL: &str = "http://127.0.0.1:8080";

domain::backend_matrix!(
    TestApp:
    png_label_round_trips_through_resolve,
    svg_label_escapes_text_and_matches_its_qr,
    png_size_is_bounded,
    sheet_paginates_30_assets_into_24_and_6,
    sheet_by_code_prefix_and_site,
    sheet_rejects_unknown_and_bad_selections,
    unknown_asset_is_404_and_no_token_is_401,
);

async fn bytes_of(resp: Response, content_type: &str) -> Vec<u8> {
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    assert_eq!(ct, content_type);
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    resp.bytes().await.unwrap().to_vec()
}

async fn svg_of(resp: Response) -> String {
    String::from_utf8(bytes_of(resp, "image/svg+xml").await).unwrap()
}

/// The PNG label at `path` (fetched with `token`) and the codes it decodes to.
async fn png_label(app: &TestApp, path: &str, token: &str) -> (Vec<u8>, Vec<DecodedCode>) {
    let png = bytes_of(app.get(path, token).await, "image/png").await;
    let codes = decode_image_bytes(&png, &DecodeLimits::default()).unwrap();
    (png, codes)
}

/// `GET /api/v1/labels/sheet.svg?{query}` as admin.
async fn sheet(app: &TestApp, query: &str) -> Response {
    let path = format!("/api/v1/labels/sheet.svg?{query}");
    app.get(&path, app.admin()).await
}

fn decode_matrix(m: &QrMatrix) -> String {
    let codes = decode_luma(&m.to_luma(4));
    assert_eq!(codes.len(), 1, "{codes:?}");
    codes[0].text.clone()
}

async fn png_label_round_trips_through_resolve(app: TestApp) {
    let asset = app
        .create_asset(json!({"code": "ex-0042", "name": "CAT 320 excavator"}))
        .await;
    let id = s(&asset, "id");
    let (_, codes) = png_label(&app, &format!("/api/v1/assets/{id}/label.png"), app.admin()).await;
    assert_eq!(codes.len(), 1, "{codes:?}");
    let text = &codes[0].text;
    assert_eq!(text, &format!("{PUBLIC_URL}/a/EX-0042"));
    assert!(
        codes[0].ecc_level == 3 || codes[0].ecc_level == 0,
        "level Q or M"
    );

    // A viewer (the least privileged role) resolves what the camera read.
    let viewer = app.user_with_role(mobile_shared::Role::Viewer).await;
    let resolved = expect_json(
        app.resolve(viewer.as_str(), text.as_str()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resolved["asset"]["id"], asset["id"]);

    // Anyone signed in may print.
    let (_, codes) = png_label(
        &app,
        &format!("/api/v1/assets/{id}/label.png?size=300"),
        viewer.as_str(),
    )
    .await;
    assert_eq!(codes[0].text, format!("{PUBLIC_URL}/a/EX-0042"));
}

async fn svg_label_escapes_text_and_matches_its_qr(app: TestApp) {
    let asset = app
        .create_asset(json!({"code": "EX/42.A", "name": "Drill <&\"> 'n' \u{2013} Bohrhammer"}))
        .await;
    let id = s(&asset, "id");
    let svg = svg_of(
        app.get(&format!("/api/v1/assets/{id}/label.svg"), app.admin())
            .await,
    )
    .await;
    check_well_formed(&svg);
    assert!(svg.contains("width=\"70mm\" height=\"37mm\""), "{svg}");
    assert!(svg.contains("&lt;&amp;&quot;&gt;"), "{svg}");
    assert!(svg.contains(">EX/42.A</text>"), "{svg}");
    assert!(svg.contains("fieldops"), "company name: {svg}");

    // The SVG's modules are exactly what the encoder makes of the URL, and decode to it.
    let url = format!("{PUBLIC_URL}/a/EX%2F42.A");
    let matrices = labels::qr_matrices_in_svg(&svg);
    assert_eq!(matrices, vec![QrMatrix::encode(&url).unwrap()]);
    assert_eq!(decode_matrix(&matrices[0]), url);

    // The percent-encoded `/` stays in the last path segment: resolve finds the asset.
    let resolved = expect_json(app.resolve(app.admin(), url.as_str()).await, StatusCode::OK).await;
    assert_eq!(resolved["asset"]["id"], asset["id"]);
    assert_eq!(resolved["asset"]["code"], "EX/42.A");

    // The PNG of the same label decodes to the same text.
    let (_, codes) = png_label(&app, &format!("/api/v1/assets/{id}/label.png"), app.admin()).await;
    assert_eq!(codes[0].text, url);
}

async fn png_size_is_bounded(app: TestApp) {
    let asset = app.asset("EX-7").await;
    let id = s(&asset, "id");
    for bad in ["199", "2001", "0", "-5", "big"] {
        let resp = app
            .get(
                &format!("/api/v1/assets/{id}/label.png?size={bad}"),
                app.admin(),
            )
            .await;
        let (status, body) = problem(resp).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "size={bad}: {body}"
        );
    }
    for (size, height) in [(200, 106), (2000, 1057)] {
        let (png, codes) = png_label(
            &app,
            &format!("/api/v1/assets/{id}/label.png?size={size}"),
            app.admin(),
        )
        .await;
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), (size, height));
        assert_eq!(codes[0].text, format!("{PUBLIC_URL}/a/EX-7"), "size {size}");
    }
}

async fn sheet_paginates_30_assets_into_24_and_6(app: TestApp) {
    let mut ids = Vec::new();
    let mut codes = Vec::new();
    for i in 0..30 {
        let code = format!("SH-{i:03}");
        let asset = app.asset(&code).await;
        ids.push(s(&asset, "id").to_owned());
        codes.push(code);
    }
    let query = ids.join(",");
    let mut printed = Vec::new();
    for (page, expected) in [(1, 24), (2, 6)] {
        let resp = sheet(&app, &format!("ids={query}&page={page}")).await;
        assert_eq!(resp.headers()["x-total-pages"], "2");
        assert_eq!(resp.headers()["x-total-labels"], "30");
        let svg = svg_of(resp).await;
        check_well_formed(&svg);
        assert!(svg.contains("width=\"210mm\" height=\"297mm\""), "A4");
        assert_eq!(svg.matches("<svg class=\"label\"").count(), expected);
        let matrices = labels::qr_matrices_in_svg(&svg);
        assert_eq!(matrices.len(), expected, "page {page}");
        for m in &matrices {
            printed.push(decode_matrix(m));
        }
    }
    // Every label, once, in the order asked for.
    let expected: Vec<String> = codes
        .iter()
        .map(|c| format!("{PUBLIC_URL}/a/{c}"))
        .collect();
    assert_eq!(printed, expected);

    // Page 1 is the default; beyond the last page is refused.
    let resp = sheet(&app, &format!("ids={query}")).await;
    let svg = svg_of(resp).await;
    assert_eq!(labels::qr_matrices_in_svg(&svg).len(), 24);
    for page in [0, 3] {
        expect_fields(
            sheet(&app, &format!("ids={query}&page={page}")).await,
            &["page"],
        )
        .await;
    }

    // The same id twice prints two labels.
    let twice = format!("{},{}", ids[0], ids[0]);
    let resp = sheet(&app, &format!("ids={twice}")).await;
    assert_eq!(resp.headers()["x-total-labels"], "2");
    let svg = svg_of(resp).await;
    assert_eq!(labels::qr_matrices_in_svg(&svg).len(), 2);
}

async fn sheet_by_code_prefix_and_site(app: TestApp) {
    let site = app
        .create_site(json!({"name": "Depot South", "kind": "depot"}))
        .await;
    for code in ["GEN-2", "GEN-1", "PUMP-1"] {
        app.create_asset(json!({"code": code, "name": "x", "home_site_id": site["id"]}))
            .await;
    }
    // Matches the prefix in its name only: not printed.
    app.create_asset(json!({"code": "OTHER-1", "name": "gen-set"}))
        .await;
    app.asset("GEN-3").await;

    let decoded = |svg: &str| -> Vec<String> {
        labels::qr_matrices_in_svg(svg)
            .iter()
            .map(decode_matrix)
            .collect()
    };
    let url = |c: &str| format!("{PUBLIC_URL}/a/{c}");

    let site_id = s(&site, "id");
    for (query, codes) in [
        (
            "code_prefix=gen".to_owned(),
            &["GEN-1", "GEN-2", "GEN-3"][..],
        ),
        (format!("site_id={site_id}"), &["GEN-1", "GEN-2", "PUMP-1"]),
        (
            format!("site_id={site_id}&code_prefix=GEN"),
            &["GEN-1", "GEN-2"],
        ),
    ] {
        let svg = svg_of(sheet(&app, &query).await).await;
        let want: Vec<String> = codes.iter().map(|c| url(c)).collect();
        assert_eq!(decoded(&svg), want, "{query}");
    }

    expect_not_found(sheet(&app, "code_prefix=NOPE").await).await;
}

async fn sheet_rejects_unknown_and_bad_selections(app: TestApp) {
    let known = app.asset("EX-1").await;
    let known = s(&known, "id");
    let missing_a = uuid::Uuid::now_v7().to_string();
    let missing_b = uuid::Uuid::now_v7().to_string();
    let body =
        expect_not_found(sheet(&app, &format!("ids={known},{missing_a},{missing_b}")).await).await;
    assert_eq!(body["detail"]["unknown_ids"], json!([missing_a, missing_b]));
    assert!(s(&body, "message").contains(&missing_a), "{body}");

    // No selection, a malformed id, both kinds of selection at once, too many ids.
    for query in [
        String::new(),
        "ids=".to_owned(),
        format!("ids={known},not-a-uuid"),
        format!("ids={known}&code_prefix=EX"),
        format!("ids={}", vec![known; 241].join(",")),
    ] {
        expect_fields(sheet(&app, &query).await, &["ids"]).await;
    }
    // 240 is allowed: ten pages.
    let resp = sheet(&app, &format!("ids={}", vec![known; 240].join(","))).await;
    assert_eq!(resp.headers()["x-total-pages"], "10");
    svg_of(resp).await;
}

async fn unknown_asset_is_404_and_no_token_is_401(app: TestApp) {
    let asset = app.asset("EX-9").await;
    let id = s(&asset, "id");
    let missing = uuid::Uuid::now_v7();
    for ext in ["svg", "png"] {
        expect_not_found(
            app.get(
                &format!("/api/v1/assets/{missing}/label.{ext}"),
                app.admin(),
            )
            .await,
        )
        .await;
        let label = format!("/api/v1/assets/{id}/label.{ext}");
        for token in [None, Some("bogus-token")] {
            expect_unauthenticated(app.get(&label, token).await).await;
        }
    }
    let sheet = format!("/api/v1/labels/sheet.svg?ids={id}");
    expect_unauthenticated(app.get(&sheet, None).await).await;
}

/// A small XML well-formedness check, enough to catch unescaped text: one root element, tags
/// that nest and close, quoted attributes without `<` or stray `&`, and only the five
/// predefined or numeric entity references in text. No DTDs, comments or CDATA (the label
/// renderer writes none).
fn check_well_formed(xml: &str) {
    let mut rest = xml;
    if let Some(decl) = rest.strip_prefix("<?xml") {
        let end = decl.find("?>").expect("unterminated XML declaration");
        rest = &decl[end + 2..];
    }
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    while !rest.is_empty() {
        let lt = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..lt];
        check_text(text);
        assert!(
            !stack.is_empty() || text.trim().is_empty(),
            "text outside the root element: {text:?}"
        );
        rest = &rest[lt..];
        if rest.is_empty() {
            break;
        }
        let gt = rest.find('>').expect("unterminated tag");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().expect("close tag without an open one");
            assert_eq!(open, name.trim(), "mismatched close tag");
            continue;
        }
        assert!(
            !tag.starts_with('!') && !tag.starts_with('?'),
            "unexpected <{tag}>"
        );
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attrs) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '_')),
            "bad element name {name:?}"
        );
        let mut seen = Vec::new();
        loop {
            attrs = attrs.trim_start();
            if attrs.is_empty() {
                break;
            }
            let (key, after) = attrs.split_once('=').expect("attribute without value");
            let key = key.trim();
            assert!(!seen.contains(&key), "duplicate attribute {key}");
            seen.push(key);
            let after = after.trim_start();
            let quote = after.chars().next().expect("attribute value");
            assert!(quote == '"' || quote == '\'', "unquoted attribute {key}");
            let after = &after[1..];
            let end = after.find(quote).expect("unterminated attribute");
            let value = &after[..end];
            assert!(!value.contains('<'), "`<` in attribute {key}");
            check_text(value);
            attrs = &after[end + 1..];
        }
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1, "one root element");
}

/// Text or attribute content: `&` only as a known entity reference, `>` allowed, no control
/// characters XML forbids.
fn check_text(text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        let after = &rest[amp + 1..];
        let semi = after.find(';').expect("`&` without `;`");
        let entity = &after[..semi];
        let ok = matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos")
            || entity
                .strip_prefix("#x")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            || entity
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
        assert!(ok, "bad entity &{entity};");
        rest = &after[semi + 1..];
    }
    assert!(
        text.chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')),
        "control character in {text:?}"
    );
}

#[test]
fn well_formedness_check_catches_unescaped_text() {
    check_well_formed("<?xml version=\"1.0\"?>\n<a x=\"1\"><b/>t &amp; &#60;</a>\n");
    for bad in [
        "<a>x & y</a>",
        "<a><b></a>",
        "<a x=\"<\"/>",
        "<a/><b/>",
        "<a>&nbsp;</a>",
        "<a x=1/>",
    ] {
        assert!(
            std::panic::catch_unwind(|| check_well_formed(bad)).is_err(),
            "accepted {bad:?}"
        );
    }
}
