//! Bringing legacy archives in: `custodian import` run as a process against the test's server,
//! and the API rules it relies on (original dates, closed accounts, the import-records
//! permission).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use custodian::proto::v1 as pb;
use prost_types::Timestamp;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{
    TestApp, Token, customer, filing, header, jpeg_page, pdf_page, retention, sha256_hex,
    spawn_app, update_customer,
};

fn importer() -> Token {
    Token::new("archive-desk", "archive-importer", Some("12"))
}

fn time(text: &str) -> Timestamp {
    let time: DateTime<Utc> = text.parse().unwrap();
    Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    }
}

/// A manifest folder: page files and the manifest's lines.
struct Manifest {
    dir: tempfile::TempDir,
    lines: Vec<String>,
}

impl Manifest {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pages")).unwrap();
        std::fs::write(
            dir.path().join("type-map.json"),
            r#"{"YX-01": "application-form", "YX-02": "identity-proof"}"#,
        )
        .unwrap();
        Self {
            dir,
            lines: Vec::new(),
        }
    }

    /// Writes a page and returns its path relative to the manifest.
    fn page(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.dir.path().join("pages").join(name), bytes).unwrap();
        format!("pages/{name}")
    }

    fn line(&mut self, line: serde_json::Value) {
        self.lines.push(line.to_string());
    }

    fn raw(&mut self, text: &str) {
        self.lines.push(text.to_owned());
    }

    fn path(&self) -> PathBuf {
        let path = self.dir.path().join("manifest.jsonl");
        std::fs::write(&path, self.lines.join("\n") + "\n").unwrap();
        path
    }

    fn report(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("manifest.jsonl.report").join(file))
            .unwrap_or_default()
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::from_str(&self.report("summary.json")).unwrap()
    }
}

/// A document line of account `account` with one JPEG page unique to `seed`.
fn document(manifest: &Manifest, account: &str, reference: &str, seed: u64) -> serde_json::Value {
    let page = manifest.page(&format!("{reference}.jpg"), &jpeg_page(2_000, seed));
    json!({
        "account_number": account,
        "document_type": "YX-01",
        "business_process": "new_connection",
        "title": format!("申请书 {reference}"),
        "original_date": "2005-06-07",
        "reference_number": reference,
        "legacy_system": "cs-archive",
        "pages": [page],
    })
}

fn command(app: &TestApp, manifest: &Path, token: &Token, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custodian"));
    command
        .arg("import")
        .arg("--url")
        .arg(format!("http://{}", app.address))
        .arg("--token")
        .arg(token.mint())
        .arg("--type-map")
        .arg(manifest.parent().unwrap().join("type-map.json"))
        .args(extra)
        .arg(manifest)
        .env_remove("CUSTODIAN_TOKEN");
    command
}

/// Runs the importer to its end, off the runtime that serves the test's server.
async fn run(app: &TestApp, manifest: &Path, token: &Token, extra: &[&str]) -> Output {
    let mut command = command(app, manifest, token, extra);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

async fn documents_of(app: &TestApp, account: &str) -> Vec<pb::Document> {
    app.clients_as(&Token::custodian())
        .documents
        .list_documents(pb::ListDocumentsRequest {
            parent: format!("customers/{account}"),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("the archive is listed")
        .into_inner()
        .documents
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

fn by_reference<'a>(documents: &'a [pb::Document], reference: &str) -> &'a pb::Document {
    documents
        .iter()
        .find(|d| {
            d.legacy_origin
                .as_ref()
                .is_some_and(|o| o.reference_number == reference)
        })
        .unwrap_or_else(|| panic!("no document with reference {reference}"))
}

#[tokio::test]
async fn an_import_files_new_existing_and_closed_accounts_with_their_original_dates() {
    let mut app = spawn_app().await;
    app.create_customer("1201020001").await;
    app.create_customer("1201020002").await;
    let closed = pb::Customer {
        status: pb::CustomerStatus::Closed.into(),
        ..Default::default()
    };
    update_customer(&mut app, "1201020002", closed.clone(), &["status"]).await;

    let mut manifest = Manifest::new();
    let mut new_account = document(&manifest, "1201020003", "R-1", 1);
    new_account["customer"] = json!({
        "display_name": "陈大文", "customer_class": "residential", "org_unit_code": "120101",
        "open_date": "2001-02-03", "id_number": "H1234567(8)", "phone": "022-23456789 转 123",
    });
    manifest.line(new_account);
    manifest.line(document(&manifest, "1201020001", "R-2", 2));
    let mut into_closed = document(&manifest, "1201020002", "R-3", 3);
    into_closed["document_type"] = json!("YX-02");
    manifest.line(into_closed);
    let pdf = pdf_page(3_000, 4);
    let mut closed_in_source = json!({
        "account_number": "1201020004",
        "customer": {"display_name": "李建国", "customer_class": "residential",
                     "org_unit_code": "120101", "status": "closed", "open_date": "1990-01-01",
                     "close_date": "2010-06-30", "id_number": "120101580302001"},
        "document_type": "identity-proof", "business_process": "new_connection",
        "title": "居民身份证", "original_date": "1990-01-01", "reference_number": "R-4",
        "legacy_system": "cs-archive",
    });
    closed_in_source["pages"] =
        json!([{"path": manifest.page("r4.pdf", &pdf), "sha256": sha256_hex(&pdf)}]);
    manifest.line(closed_in_source);

    let output = run(&app, &manifest.path(), &importer(), &["--jobs", "3"]).await;
    assert!(output.status.success(), "{output:?}");
    let summary = manifest.summary();
    assert_eq!(summary["filed"], 4, "{summary}");
    assert_eq!(summary["verified"], 4, "{summary}");
    assert_eq!(summary["verification_failures"], 0, "{summary}");

    // An existing account: retention counts 30 years from the original date (midnight in
    // Beijing), not from the import; the import day stays as the file time.
    let existing = documents_of(&app, "1201020001").await;
    let document = by_reference(&existing, "R-2");
    assert_eq!(document.original_time, Some(time("2005-06-06T16:00:00Z")));
    assert!(document.file_time.as_ref().unwrap().seconds > time("2026-01-01T00:00:00Z").seconds);
    let kept = retention(&mut app, &document.name).await;
    assert_eq!(kept.start_time, Some(time("2005-06-06T16:00:00Z")));
    assert_eq!(kept.expire_time, Some(time("2035-06-06T16:00:00Z")));

    // An account closed in its source: opened closed with its dates, and its identity proof's
    // retention runs from that closure, which reopening and closing again does not move.
    let documents = documents_of(&app, "1201020004").await;
    let proof = by_reference(&documents, "R-4");
    assert_eq!(proof.pages[0].sha256, sha256_hex(&pdf));
    let before = retention(&mut app, &proof.name).await;
    assert_eq!(before.start_time, Some(time("2010-06-29T16:00:00Z")));
    let active = pb::Customer {
        status: pb::CustomerStatus::Active.into(),
        ..Default::default()
    };
    update_customer(&mut app, "1201020004", active, &["status"]).await;
    update_customer(&mut app, "1201020004", closed, &["status"]).await;
    assert_eq!(
        retention(&mut app, &proof.name).await.start_time,
        before.start_time
    );

    // An account closed in Custodian takes the imported record.
    let documents = documents_of(&app, "1201020002").await;
    assert_eq!(
        by_reference(&documents, "R-3").document_type,
        "identity-proof"
    );

    // The new account keeps its source's opening date and its Hong Kong ID and extension,
    // masked by their form for a role that sees personal data masked.
    let name = "customers/1201020003".to_owned();
    let full = app
        .clients_as(&Token::custodian())
        .customers
        .get_customer(pb::GetCustomerRequest { name: name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.open_time, Some(time("2001-02-02T16:00:00Z")));
    assert_eq!(full.id_number, "H1234567(8)");
    let masked = app
        .clients_as(&Token::new("archive-desk", "auditor", None))
        .customers
        .get_customer(pb::GetCustomerRequest { name })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(masked.id_number, "H1******(*)");
    assert_eq!(masked.phone, "022*****6789 转 ***");

    // The audit trail records both times and the origin of each import.
    let events = app
        .clients_as(&Token::custodian())
        .audit
        .list_audit_events(pb::ListAuditEventsRequest {
            account_number: "1201020001".into(),
            action: "FileDocument".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let details: serde_json::Value = serde_json::from_str(&events[0].details).unwrap();
    assert_eq!(
        details["legacy_origin"]["original_time"],
        "2005-06-06T16:00:00+00:00"
    );
    assert_eq!(details["legacy_origin"]["reference_number"], "R-2");
    assert!(details["file_time"].as_str().unwrap().starts_with("20"));
}

#[tokio::test]
async fn a_rerun_after_the_importer_is_killed_files_only_what_is_missing() {
    let app = spawn_app().await;
    let mut manifest = Manifest::new();
    let total = 60;
    for i in 0..total {
        let mut line = document(&manifest, &format!("12010300{i:02}"), &format!("K-{i}"), i);
        line["customer"] = json!({"display_name": format!("客户{i}"),
            "customer_class": "residential", "org_unit_code": "120101"});
        manifest.line(line);
    }
    let path = manifest.path();

    let mut child = command(&app, &path, &importer(), &["--jobs", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..3_000 {
        if document_count(&app).await >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let after_kill = document_count(&app).await;
    assert!(
        (5..total as i64).contains(&after_kill),
        "the importer was to be killed mid-way, it had filed {after_kill} of {total}"
    );

    let output = run(&app, &path, &importer(), &["--jobs", "4"]).await;
    assert!(output.status.success(), "{output:?}");
    let summary = manifest.summary();
    assert_eq!(summary["already_present"], after_kill, "{summary}");
    assert_eq!(summary["filed"], total as i64 - after_kill, "{summary}");
    assert_eq!(summary["verified"], total, "{summary}");
    // Nothing twice, nothing missing.
    assert_eq!(document_count(&app).await, total as i64);
    let distinct: i64 = {
        let mut connection =
            <sqlx::PgConnection as sqlx::Connection>::connect(app.database_url.expose_secret())
                .await
                .unwrap();
        sqlx::query_scalar("SELECT count(DISTINCT legacy_reference) FROM documents")
            .fetch_one(&mut connection)
            .await
            .unwrap()
    };
    assert_eq!(distinct, total as i64);
}

#[tokio::test]
async fn bad_lines_are_reported_with_their_line_numbers_and_nothing_is_filed() {
    let mut app = spawn_app().await;
    app.create_customer("1201040001").await;
    let mut manifest = Manifest::new();
    manifest.line(document(&manifest, "1201040001", "B-1", 1)); // 1: good
    let mut unknown_type = document(&manifest, "1201040001", "B-2", 2);
    unknown_type["document_type"] = json!("YX-99");
    manifest.line(unknown_type); // 2
    manifest.line(document(&manifest, "12ab", "B-3", 3)); // 3
    let mut missing = document(&manifest, "1201040001", "B-4", 4);
    missing["pages"] = json!(["pages/nowhere.jpg"]);
    manifest.line(missing); // 4
    let mut text = document(&manifest, "1201040001", "B-5", 5);
    text["pages"] = json!([manifest.page("note.jpg", b"just some text, not a scan")]);
    manifest.line(text); // 5
    manifest.line(document(&manifest, "1201040001", "B-1", 6)); // 6: duplicate of 1
    manifest.raw("{\"account_number\": "); // 7
    let path = manifest.path();

    for extra in [&["--dry-run"][..], &[][..]] {
        let output = run(&app, &path, &importer(), extra).await;
        assert!(!output.status.success(), "{output:?}");
        let report = manifest.report("errors.jsonl");
        let lines: Vec<serde_json::Value> = report
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let reasons: Vec<String> = lines
            .iter()
            .map(|l| l["import_errors"][0].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(lines.len(), 6, "{reasons:?}");
        for (reason, (line, what)) in reasons.iter().zip([
            (2, "document_type"),
            (3, "account_number"),
            (4, "cannot open"),
            (5, "not JPEG, PNG, TIFF or PDF"),
            (6, "duplicate of line 1"),
            (7, "not a manifest line"),
        ]) {
            assert!(
                reason.starts_with(&format!("line {line}: ")) && reason.contains(what),
                "{reason}"
            );
        }
        // Each reported line is the manifest's line as it was, to be fixed and fed back.
        assert_eq!(lines[0]["reference_number"], "B-2");
        assert_eq!(document_count(&app).await, 0, "nothing is filed");
    }
}

#[tokio::test]
async fn only_the_import_permission_backdates_or_files_into_a_closed_account() {
    let mut app = spawn_app().await;
    app.create_customer("1201050001").await;
    let origin = pb::LegacyOrigin {
        original_time: Some(time("2009-05-11T16:00:00Z")),
        reference_number: "P-1".into(),
        legacy_system: "cs-archive".into(),
    };
    let backdated = pb::FilingHeader {
        legacy_origin: Some(origin.clone()),
        ..header("1201050001", "backdate-1")
    };
    let page = jpeg_page(1_000, 1);
    for token in [
        Token::new("marketing", "counter-clerk", Some("1201")),
        Token::new("marketing", "county-custodian", Some("1201")),
    ] {
        let status = app
            .clients_as(&token)
            .documents
            .file_document(futures::stream::iter(filing(
                backdated.clone(),
                std::slice::from_ref(&page),
                512,
            )))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
        assert!(status.message().contains("import-records"), "{status:?}");
    }

    // Opening an account with the dates of another archive is an import too.
    let dated = pb::Customer {
        open_time: Some(time("1998-01-01T00:00:00Z")),
        ..customer("1201050002", "120101")
    };
    let status = app
        .clients_as(&Token::new("marketing", "counter-clerk", Some("1201")))
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(dated),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");

    // A closed account refuses a plain filing, even from the importer, and takes an import.
    let closed = pb::Customer {
        status: pb::CustomerStatus::Closed.into(),
        ..Default::default()
    };
    update_customer(&mut app, "1201050001", closed, &["status"]).await;
    let mut importer = app.clients_as(&importer());
    let status = importer
        .documents
        .file_document(futures::stream::iter(filing(
            header("1201050001", "plain-1"),
            std::slice::from_ref(&page),
            512,
        )))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    let filed = importer
        .documents
        .file_document(futures::stream::iter(filing(
            pb::FilingHeader {
                client_request_id: "import-1".into(),
                ..backdated.clone()
            },
            std::slice::from_ref(&page),
            512,
        )))
        .await
        .expect("an import files into a closed account")
        .into_inner();
    assert_eq!(filed.legacy_origin, Some(origin));

    // A record cannot come from the future.
    let future = pb::FilingHeader {
        client_request_id: "import-2".into(),
        legacy_origin: Some(pb::LegacyOrigin {
            original_time: Some(time("2999-01-01T00:00:00Z")),
            ..backdated.legacy_origin.clone().unwrap()
        }),
        ..backdated
    };
    let status = importer
        .documents
        .file_document(futures::stream::iter(filing(future, &[page], 512)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("original_time"), "{status:?}");
}

#[tokio::test]
async fn the_sample_manifest_of_the_readme_imports_and_verifies() {
    let app = spawn_app().await;
    let sample = crate::helpers::repository_file("examples/import");
    let reports = tempfile::tempdir().unwrap();
    let mut command = command(&app, &sample.join("manifest.jsonl"), &importer(), &[]);
    command.arg("--report-dir").arg(reports.path());
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["filed"], 6, "{summary}");
    assert_eq!(summary["verified"], 6, "{summary}");
    let closed = documents_of(&app, "1201019002").await;
    assert_eq!(closed.len(), 2);
}
