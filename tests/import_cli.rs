//! `fieldops import` and `fieldops export` as an operator runs them, on both databases: a dry
//! run that reports and writes nothing (exit status 1), per-row keeping the good rows, a
//! mapping, and an export that imports back as no change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use domain::testing::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_fieldops");

domain::backend_matrix!(TestDb: the_operator_imports_and_exports_from_the_command_line);

fn fieldops(db: &TestDb, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .output()
        .expect("run fieldops")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

async fn the_operator_imports_and_exports_from_the_command_line(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let file = path(dir.path(), "fleet.csv");
    std::fs::write(&file, "Nr;Bezeichnung\nA-1;Bagger\nA-2;\nA-3;Walze\n").unwrap();
    let mapping = "Nr=code,Bezeichnung=name";

    let out = fieldops(
        &db,
        &["import", "assets", &file, "--mapping", mapping, "--dry-run"],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("3 rows, 2 created, 0 unchanged, 1 refused"),
        "{said}"
    );
    assert!(said.contains("row 3, column `Bezeichnung`"), "{said}");
    assert!(said.contains("nothing written"), "{said}");
    assert_eq!(db.count("SELECT COUNT(*) FROM assets").await, 0);

    let out = fieldops(
        &db,
        &["import", "assets", &file, "--mapping", mapping, "--per-row"],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("the others were imported"), "{said}");
    assert_eq!(db.count("SELECT COUNT(*) FROM assets").await, 2);

    // Without a mapping the German headers name no field.
    let out = fieldops(&db, &["import", "assets", &file]);
    assert!(
        text(&out).contains("no column for code, name"),
        "{}",
        text(&out)
    );

    for name in ["fleet-export.xlsx", "fleet-export.csv"] {
        let exported = path(dir.path(), name);
        let out = fieldops(&db, &["export", "assets", &exported]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("wrote 2 assets"), "{}", text(&out));
        let out = fieldops(&db, &["import", "assets", &exported]);
        let said = text(&out);
        assert!(out.status.success(), "{said}");
        assert!(
            said.contains("2 rows, 0 created, 2 unchanged, 0 refused"),
            "{said}"
        );
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM assets").await, 2);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'export.run' AND actor = 'cli'")
            .await,
        2
    );
}
