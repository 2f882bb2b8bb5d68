//! The round trip: a bag exported from one Custodian and imported into a fresh one, through the
//! import manifest the bag carries (`custodian-import.jsonl`), gives the same customers,
//! documents, pages, digests, original dates and legacy origins.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};
use custodian::proto::v1 as pb;
use prost_types::Timestamp;

use crate::helpers::{
    TestApp, Token, correct, customer, filing, header, jpeg_page, pdf_page, png_page, retitle,
    spawn_app, update_customer,
};

const NATIVE: &str = "1201060001";
const IMPORTED: &str = "1201060002";

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

/// Runs the custodian binary against `app` as `token`, off the runtime serving the servers.
async fn custodian(app: &TestApp, token: &Token, args: Vec<String>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custodian"));
    command
        .args(args)
        .env("CUSTODIAN_URL", format!("http://{}", app.address))
        .env("CUSTODIAN_TOKEN", token.mint());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

async fn validate(bag: &Path) -> bool {
    let mut command = Command::new(crate::helpers::repository_file("scripts/validate-bag.sh"));
    command.arg(bag);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
        .status
        .success()
}

async fn customer_of(app: &TestApp, account: &str) -> pb::Customer {
    app.clients_as(&Token::custodian())
        .customers
        .get_customer(pb::GetCustomerRequest {
            name: format!("customers/{account}"),
        })
        .await
        .expect("the customer is read")
        .into_inner()
}

async fn documents_of(app: &TestApp, account: &str) -> Vec<pb::Document> {
    app.clients_as(&Token::custodian())
        .documents
        .list_documents(pb::ListDocumentsRequest {
            parent: format!("customers/{account}"),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("the archive is listed")
        .into_inner()
        .documents
}

/// The origin a document has after the round trip: its own legacy origin, or for one filed
/// natively the exporting Custodian and its name there.
fn expected_origin(document: &pb::Document) -> pb::LegacyOrigin {
    document
        .legacy_origin
        .clone()
        .unwrap_or_else(|| pb::LegacyOrigin {
            original_time: document.original_time,
            reference_number: document.name.clone(),
            legacy_system: "custodian".into(),
        })
}

/// A's archive: a native account with personal data, a two-page document and a corrected one,
/// closed afterwards; and an account imported closed, with a legacy record.
async fn fill_source(source: &mut TestApp) {
    source
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                id_number: "H1234567(8)".into(),
                phone: "022-23456789 转 123".into(),
                address: "天津市和平区南京路 1 号".into(),
                ..customer(NATIVE, "120101")
            }),
        })
        .await
        .unwrap();
    source
        .file(filing(
            header(NATIVE, "form-1"),
            &[jpeg_page(30_000, 1), pdf_page(12_000, 2)],
            8192,
        ))
        .await
        .unwrap();
    let proof = source
        .file(filing(
            pb::FilingHeader {
                document_type: "identity-proof".into(),
                work_order_number: String::new(),
                title: "居民身份证".into(),
                ..header(NATIVE, "proof-1")
            },
            &[png_page(9_000, 3)],
            8192,
        ))
        .await
        .unwrap();
    let mut clients = source.clients_as(&Token::custodian());
    correct(
        &mut clients,
        retitle(&proof.name, 1, "居民身份证（正反面）"),
        vec![],
    )
    .await
    .unwrap();
    let closed = pb::Customer {
        status: pb::CustomerStatus::Closed.into(),
        ..Default::default()
    };
    update_customer(source, NATIVE, closed, &["status"]).await;

    let mut importing = source.clients_as(&importer());
    importing
        .customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                customer_class: pb::CustomerClass::NonResidential.into(),
                display_name: "天津市某某机械厂".into(),
                status: pb::CustomerStatus::Closed.into(),
                open_time: Some(time("1998-03-01T16:00:00Z")),
                close_time: Some(time("2012-06-29T16:00:00Z")),
                ..customer(IMPORTED, "120102")
            }),
        })
        .await
        .unwrap();
    importing
        .documents
        .file_document(futures::stream::iter(filing(
            pb::FilingHeader {
                document_type: "supply-contract".into(),
                title: "高压供用电合同".into(),
                work_order_number: "XZ-1998-0107".into(),
                legacy_origin: Some(pb::LegacyOrigin {
                    original_time: Some(time("1998-03-01T16:00:00Z")),
                    reference_number: "1998-YX-0107".into(),
                    legacy_system: "cs-archive-2009".into(),
                }),
                ..header(IMPORTED, "import-legacy-1")
            },
            &[pdf_page(20_000, 4)],
            8192,
        )))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_exported_bag_imported_into_an_empty_custodian_gives_the_same_archive() {
    let mut source = spawn_app().await;
    fill_source(&mut source).await;
    let work = tempfile::tempdir().unwrap();
    let bag = work.path().join("bag");
    let exported = custodian(
        &source,
        &Token::custodian(),
        vec![
            "export".into(),
            "--purpose".into(),
            "迁移到新系统".into(),
            "--org-unit".into(),
            "1201".into(),
            "--output".into(),
            bag.display().to_string(),
        ],
    )
    .await;
    assert!(exported.status.success(), "{exported:?}");
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    assert!(
        info.contains("Custodian-Import-Manifest: custodian-import.jsonl"),
        "{info}"
    );
    let tags = std::fs::read_to_string(bag.join("tagmanifest-sha256.txt")).unwrap();
    assert!(tags.contains("  custodian-import.jsonl"), "{tags}");
    assert!(
        validate(&bag).await,
        "the bag with its import manifest is valid"
    );

    // A fresh Custodian: its own database and object prefix.
    let target = spawn_app().await;
    let import_args = vec![
        "import".to_owned(),
        bag.join("custodian-import.jsonl").display().to_string(),
    ];
    let imported = custodian(&target, &importer(), import_args.clone()).await;
    assert!(imported.status.success(), "{imported:?}");
    let report = work.path().join("bag.import-report");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["filed"], 3, "{summary}");
    assert_eq!(summary["verified"], 3, "{summary}");
    assert!(
        validate(&bag).await,
        "the import wrote nothing into the bag"
    );

    for account in [NATIVE, IMPORTED] {
        let (before, after) = (
            customer_of(&source, account).await,
            customer_of(&target, account).await,
        );
        let fields = |c: &pb::Customer| {
            (
                c.display_name.clone(),
                c.customer_class,
                c.org_unit_code.clone(),
                c.status,
                (c.id_number.clone(), c.phone.clone(), c.address.clone()),
                (c.open_time, c.close_time),
            )
        };
        assert_eq!(fields(&after), fields(&before), "customer {account}");
        assert!(before.close_time.is_some());

        let (before, after) = (
            documents_of(&source, account).await,
            documents_of(&target, account).await,
        );
        assert_eq!(after.len(), before.len(), "documents of {account}");
        for original in &before {
            let origin = expected_origin(original);
            let copy = after
                .iter()
                .find(|d| {
                    d.legacy_origin
                        .as_ref()
                        .is_some_and(|o| o.reference_number == origin.reference_number)
                })
                .unwrap_or_else(|| panic!("{} was not re-imported", original.name));
            let fields = |d: &pb::Document| {
                (
                    d.document_type.clone(),
                    d.business_process,
                    d.work_order_number.clone(),
                    d.title.clone(),
                    d.original_time,
                )
            };
            assert_eq!(fields(copy), fields(original), "{}", original.name);
            let pages = |d: &pb::Document| {
                d.pages
                    .iter()
                    .map(|p| {
                        (
                            p.page_number,
                            p.sha256.clone(),
                            p.media_type.clone(),
                            p.size_bytes,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(pages(copy), pages(original), "{}", original.name);
            assert_eq!(copy.legacy_origin.as_ref(), Some(&origin));
            let kept = |app: &TestApp, name: String| {
                let mut app = app.clients_as(&Token::custodian());
                async move {
                    let r = app
                        .retention
                        .get_retention(pb::GetRetentionRequest { name })
                        .await
                        .unwrap()
                        .into_inner();
                    (r.retention_class, r.start_time, r.expire_time)
                }
            };
            assert_eq!(
                kept(&target, copy.name.clone()).await,
                kept(&source, original.name.clone()).await,
                "the retention of {}",
                original.name
            );
        }
    }
    // The corrected document came over as its current version.
    let proof = documents_of(&target, NATIVE)
        .await
        .into_iter()
        .find(|d| d.document_type == "identity-proof")
        .unwrap();
    assert_eq!(proof.title, "居民身份证（正反面）");

    // Importing the same bag again is a rerun: everything is found present.
    let again = custodian(&target, &importer(), import_args).await;
    assert!(again.status.success(), "{again:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        (
            summary["filed"].as_i64(),
            summary["already_present"].as_i64()
        ),
        (Some(0), Some(3)),
        "{summary}"
    );
}
