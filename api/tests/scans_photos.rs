//! Photos for field commands over HTTP: content-addressed uploads (`POST /api/v1/photos`),
//! commands referencing them, and multipart commands whose photo is decoded (QR) to find the
//! asset, with the unreadable, oversized and bomb images each given its own error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

domain::backend_matrix!(
    ScanApp:
    photo_upload_is_content_addressed,
    commands_reference_uploaded_photos_only,
    photo_of_a_qr_label_finds_the_asset,
    photo_without_a_code_is_no_code_found,
    unreadable_images_are_refused_before_the_command,
    stored_photos_are_served_by_hash_and_cached_forever,
);

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A sample photo and the text its QR code holds.
fn sample(rel: &str) -> Option<(Vec<u8>, String)> {
    let dir = qr_samples()?;
    let path = dir.join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path.with_extension("txt")).unwrap_or_default();
    Some((bytes, text))
}

/// A real JPEG (a gradient made with the `image` crate), cut in half.
fn truncated_jpeg() -> Vec<u8> {
    let img =
        image::GrayImage::from_fn(96, 96, |x, y| image::Luma([((x * 7 + y * 13) % 256) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    let jpeg = out.into_inner();
    assert!(
        image::load_from_memory(&jpeg).is_ok(),
        "the whole JPEG is valid"
    );
    jpeg[..jpeg.len() / 2].to_vec()
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
}

/// A well-formed PNG header claiming 100 000 × 100 000 grey pixels (10 Gpx), with a token
/// IDAT: a few dozen bytes that would need 10 GB to decode.
fn png_bomb() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grey, deflate, no filter, no interlace
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

async fn photo_count(app: &ScanApp) -> i64 {
    app.db.count("SELECT COUNT(*) FROM photos").await
}

async fn photo_upload_is_content_addressed(app: ScanApp) {
    let Some((photo, _)) = sample("qrcode-1/1.webp") else {
        return;
    };
    let fx = ScanFixture::new(&app).await;
    let stored = expect_json(
        app.upload_photo(fx.tech.as_str(), "image/webp", photo.clone())
            .await,
        StatusCode::CREATED,
    )
    .await;
    let key = sha256(&photo);
    assert_eq!(stored["sha256"], key.as_str(), "{stored}");
    assert_eq!(stored["size_bytes"], photo.len());
    assert_eq!(stored["content_type"], "image/webp");
    assert_eq!(app.photo_bytes(&key).as_deref(), Some(&photo[..]));

    // Again (as someone else, with another declared type): the same key, stored once.
    let again = expect_json(
        app.upload_photo(app.admin(), "application/octet-stream", photo.clone())
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(again, stored);
    assert_eq!(photo_count(&app).await, 1);
    assert_eq!(
        app.db
            .count("SELECT COUNT(*) FROM audit_log WHERE action = 'photo.upload'")
            .await,
        1
    );

    // Multipart with a part `photo` is the same upload.
    let form = Form::new().part("photo", photo_part(photo.clone(), "label.webp"));
    let resp = app
        .post_form("/api/v1/photos", fx.tech.as_str(), form)
        .await;
    assert_eq!(expect_json(resp, StatusCode::CREATED).await, stored);

    // A PNG is another photo.
    let png = tiny_png();
    let other = expect_json(
        app.upload_photo(fx.tech.as_str(), "image/png", png.clone())
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(other["sha256"], sha256(&png).as_str());
    assert_eq!(other["content_type"], "image/png");
    assert_eq!(photo_count(&app).await, 2);
}

async fn commands_reference_uploaded_photos_only(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "PH-1").await;
    let png = tiny_png();
    let key = sha256(&png);

    // Not uploaded yet: refused, with the current asset, and not attached.
    let unknown = sha256(b"never uploaded");
    let cmd = command(
        "inspect",
        &asset,
        &fx.t(1),
        json!({"condition": "poor", "photos": [unknown]}),
    );
    let p = expect_problem(
        app.scan(fx.tech.as_str(), &cmd).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_photo",
    )
    .await;
    assert_eq!(p["detail"]["status"], "rejected", "{p}");
    assert_eq!(p["detail"]["error"]["error"], "unknown_photo");
    assert!(s(&p, "message").contains(&unknown), "names the photo: {p}");
    assert_eq!(p["detail"]["asset"]["id"], asset["id"]);
    assert!(p["detail"].get("photos").is_none(), "{p}");

    // Not a photo key at all: a validation error naming `photos`.
    let malformed = command("inspect", &asset, &fx.t(2), json!({"photos": ["ABC"]}));
    expect_fields(app.scan(fx.tech.as_str(), &malformed).await, &["photos"]).await;
    let too_many = command(
        "inspect",
        &asset,
        &fx.t(2),
        json!({"photos": vec![key.clone(); 21]}),
    );
    expect_fields(app.scan(fx.tech.as_str(), &too_many).await, &["photos"]).await;

    // Uploaded first (as an offline phone does), then referenced.
    let stored = expect_json(
        app.upload_photo(fx.tech.as_str(), "image/png", png).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(stored["sha256"], key.as_str());
    let cmd = command(
        "inspect",
        &asset,
        &fx.t(3),
        json!({"condition": "poor", "photos": [key]}),
    );
    let r = app.scan_ok(&fx.tech, &cmd).await;
    assert_eq!(r["photos"], json!([key]), "{r}");
    assert!(r.get("decoded").is_none(), "{r}");
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM scan_event_photos").await,
        1
    );
    let h = &app.field_history(&asset).await[0];
    assert_eq!(h["command"]["photos"], json!([key]));
    // A replay lists the photo too.
    let again = expect_json(app.scan(fx.tech.as_str(), &cmd).await, StatusCode::OK).await;
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["photos"], json!([key]));

    // A multipart command needs its `command` part, as JSON.
    let only_photo = Form::new().part("photo", photo_part(tiny_png(), "p.png"));
    let resp = app
        .post_form("/api/v1/scans", fx.tech.as_str(), only_photo)
        .await;
    expect_fields(resp, &["command"]).await;
    let garbled = Form::new()
        .text("command", "{\"id\": ")
        .part("photo", photo_part(tiny_png(), "p.png"));
    let resp = app
        .post_form("/api/v1/scans", fx.tech.as_str(), garbled)
        .await;
    expect_problem(resp, StatusCode::BAD_REQUEST, "malformed_json").await;

    // A photo sent with a command that names its asset is evidence, not decoded.
    let evidence = command("inspect", &asset, &fx.t(4), json!({"notes": "dent"}));
    let resp = app
        .scan_with_photo(fx.tech.as_str(), &evidence, tiny_png(), "image/png")
        .await;
    let r = expect_json(resp, StatusCode::OK).await;
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["photos"], json!([sha256(&tiny_png())]));
    assert!(r.get("decoded").is_none(), "{r}");
    assert_eq!(photo_count(&app).await, 1, "the same bytes, stored once");
}

async fn photo_of_a_qr_label_finds_the_asset(app: ScanApp) {
    // Each of these is read by the first step of the decoder's ladder (checked with
    // `fieldops qr decode`), so the decoder's time budget cannot make them flaky.
    let names = [
        "qrcode-1/1.webp",
        "qrcode-3/01.webp",
        "qrcode-1/13.webp",
        "qrcode-3/14.webp",
    ];
    let mut samples = Vec::new();
    for name in names {
        let Some(s) = sample(name) else { return };
        samples.push((name, s));
    }
    let fx = ScanFixture::new(&app).await;
    // The last one is for the refusal below.
    for (i, (name, (photo, text))) in samples.into_iter().take(3).enumerate() {
        assert!(!text.is_empty(), "{name}: no expected text");
        let asset = fx.asset(&app, &format!("QR-{i}")).await;
        let ident = expect_json(
            app.add_tag_as(fx.tech.as_str(), &asset, "qr", &text).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(ident["value"], text.as_str(), "{name}: stored as is");

        let cmd = json!({"id": Uuid::now_v7(), "action": "inspect", "device_time": fx.t(i as i64),
                         "condition": "good"});
        let resp = app
            .scan_with_photo(fx.tech.as_str(), &cmd, photo.clone(), "image/webp")
            .await;
        let r = expect_json(resp, StatusCode::OK).await;
        assert_eq!(r["status"], "applied", "{name}: {r}");
        assert_eq!(r["asset"]["id"], asset["id"], "{name}: {r}");
        let decoded: Vec<&str> = r["decoded"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no decoded texts: {r}"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(decoded.contains(&text.as_str()), "{name}: {decoded:?}");
        let key = sha256(&photo);
        assert_eq!(r["photos"], json!([key]), "{name}: the photo is attached");
        assert_eq!(app.photo_bytes(&key).as_deref(), Some(&photo[..]), "{name}");
        let history = app.field_history(&asset).await;
        assert_eq!(history.len(), 1, "{name}");
        assert_eq!(history[0]["command"]["id"], cmd["id"]);
    }
    assert_eq!(photo_count(&app).await, 3);
    assert_eq!(
        app.db.count("SELECT COUNT(*) FROM scan_event_photos").await,
        3
    );

    // A command refused for the asset found in the photo answers with that asset's state.
    let (name, (photo, text)) = ("qrcode-3/14.webp", sample("qrcode-3/14.webp").unwrap());
    let broken = app
        .create_asset(json!({"code": "QR-BROKEN", "name": "Broken", "status": "in_maintenance"}))
        .await;
    app.tag(&broken, "qr", &text).await;
    let deliver = json!({"id": Uuid::now_v7(), "action": "deliver", "device_time": fx.t(9),
                         "site_id": fx.customer});
    let p = expect_problem(
        app.scan_with_photo(fx.tech.as_str(), &deliver, photo, "image/webp")
            .await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    assert_eq!(p["detail"]["status"], "rejected", "{name}: {p}");
    assert!(
        p["detail"]["decoded"]
            .as_array()
            .unwrap()
            .contains(&json!(text)),
        "{p}"
    );
    assert_eq!(p["detail"]["asset"]["id"], broken["id"], "{name}: {p}");
    assert_eq!(p["detail"]["asset"]["status"], "in_maintenance", "{p}");
    assert_eq!(
        app.field_history(&broken).await.len(),
        1,
        "recorded on the asset"
    );
}

async fn photo_without_a_code_is_no_code_found(app: ScanApp) {
    let Some((photo, _)) = sample("falsepositives-1/01.webp") else {
        return;
    };
    let fx = ScanFixture::new(&app).await;
    let key = sha256(&photo);
    let cmd = json!({"id": Uuid::now_v7(), "action": "lookup", "device_time": fx.t(1)});

    let p = expect_problem(
        app.scan_with_photo(fx.tech.as_str(), &cmd, photo.clone(), "image/webp")
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_code_found",
    )
    .await;
    assert!(p.get("detail").is_none(), "nothing kept unless asked: {p}");
    assert_eq!(photo_count(&app).await, 0);
    assert!(app.photo_bytes(&key).is_none());

    let mut keep = cmd.clone();
    keep["keep_photo"] = json!(true);
    let p = expect_problem(
        app.scan_with_photo(fx.tech.as_str(), &keep, photo.clone(), "image/webp")
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_code_found",
    )
    .await;
    assert_eq!(p["detail"]["photo"]["sha256"], key.as_str(), "{p}");
    assert_eq!(p["detail"]["photo"]["content_type"], "image/webp");
    assert_eq!(photo_count(&app).await, 1);
    assert_eq!(app.photo_bytes(&key).as_deref(), Some(&photo[..]));

    // The command was not recorded: the technician can send it again with the code typed in,
    // referencing the kept photo.
    assert_eq!(app.db.count("SELECT COUNT(*) FROM scan_events").await, 0);
    let asset = fx.asset(&app, "FP-1").await;
    let mut typed = cmd.clone();
    typed["code"] = json!("fp-1");
    typed["photos"] = json!([key]);
    let r = app.scan_ok(&fx.tech, &typed).await;
    assert_eq!(r["asset"]["id"], asset["id"]);
    assert_eq!(r["photos"], json!([key]));
}

async fn unreadable_images_are_refused_before_the_command(app: ScanApp) {
    let fx = ScanFixture::new(&app).await;
    let asset = fx.asset(&app, "BAD-1").await;
    // Without code or asset id, so the photo must be decoded.
    let cmd = json!({"id": Uuid::now_v7(), "action": "lookup", "device_time": fx.t(1), "keep_photo": true});
    let text = b"EX-0042 is the code on the machine\n".to_vec();
    let mut oversized = tiny_png();
    oversized.resize(SCAN_PHOTO_LIMIT + 1, 0);

    let cases: [(&str, Vec<u8>, &str, StatusCode, &str); 4] = [
        (
            "truncated JPEG",
            truncated_jpeg(),
            "image/jpeg",
            StatusCode::UNPROCESSABLE_ENTITY,
            "corrupt_image",
        ),
        (
            "text file",
            text,
            "text/plain",
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_image",
        ),
        (
            "PNG bomb",
            png_bomb(),
            "image/png",
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
        ),
        (
            "over the photo limit",
            oversized,
            "image/png",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (what, bytes, mime, status, code) in cases {
        // Decoded with a command…
        let resp = app
            .scan_with_photo(fx.tech.as_str(), &cmd, bytes.clone(), mime)
            .await;
        let p = expect_problem(resp, status, code).await;
        assert!(p.get("detail").is_none(), "{what}: {p}");
        // …or uploaded alone…
        let p = expect_problem(
            app.upload_photo(fx.tech.as_str(), mime, bytes.clone())
                .await,
            status,
            code,
        )
        .await;
        assert!(!s(&p, "message").is_empty(), "{what}");
        // …or sent as evidence with a command that names its asset.
        let evidence = command("inspect", &asset, &fx.t(2), json!({}));
        expect_problem(
            app.scan_with_photo(fx.tech.as_str(), &evidence, bytes, mime)
                .await,
            status,
            code,
        )
        .await;
    }
    assert_eq!(photo_count(&app).await, 0, "nothing stored");
    assert_eq!(app.db.count("SELECT COUNT(*) FROM scan_events").await, 0);

    // A body over the router's limit is refused before any of that.
    let huge = vec![0u8; 2 * 1024 * 1024 + 1];
    expect_problem(
        app.upload_photo(fx.tech.as_str(), "image/png", huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    // The refused command id is still free: with a readable photo of its code it is applied.
    let Some((photo, label)) = sample("qrcode-3/01.webp") else {
        return;
    };
    app.tag(&asset, "qr", &label).await;
    let r = expect_json(
        app.scan_with_photo(fx.tech.as_str(), &cmd, photo, "image/webp")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["asset"]["id"], asset["id"]);
}

/// `GET /api/v1/photos/{sha256}`: the bytes with the type recorded at upload, an ETag that is
/// the hash (a revalidation is a 304), immutable caching; every role that reads field history
/// reads them; unknown is 404, a malformed hash 422 naming `sha256`.
async fn stored_photos_are_served_by_hash_and_cached_forever(app: ScanApp) {
    use mobile_shared::Role;
    let fx = ScanFixture::new(&app).await;
    let png = tiny_png();
    let key = sha256(&png);
    expect_json(
        app.upload_photo(fx.tech.as_str(), "image/png", png.clone())
            .await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/photos/{key}");
    let viewer = app.user_with_role(Role::Viewer).await;
    for token in [app.admin(), viewer.as_str(), fx.tech.as_str()] {
        let resp = app.get(&path, token).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "content-type"), "image/png");
        assert_eq!(header(&resp, "etag"), format!("\"{key}\""));
        assert!(header(&resp, "cache-control").contains("immutable"));
        assert_eq!(resp.bytes().await.unwrap().as_ref(), &png[..]);
    }
    let revalidated = app
        .request(reqwest::Method::GET, &path, app.admin())
        .header("if-none-match", format!("\"{key}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert!(revalidated.bytes().await.unwrap().is_empty());

    expect_unauthenticated(app.get(&path, None).await).await;
    expect_not_found(
        app.get(&format!("/api/v1/photos/{}", sha256(b"never")), app.admin())
            .await,
    )
    .await;
    for bad in [
        "abc",
        &key.to_uppercase(),
        &format!("{key}0"),
        "../../etc/passwd",
    ] {
        let resp = app
            .get(
                &format!("/api/v1/photos/{}", bad.replace('/', "%2F")),
                app.admin(),
            )
            .await;
        expect_only_field(resp, "sha256").await;
    }
}
