//! End-to-end tests of `parse`: every form, the candidate lists the server relies on, the
//! published GS1 examples, and robustness against arbitrary input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::identifier::IdentifierKind as K;

fn c(kind: Option<K>, value: &str) -> Candidate {
    Candidate {
        kind,
        value: value.to_owned(),
    }
}

fn code(v: &str) -> Candidate {
    c(None, v)
}

fn qr(v: &str) -> Candidate {
    c(Some(K::Qr), v)
}

fn epc(v: &str) -> Candidate {
    c(Some(K::RfidEpc), v)
}

fn ok(text: &str) -> Scanned {
    parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[test]
fn plain_asset_codes() {
    let s = ok("  ex-0042 ");
    assert_eq!(
        s.form,
        TagForm::AssetCode {
            code: "EX-0042".into()
        }
    );
    assert_eq!(s.candidates, [code("EX-0042"), qr("ex-0042")]);
    assert_eq!(s.raw, "  ex-0042 ");
    assert_eq!(s.symbology, None);
    // Hex-looking short codes stay codes without a hint.
    assert!(matches!(ok("04A2241B").form, TagForm::AssetCode { .. }));
    assert!(matches!(ok("04-A2-24-1B").form, TagForm::AssetCode { .. }));
}

#[test]
fn our_label_urls() {
    let s = ok("https://fleet.example.com/a/EX-0042");
    assert_eq!(
        s.form,
        TagForm::Url {
            url: "https://fleet.example.com/a/EX-0042".into(),
            segment: Some("EX-0042".into())
        }
    );
    assert_eq!(
        s.candidates,
        [
            qr("https://fleet.example.com/a/EX-0042"),
            code("EX-0042"),
            qr("EX-0042")
        ]
    );
    // The `code` parameter wins over the path.
    let s = ok("https://fleet.example.com/resolve?code=ex%2D0042&utm=x");
    assert!(matches!(&s.form, TagForm::Url { segment: Some(seg), .. } if seg == "ex-0042"));
    assert_eq!(s.candidates[1], code("EX-0042"));
    // Percent-decoded path segment, trailing slash, fragment.
    let s = ok("HTTPS://FLEET.EXAMPLE.COM/A/EX%2D0042/#top");
    assert!(matches!(&s.form, TagForm::Url { segment: Some(seg), .. } if seg == "EX-0042"));
    // No segment: only the URL itself can match.
    let s = ok("https://fleet.example.com/");
    assert!(matches!(s.form, TagForm::Url { segment: None, .. }));
    assert_eq!(s.candidates, [qr("https://fleet.example.com/")]);
    // A path that only looks GS1-ish is still a plain URL.
    assert!(matches!(
        ok("https://fleet.example.com/00/EX-0042").form,
        TagForm::Url { .. }
    ));
}

#[test]
fn digital_link_giai() {
    let url = "https://id.gs1.org/8004/0614141ABC123";
    let s = ok(url);
    let TagForm::DigitalLink {
        key,
        element_string,
        ..
    } = &s.form
    else {
        panic!("{:?}", s.form)
    };
    assert_eq!(
        key,
        &Some(Gs1Key::Giai {
            giai: "0614141ABC123".into()
        })
    );
    assert_eq!(element_string, "(8004)0614141ABC123");
    assert_eq!(
        s.candidates,
        [qr(url), code("0614141ABC123"), qr("(8004)0614141ABC123")]
    );
}

#[test]
fn digital_link_sgtin_and_gln() {
    // GS1 Digital Link standard example GTIN 09506000134352, here with serial and a
    // query-string attribute (expiry) that is kept but not part of the key.
    let s = ok("https://example.com/01/09506000134352/21/ABC?17=261231&linkType=all");
    let TagForm::DigitalLink {
        key, attributes, ..
    } = &s.form
    else {
        panic!("{:?}", s.form)
    };
    assert_eq!(
        key,
        &Some(Gs1Key::Sgtin {
            gtin: "09506000134352".into(),
            serial: "ABC".into()
        })
    );
    assert_eq!(attributes.len(), 1);
    assert_eq!(s.candidates[1], qr("(01)09506000134352(21)ABC"));
    assert_eq!(s.candidates.len(), 2);

    // GLN 0614141000005 (check digit 5 computed by hand) with extension, %-encoded "/".
    let s = ok("https://example.com/414/0614141000005/254/32a%2Fb");
    assert_eq!(
        s.gs1_key(),
        Some(&Gs1Key::Gln {
            gln: "0614141000005".into(),
            extension: Some("32a/b".into())
        })
    );
    assert_eq!(s.candidates[1], qr("(414)0614141000005(254)32a/b"));
}

#[test]
fn digital_link_errors() {
    let e = parse("https://id.gs1.org/01/09506000134353").unwrap_err();
    assert_eq!(e.to_string(), "GTIN check digit is wrong");
    assert!(parse("https://id.gs1.org/414/0614141000006").is_err());
    assert!(parse("https://id.gs1.org/8004/ABC").is_ok()); // not DL-shaped: no GCP digits
    assert!(parse("https://id.gs1.org/8004/0614%zz").is_err());
}

#[test]
fn element_strings_with_symbology_identifiers() {
    // GS1 General Specifications GIAI example, in a GS1 QR Code.
    let s = ok("]Q380040614141ABC123");
    assert_eq!(s.symbology.as_deref(), Some("]Q3"));
    assert_eq!(
        s.gs1_key(),
        Some(&Gs1Key::Giai {
            giai: "0614141ABC123".into()
        })
    );
    assert_eq!(
        s.candidates,
        [
            qr("]Q380040614141ABC123"),
            qr("80040614141ABC123"),
            code("0614141ABC123"),
            qr("(8004)0614141ABC123"),
        ]
    );

    // GS1 DataMatrix: serial (variable) ended by GS, then batch.
    let s = ok("]d20109506000134352\u{1d}21ABC\u{1d}10LOT7");
    let TagForm::Gs1ElementString {
        elements,
        element_string,
        ..
    } = &s.form
    else {
        panic!("{:?}", s.form)
    };
    assert_eq!(elements.len(), 3);
    assert_eq!(element_string, "(01)09506000134352(21)ABC(10)LOT7");
    assert!(s.candidates.contains(&qr("(01)09506000134352(21)ABC")));

    // GS1-128 is a 1D barcode: its data is a `barcode` candidate too.
    let s = ok("]C10109506000134352\u{1d}17261231");
    assert!(s
        .candidates
        .contains(&c(Some(K::Barcode), "0109506000134352\u{1d}17261231")));
    assert_eq!(
        s.gs1_key(),
        Some(&Gs1Key::Gtin {
            gtin: "09506000134352".into()
        })
    );

    // Claimed GS1 data that breaks the rules is refused with the reason.
    assert_eq!(
        parse("]d20109506000134353").unwrap_err().to_string(),
        "GTIN check digit is wrong"
    );
    assert!(matches!(parse("]Q3EX-0042"), Err(TagError::Gs1Syntax(_))));
    assert!(matches!(parse("]C1"), Err(TagError::Gs1Syntax(_))));
    assert!(matches!(
        parse("]d2550000"),
        Err(TagError::UnknownAi { .. })
    ));
}

#[test]
fn gs_without_symbology_identifier() {
    // Many phone libraries drop the identifier but keep GS (and sometimes a leading GS).
    let s = ok("\u{1d}0109506000134352\u{1d}21ABC");
    assert_eq!(
        s.gs1_key(),
        Some(&Gs1Key::Sgtin {
            gtin: "09506000134352".into(),
            serial: "ABC".into()
        })
    );
}

#[test]
fn human_readable_element_strings() {
    let s = ok("(8004)0614141ABC123");
    assert_eq!(
        s.candidates,
        [qr("(8004)0614141ABC123"), code("0614141ABC123"),]
    );
    let s = ok("(01) 09506000134352 (21) ABC");
    assert_eq!(
        s.gs1_key(),
        Some(&Gs1Key::Sgtin {
            gtin: "09506000134352".into(),
            serial: "ABC".into()
        })
    );
    assert_eq!(
        parse("(01)09506000134353(21)ABC").unwrap_err(),
        TagError::CheckDigit { what: "GTIN" }
    );
    // GRAI with serial: (8003) 0 + 0614141 12345 + check 2 + serial 400.
    let s = ok("(8003)00614141123452400");
    assert_eq!(s.candidates[1], code("00614141123452400"));
    assert!(parse("(8003)00614141123453400").is_err());
}

#[test]
fn bare_gs1_digits_are_recognised_but_code_comes_first() {
    let s = ok("0109506000134352");
    assert!(matches!(s.form, TagForm::Gs1ElementString { .. }));
    assert_eq!(
        s.candidates,
        [
            qr("0109506000134352"),
            code("0109506000134352"),
            qr("(01)09506000134352"),
        ]
    );
    // A wrong check digit means it was never GS1: just a numeric code.
    assert!(matches!(
        ok("0109506000134353").form,
        TagForm::AssetCode { .. }
    ));
    // A short number after 8004 is not taken for a GIAI.
    assert!(matches!(ok("80041234").form, TagForm::AssetCode { .. }));
    let s = ok("80040614141ABC123");
    assert_eq!(s.candidates[1], code("80040614141ABC123"));
    assert_eq!(s.candidates[2], code("0614141ABC123"));
}

#[test]
fn ean_with_symbology_identifier() {
    let s = ok("]E09506000134352");
    assert_eq!(
        s.gs1_key(),
        Some(&Gs1Key::Gtin {
            gtin: "09506000134352".into()
        })
    );
    assert!(s.candidates.contains(&c(Some(K::Barcode), "9506000134352")));
    assert!(parse("]E09506000134353").is_err());
}

#[test]
fn non_gs1_symbology_identifiers_are_stripped() {
    let s = ok("]Q1EX-0042");
    assert_eq!(s.symbology.as_deref(), Some("]Q1"));
    assert_eq!(
        s.candidates,
        [code("EX-0042"), qr("]Q1EX-0042"), qr("EX-0042")]
    );
    let s = ok("]Q1https://id.gs1.org/8004/0614141ABC123");
    assert!(matches!(s.form, TagForm::DigitalLink { .. }));
}

#[test]
fn epc_hex_sgtin96_tds_example() {
    // EPC Tag Data Standard worked example.
    let s = ok("3074257BF7194E4000001A85");
    let TagForm::Epc {
        hex,
        scheme,
        filter,
        uri,
        tag_uri,
        element_string,
        ..
    } = &s.form
    else {
        panic!("{:?}", s.form)
    };
    assert_eq!(hex, "3074257BF7194E4000001A85");
    assert_eq!(*scheme, Some(EpcScheme::Sgtin96));
    assert_eq!(*filter, Some(3));
    assert_eq!(uri.as_deref(), Some("urn:epc:id:sgtin:0614141.812345.6789"));
    assert_eq!(
        tag_uri.as_deref(),
        Some("urn:epc:tag:sgtin-96:3.0614141.812345.6789")
    );
    assert_eq!(
        element_string.as_deref(),
        Some("(01)80614141123458(21)6789")
    );
    assert_eq!(
        s.candidates,
        [
            epc("3074257BF7194E4000001A85"),
            epc("urn:epc:id:sgtin:0614141.812345.6789"),
            qr("(01)80614141123458(21)6789"),
            qr("3074257BF7194E4000001A85"),
            code("3074257BF7194E4000001A85"),
        ]
    );
    // Reader formats: lower case, spaces, 0x prefix.
    for text in [
        "3074 257b f719 4e40 0000 1a85",
        "0x3074257bf7194e4000001a85",
    ] {
        assert_eq!(ok(text).candidates[0].value, "3074257BF7194E4000001A85");
    }
}

#[test]
fn epc_hex_giai96() {
    // Hand-computed GIAI-96 (see epc.rs): filter 3, company prefix 0614141, asset 5678.
    let s = ok("3474257BF40000000000162E");
    assert_eq!(
        s.candidates,
        [
            epc("3474257BF40000000000162E"),
            epc("urn:epc:id:giai:0614141.5678"),
            code("06141415678"),
            qr("(8004)06141415678"),
            qr("3474257BF40000000000162E"),
            code("3474257BF40000000000162E"),
        ]
    );
    // A 128-bit read with zero padding also offers the exact 96-bit EPC, before the identity.
    let s = parse_from("3474257BF40000000000162E00000000", ScanSource::Rfid).unwrap();
    assert_eq!(
        &s.candidates[..3],
        [
            epc("3474257BF40000000000162E00000000"),
            epc("3474257BF40000000000162E"),
            epc("urn:epc:id:giai:0614141.5678"),
        ]
    );
}

#[test]
fn epc_errors_and_unknown_headers() {
    let e = parse_from("3474257BF40000000000", ScanSource::Rfid).unwrap_err();
    assert_eq!(e.to_string(), "EPC header 0x34 needs 96 bits, got 80");
    let e = parse("380000000000000000000000").unwrap_err();
    assert_eq!(e.to_string(), "EPC header 0x38 needs 202 bits, got 96");
    assert!(matches!(
        parse_from("341C00000000000000000000", ScanSource::Rfid),
        Err(TagError::EpcPartition(7))
    ));
    assert!(matches!(
        parse_from("30742", ScanSource::Rfid),
        Err(TagError::Identifier {
            kind: K::RfidEpc,
            ..
        })
    ));
    // A header nobody here decodes is still the tag's identity.
    let s = ok("E2801160600002054CC2096F");
    assert!(matches!(s.form, TagForm::Epc { scheme: None, .. }));
    assert_eq!(
        s.candidates[0],
        c(Some(K::RfidEpc), "E2801160600002054CC2096F")
    );
    // With the RFID hint even a short unknown EPC is one.
    let s = parse_from("E2801160", ScanSource::Rfid).unwrap();
    assert!(matches!(s.form, TagForm::Epc { .. }));
    // All-decimal text with an unknown header stays a code.
    assert!(matches!(
        ok("123456789012345678901234").form,
        TagForm::AssetCode { .. }
    ));
}

#[test]
fn epc_uris() {
    // A pure identity is an `rfid_epc` value itself, and stands for every binary it encodes
    // as (GIAI-96 and GIAI-202, each filter value), which tags registered as hex are stored as.
    let s = ok("urn:epc:id:giai:0614141.12345400");
    assert_eq!(
        &s.candidates[..2],
        [
            qr("urn:epc:id:giai:0614141.12345400"),
            epc("urn:epc:id:giai:0614141.12345400"),
        ]
    );
    let binaries = &s.candidates[2..18];
    assert!(
        binaries
            .iter()
            .all(|b| b.kind == Some(K::RfidEpc) && hex_digits(&b.value).is_some()),
        "{binaries:?}"
    );
    assert_eq!(
        &s.candidates[18..],
        [code("061414112345400"), qr("(8004)061414112345400")]
    );
    let s = ok("URN:EPC:ID:SGTIN:0614141.812345.6789");
    assert_eq!(s.candidates[1], epc("urn:epc:id:sgtin:0614141.812345.6789"));
    assert!(s.candidates.contains(&epc("3074257BF7194E4000001A85")));
    assert!(s.candidates.contains(&qr("(01)80614141123458(21)6789")));
    // A tag URI fixes the binary, so the EPC is a candidate too, then its identity.
    let s = ok("urn:epc:tag:giai-96:3.0614141.5678");
    assert_eq!(
        &s.candidates[1..],
        [
            epc("3474257BF40000000000162E"),
            epc("urn:epc:id:giai:0614141.5678"),
            code("06141415678"),
            qr("(8004)06141415678"),
        ]
    );
    let TagForm::EpcUri { uri, .. } = &s.form else {
        panic!("{:?}", s.form)
    };
    assert_eq!(uri, "urn:epc:id:giai:0614141.5678");
    // Raw URIs are the binary.
    assert!(matches!(
        ok("urn:epc:raw:96.x3074257BF7194E4000001A85").form,
        TagForm::Epc {
            scheme: Some(EpcScheme::Sgtin96),
            ..
        }
    ));
    // Schemes we do not decode still match by their text.
    let s = ok("urn:epc:id:sscc:0614141.1234567890");
    assert!(matches!(s.form, TagForm::EpcUri { key: None, .. }));
    assert_eq!(s.candidates.len(), 1);
    assert!(parse("urn:epc:id:giai:0614141").is_err());
    assert!(parse("urn:epc:id:sgtin:0614141.812345").is_err());
}

/// One GIAI-96 tag (filter 3, company prefix 0614141, asset 1234) in every form it is read or
/// written in, with the value each form is stored as.
fn giai96_forms() -> Vec<(String, String)> {
    let hex = encode_giai96(3, "0614141", 1234).unwrap();
    let pure = "urn:epc:id:giai:0614141.1234".to_owned();
    let spaced: Vec<String> = hex
        .as_bytes()
        .chunks(4)
        .map(|w| String::from_utf8_lossy(w).to_lowercase())
        .collect();
    [
        (hex.clone(), &hex),
        (spaced.join(" "), &hex),
        (format!("0x{hex}"), &hex),
        (format!("urn:epc:raw:96.x{hex}"), &hex),
        (format!("urn:epc:raw:96.x{}", hex.to_lowercase()), &hex),
        ("urn:epc:tag:giai-96:3.0614141.1234".to_owned(), &hex),
        ("URN:EPC:TAG:GIAI-96:3.0614141.1234".to_owned(), &hex),
        (pure.clone(), &pure),
        ("URN:EPC:ID:GIAI:0614141.1234".to_owned(), &pure),
        // %33 is "3": escapes are undone and redone the standard way.
        (" urn:epc:id:giai:0614141.12%334 ".to_owned(), &pure),
    ]
    .into_iter()
    .map(|(text, stored)| (text, stored.clone()))
    .collect()
}

#[test]
fn epc_forms_are_stored_in_one_form() {
    for (text, stored) in giai96_forms() {
        assert_eq!(
            normalize_tag_value(K::RfidEpc, &text).as_deref(),
            Ok(stored.as_str()),
            "{text:?}"
        );
    }
    for (text, stored) in [
        (
            "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
            "3074257BF7194E4000001A85",
        ),
        (
            "urn:epc:id:sgtin:0614141.812345.6789",
            "urn:epc:id:sgtin:0614141.812345.6789",
        ),
        (
            "urn:epc:id:grai:0614141.12345.400",
            "urn:epc:id:grai:0614141.12345.400",
        ),
        (
            "urn:epc:tag:giai-202:0.023456.65557",
            "381816E81B356AD5B80000000000000000000000000000000000",
        ),
        (
            "urn:epc:id:giai:0614141.AB/C",
            "urn:epc:id:giai:0614141.AB%2FC",
        ),
        // Hex is stored as it always was, whatever its header.
        ("e280 1160 6000 0205", "E280116060000205"),
    ] {
        assert_eq!(
            normalize_tag_value(K::RfidEpc, text).as_deref(),
            Ok(stored),
            "{text:?}"
        );
    }
    // Other kinds are `normalize_identifier`, URN-looking text included.
    for (kind, text) in [
        (K::Qr, " urn:epc:id:giai:0614141.1234"),
        (K::Barcode, "URN:EPC:RAW:96.x34"),
        (K::NfcUid, "04:a2:24:1b"),
        (K::Imei, "490154203237517"),
        (K::RfidEpc, "not hex"),
        (K::RfidEpc, ""),
    ] {
        assert_eq!(
            normalize_tag_value(kind, text),
            normalize_identifier(kind, text).map_err(TagError::Value),
            "{kind} {text:?}"
        );
    }
}

#[test]
fn invalid_epc_uris_say_what_is_wrong() {
    for (text, message) in [
        (
            "urn:epc:id:giai:",
            "invalid EPC URI: GIAI is written <company prefix>.<asset>",
        ),
        (
            "urn:epc:id:giai:0614141",
            "invalid EPC URI: GIAI is written <company prefix>.<asset>",
        ),
        (
            "urn:epc:id:giai:0614141.A B",
            "invalid EPC URI: must not contain spaces",
        ),
        (
            "urn:epc:tag:giai-96:8.0614141.1234",
            "invalid EPC URI: the filter value must be 0 to 7",
        ),
        (
            "urn:epc:raw:96.x3474",
            "invalid EPC URI: raw URIs are written urn:epc:raw:<bits>.x<hex>",
        ),
        (
            "urn:epc:raw:8.x34",
            "invalid EPC URI: an EPC is a whole number of 16-bit words (a multiple of 4 hex \
             digits, at least 8)",
        ),
        ("urn:epcx:1", "invalid EPC URI: must start with urn:epc:"),
        (
            "urn:epc:id:sscc:0614141.1234567890",
            "invalid EPC URI: only urn:epc:id: (giai, grai, sgtin), urn:epc:tag: (giai-96, \
             giai-202, sgtin-96) and urn:epc:raw: are read; give other tags as EPC hex",
        ),
    ] {
        let e = normalize_tag_value(K::RfidEpc, text).expect_err(text);
        assert_eq!(e.to_string(), message, "{text:?}");
    }
    // A broken GS1 rule inside the URI is still reported as the URI's fault.
    let long = format!("urn:epc:id:giai:0614141.{}", "A".repeat(24));
    let e = normalize_tag_value(K::RfidEpc, &long)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invalid EPC URI: GS1 AI (8004)"), "{e}");
}

#[test]
fn every_form_of_a_tag_finds_every_stored_form() {
    let forms = giai96_forms();
    for (scanned, _) in &forms {
        for source in [ScanSource::Unknown, ScanSource::Rfid] {
            let s = parse_from(scanned, source).unwrap_or_else(|e| panic!("{scanned:?}: {e}"));
            for (registered, stored) in &forms {
                assert!(
                    s.candidates.contains(&epc(stored)),
                    "a scan of {scanned:?} misses the tag registered as {registered:?}: {:?}",
                    s.candidates
                );
            }
        }
    }
}

#[test]
fn nfc_uids() {
    let s = ok("04:a2:24:1b:c3:5e:80");
    assert_eq!(
        s.form,
        TagForm::NfcUid {
            hex: "04A2241BC35E80".into()
        }
    );
    assert_eq!(
        s.candidates,
        [
            c(Some(K::NfcUid), "04A2241BC35E80"),
            qr("04:a2:24:1b:c3:5e:80")
        ]
    );
    // Without colons only the hint makes it a UID.
    let s = parse_from("04A2241BC35E80", ScanSource::Nfc).unwrap();
    assert!(matches!(s.form, TagForm::NfcUid { .. }));
    assert!(matches!(
        ok("04A2241BC35E80").form,
        TagForm::AssetCode { .. }
    ));
    // NFC hint with an NDEF payload: recognised by shape.
    let s = parse_from("https://fleet.example.com/a/EX-0042", ScanSource::Nfc).unwrap();
    assert!(matches!(s.form, TagForm::Url { .. }));
    // 5 bytes is no UID.
    assert!(!matches!(ok("04:a2:24:1b:c3").form, TagForm::NfcUid { .. }));
}

#[test]
fn free_text_is_a_qr_identifier_only() {
    let s = ok("Property of ACME — call 555-0100");
    assert!(matches!(s.form, TagForm::Text { .. }));
    assert_eq!(s.candidates, [qr("Property of ACME — call 555-0100")]);
}

#[test]
fn refused_inputs() {
    assert_eq!(parse(""), Err(TagError::Empty));
    assert_eq!(parse(" \t\r\n"), Err(TagError::Empty));
    assert_eq!(
        parse(&"A".repeat(513)),
        Err(TagError::TooLong {
            max: MAX_IDENTIFIER_LEN
        })
    );
    assert!(matches!(
        parse(&"é".repeat(100_000)),
        Err(TagError::TooLong { .. })
    ));
    assert_eq!(
        parse("EX\u{0}42").unwrap_err().to_string(),
        "scanned text contains a control character"
    );
    // Longest accepted text is still handled.
    assert!(parse(&"A".repeat(512)).is_ok());
    assert!(parse(&"Z".repeat(512)).is_ok());
}

#[test]
fn results_serialise_with_a_form_tag() {
    let v = serde_json::to_value(ok("]Q380040614141ABC123")).unwrap();
    assert_eq!(v["form"]["form"], "gs1_element_string");
    assert_eq!(v["form"]["key"]["type"], "giai");
    assert_eq!(v["candidates"][2]["kind"], serde_json::Value::Null);
    assert_eq!(v["candidates"][0]["kind"], "qr");
    let v = serde_json::to_value(ok("3474257BF40000000000162E")).unwrap();
    assert_eq!(v["form"]["scheme"], "giai-96");
    let hint: ScanSource = serde_json::from_str("\"rfid\"").unwrap();
    assert_eq!(hint, ScanSource::Rfid);
}

/// Small deterministic generator (xorshift64*) so the robustness test needs no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

/// Checks the invariants every successful parse must keep.
fn check_invariants(text: &str, s: &Scanned) {
    assert!(!s.candidates.is_empty(), "{text:?}");
    assert!(
        s.candidates.contains(&qr(text.trim())),
        "{text:?}: raw text is not a qr candidate"
    );
    for (i, cand) in s.candidates.iter().enumerate() {
        let again = match cand.kind {
            None => normalize_asset_code(&cand.value).ok(),
            Some(k) => normalize_tag_value(k, &cand.value).ok(),
        };
        assert_eq!(again.as_deref(), Some(cand.value.as_str()), "{text:?}");
        assert!(!s.candidates[..i].contains(cand), "{text:?}: duplicate");
    }
    serde_json::to_string(s).unwrap();
}

#[test]
fn arbitrary_input_never_panics() {
    const PIECES: &[&str] = &[
        "0",
        "1",
        "4",
        "8",
        "9",
        "A",
        "f",
        "x",
        "-",
        ".",
        "/",
        ":",
        "%",
        "%2",
        "%zz",
        "(",
        ")",
        "(01)",
        "(8004)",
        "(21)",
        "]Q3",
        "]d2",
        "]C1",
        "]E0",
        "]Q1",
        "\u{1d}",
        " ",
        "?",
        "&",
        "=",
        "#",
        "é",
        "€",
        "😀",
        "\u{0}",
        "https://",
        "HTTP://h/",
        "urn:epc:id:giai:",
        "urn:epc:tag:giai-202:",
        "urn:epc:tag:sgtin-96:3.",
        "urn:epc:raw:96.x",
        "01",
        "21",
        "8004",
        "8003",
        "414",
        "254",
        "17",
        "10",
        "00",
        "30",
        "34",
        "38",
        "09506000134352",
        "0614141",
        "/01/",
        "/8004/",
        "?17=",
        "code=",
        "0x",
        "FFFFFFFF",
        "00000000",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let sources = [
        ScanSource::Unknown,
        ScanSource::Camera,
        ScanSource::Nfc,
        ScanSource::Rfid,
    ];
    for round in 0..20_000 {
        let text: String = if round % 5 == 0 {
            // Random bytes, as a broken decoder might hand over.
            let bytes: Vec<u8> = (0..rng.below(80))
                .map(|_| u8::try_from(rng.next() & 0xFF).unwrap())
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            (0..rng.below(24))
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect()
        };
        let source = sources[rng.below(sources.len())];
        if let Ok(s) = parse_from(&text, source) {
            check_invariants(&text, &s);
        }
    }
}

#[test]
fn random_hex_epcs_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let words = 1 + rng.below(20);
        let header = ["30", "34", "38", "E2", "36"][rng.below(5)];
        let mut hex = header.to_owned();
        while hex.len() < words * 4 {
            hex.push_str(&format!("{:X}", rng.next() & 0xF));
        }
        for source in [ScanSource::Rfid, ScanSource::Unknown] {
            if let Ok(s) = parse_from(&hex, source) {
                check_invariants(&hex, &s);
            }
        }
    }
}

#[test]
fn decoded_epcs_round_trip_through_their_tag_uri() {
    let mut rng = Rng(7);
    let mut decoded = 0;
    for _ in 0..3_000 {
        let header = ["30", "34", "38"][rng.below(3)];
        let mut hex = header.to_owned();
        let len = if header == "38" { 52 } else { 24 };
        while hex.len() < len {
            hex.push_str(&format!("{:X}", rng.next() & 0xF));
        }
        let Ok(s) = parse_from(&hex, ScanSource::Rfid) else {
            continue;
        };
        let TagForm::Epc {
            tag_uri: Some(tag_uri),
            key,
            ..
        } = &s.form
        else {
            continue;
        };
        let back = parse(tag_uri).unwrap();
        let TagForm::EpcUri {
            hex: back_hex,
            key: back_key,
            ..
        } = &back.form
        else {
            panic!("{tag_uri}")
        };
        // GIAI-202 pads with zeros after the terminator; random tails are refused earlier.
        assert_eq!(back_hex.as_deref(), Some(hex.as_str()), "{tag_uri}");
        assert_eq!(back_key, key);
        decoded += 1;
    }
    assert!(decoded > 100, "only {decoded} random EPCs decoded");
}
