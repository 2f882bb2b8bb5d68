//! CSV manifests as spreadsheets write them (a byte order mark, quoted fields, a row spanning
//! two lines, columns in any order): checked like JSON Lines with each row's line number,
//! reported in CSV, and the fixed report fed back.

use std::process::{Command, Output};

use custodian::proto::v1 as pb;
use secrecy::ExposeSecret;

use crate::helpers::{TestApp, Token, jpeg_page, pdf_page, sha256_hex, spawn_app};

const ACCOUNT: &str = "1201070001";

fn importer() -> Token {
    Token::new("archive-desk", "archive-importer", Some("12"))
}

async fn run(app: &TestApp, manifest: &std::path::Path, extra: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custodian"));
    command
        .arg("import")
        .args(["--url", &format!("http://{}", app.address)])
        .args(["--token", &importer().mint()])
        .arg("--type-map")
        .arg(manifest.parent().unwrap().join("type-map.json"))
        .args(extra)
        .arg(manifest)
        .env_remove("CUSTODIAN_TOKEN");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

async fn document_count(app: &TestApp) -> i64 {
    let mut connection =
        <sqlx::PgConnection as sqlx::Connection>::connect(app.database_url.expose_secret())
            .await
            .unwrap();
    sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&mut connection)
        .await
        .unwrap()
}

/// The error report's rows, as a map of column name to value each.
fn report_rows(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|row| row.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[tokio::test]
async fn a_csv_manifest_is_checked_by_line_reported_in_csv_and_re_fed_once_fixed() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pages")).unwrap();
    std::fs::write(
        dir.path().join("type-map.json"),
        r#"{"YX-01": "application-form", "YX-02": "identity-proof"}"#,
    )
    .unwrap();
    let page = |name: &str, bytes: Vec<u8>| {
        std::fs::write(dir.path().join("pages").join(name), &bytes).unwrap();
        bytes
    };
    page("c1a.jpg", jpeg_page(2_000, 1));
    let c1b = page("c1b.pdf", pdf_page(2_000, 2));
    for (name, seed) in [("c2.jpg", 3), ("c3.jpg", 4), ("c5.jpg", 5)] {
        page(name, jpeg_page(2_000, seed));
    }
    let csv = format!(
        "\u{feff}account_number,customer_display_name,customer_class,customer_org_unit_code,document_type,business_process,title,original_date,reference_number,legacy_system,pages,page_sha256\n\
         {ACCOUNT},陈大文,residential,120101,YX-01,new_connection,\"申请书, 第一份\",2005-06-07,C-1,cs-archive,pages/c1a.jpg | pages/c1b.pdf,|{}\n\
         {ACCOUNT},,,,YX-02,new_connection,\"身份证\n正反面\",2005-06-07,C-2,cs-archive,pages/c2.jpg,\n\
         {ACCOUNT},,,,YX-99,new_connection,通知书,2005-06-07,C-3,cs-archive,pages/c3.jpg,\n\
         {ACCOUNT},,,,YX-01,new_connection,申请书,2005-06-07,C-4,cs-archive,pages/nowhere.jpg,\n\
         {ACCOUNT},YX-01\n\
         {ACCOUNT},,,,YX-02,new_connection,身份证,2005-06-07,C-5,cs-archive,pages/c5.jpg,\n",
        sha256_hex(&c1b)
    );
    let manifest = dir.path().join("scans.csv");
    std::fs::write(&manifest, csv).unwrap();
    let errors = dir.path().join("scans.csv.report/errors.csv");

    // Every bad row with the line it starts on (the quoted title spans lines 3 and 4), and
    // nothing filed.
    for extra in [&["--dry-run"][..], &[][..]] {
        let output = run(&app, &manifest, extra).await;
        assert!(!output.status.success(), "{output:?}");
        let (header, rows) = report_rows(&errors);
        assert_eq!(header.first().map(String::as_str), Some("account_number"));
        assert_eq!(header.last().map(String::as_str), Some("import_errors"));
        let reasons: Vec<&str> = rows.iter().map(|r| r.last().unwrap().as_str()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        for (reason, (line, what)) in reasons.iter().zip([
            (3, "title"),
            (5, "document_type"),
            (6, "cannot open"),
            (7, "has 2 fields, the header 12"),
        ]) {
            assert!(
                reason.starts_with(&format!("line {line}: ")) && reason.contains(what),
                "{reason}"
            );
        }
        assert_eq!(rows[1][8], "C-3", "each row as it was");
        assert_eq!(document_count(&app).await, 0, "nothing is filed");
    }

    let output = run(&app, &manifest, &["--skip-invalid"]).await;
    assert!(
        !output.status.success(),
        "invalid rows make the exit non-zero"
    );
    assert_eq!(document_count(&app).await, 2);
    let documents = app
        .clients_as(&Token::custodian())
        .documents
        .list_documents(pb::ListDocumentsRequest {
            parent: format!("customers/{ACCOUNT}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .documents;
    let first = documents
        .iter()
        .find(|d| d.title == "申请书, 第一份")
        .expect("the quoted title keeps its comma");
    assert_eq!(first.pages.len(), 2);
    assert_eq!(first.pages[1].sha256, sha256_hex(&c1b));

    // The report, fixed in place of its rows and fed back as a manifest (its import_errors
    // column is ignored); the short row is dropped.
    let (header, rows) = report_rows(&errors);
    let fixed_path = dir.path().join("fixed.csv");
    let mut writer = csv::Writer::from_path(&fixed_path).unwrap();
    writer.write_record(&header).unwrap();
    for mut row in rows.into_iter().filter(|row| row.len() == header.len()) {
        row[6] = row[6].replace('\n', " ");
        row[4] = row[4].replace("YX-99", "YX-01");
        row[10] = row[10].replace("nowhere.jpg", "c3.jpg");
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
    let output = run(&app, &fixed_path, &[]).await;
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("fixed.csv.report/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (summary["filed"].as_i64(), summary["verified"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(document_count(&app).await, 5);
}
