//! Export: `custodian export` against the real server writes a BagIt bag that an independent
//! implementation (PyPI `bagit`, through scripts/validate-bag.sh) validates; the export is
//! audited with its purpose; masking, page permissions and reach apply as they do to reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use custodian::proto::v1 as pb;

use crate::helpers::{
    TestApp, Token, customer, eventually, filing, header, jpeg_page, pdf_page, repository_file,
    sha256_hex, spawn_app,
};

const ACCOUNT: &str = "1201000001";
const NEIGHBOUR: &str = "1201000002";
const ID_NUMBER: &str = "11010519491231002X";
const PHONE: &str = "13812345678";
const PURPOSE: &str = "移交市档案馆 2026-17";

/// What a command printed and whether it succeeded.
struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs a command off the runtime's threads (the test's server runs on them).
async fn run(mut command: std::process::Command) -> Ran {
    let output = tokio::task::spawn_blocking(move || command.output().expect("the command runs"))
        .await
        .unwrap();
    Ran {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `custodian export` as `token` with `set` (e.g. `["--account", ACCOUNT]`) into `bag`.
async fn export(app: &TestApp, token: &Token, set: &[&str], bag: &Path) -> Ran {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_custodian"));
    command
        .arg("export")
        .args(["--purpose", PURPOSE])
        .args(set)
        .arg("--output")
        .arg(bag)
        .env("CUSTODIAN_URL", format!("http://{}", app.address))
        .env("CUSTODIAN_TOKEN", token.mint());
    run(command).await
}

async fn validate(bag: &Path) -> Ran {
    let mut command = std::process::Command::new(repository_file("scripts/validate-bag.sh"));
    command.arg(bag);
    run(command).await
}

/// A fresh directory for the test's bags, removed with the test's temp dir.
fn bag_dir(name: &str) -> (tempdir::Guard, PathBuf) {
    let guard = tempdir::Guard::new();
    let path = guard.0.join(name);
    (guard, path)
}

mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Guard(pub std::path::PathBuf);

    impl Guard {
        pub fn new() -> Self {
            let path =
                std::env::temp_dir().join(format!("custodian-export-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Opens `account` in `org_unit` with personal data, as the province custodian.
async fn open_with_personal_data(app: &mut TestApp, account: &str, org_unit: &str) {
    app.customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                id_number: ID_NUMBER.into(),
                phone: PHONE.into(),
                ..customer(account, org_unit)
            }),
        })
        .await
        .expect("the customer is created");
}

/// Files a document of `document_type` with `pages` and returns it.
async fn file_pages(
    app: &mut TestApp,
    account: &str,
    document_type: &str,
    pages: &[Vec<u8>],
) -> pb::Document {
    let header = pb::FilingHeader {
        document_type: document_type.into(),
        title: format!("{document_type} of {account}"),
        ..header(account, &uuid::Uuid::new_v4().to_string())
    };
    app.file(filing(header, pages, 4096))
        .await
        .expect("the document is filed")
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The files under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn an_exported_account_is_a_valid_bag_and_one_altered_byte_invalidates_it() {
    let mut app = spawn_app().await;
    open_with_personal_data(&mut app, ACCOUNT, "120101").await;
    let (jpeg, pdf) = (jpeg_page(20_000, 1), pdf_page(9_000, 2));
    let form = file_pages(
        &mut app,
        ACCOUNT,
        "application-form",
        &[jpeg.clone(), pdf.clone()],
    )
    .await;
    let proof = file_pages(&mut app, ACCOUNT, "identity-proof", &[jpeg_page(5_000, 3)]).await;
    let (_guard, bag) = bag_dir("bag");

    let ran = export(&app, &Token::custodian(), &["--account", ACCOUNT], &bag).await;
    assert!(ran.success, "export failed: {}", ran.stderr);
    assert!(
        ran.stdout.contains("1 accounts, 2 documents, 3 pages"),
        "summary: {}",
        ran.stdout
    );

    // The layout: account / document / page number and media type, a metadata file each.
    let form_dir = bag.join(format!("data/{ACCOUNT}/{}", form.document_id));
    assert_eq!(std::fs::read(form_dir.join("1.jpg")).unwrap(), jpeg);
    assert_eq!(std::fs::read(form_dir.join("2.pdf")).unwrap(), pdf);
    let metadata = read_json(&form_dir.join("metadata.json"));
    assert_eq!(metadata["name"], form.name);
    assert_eq!(metadata["document_type"], "application-form");
    assert_eq!(metadata["version"], 1);
    assert_eq!(
        metadata["original_time"], metadata["file_time"],
        "filed natively"
    );
    assert!(metadata["legacy_origin"].is_null());
    assert_eq!(metadata["pages"][1]["sha256"], sha256_hex(&pdf));
    assert_eq!(metadata["versions"][0]["author_system"], "archive-desk");
    assert_eq!(
        metadata["retention"]["retention_class"],
        "RETENTION_CLASS_THIRTY_YEARS"
    );
    assert!(
        bag.join(format!("data/{ACCOUNT}/{}/1.jpg", proof.document_id))
            .exists()
    );
    let customer = read_json(&bag.join(format!("data/{ACCOUNT}/customer.json")));
    assert_eq!(
        customer["id_number"], ID_NUMBER,
        "a custodian sees it in full"
    );

    // Every payload file is in the manifest, and bag-info says who, when, why and what.
    let manifest = std::fs::read_to_string(bag.join("manifest-sha256.txt")).unwrap();
    assert_eq!(
        manifest.lines().count(),
        6,
        "3 pages, 2 metadata files, 1 customer"
    );
    assert!(manifest.contains(&format!(
        "{}  data/{ACCOUNT}/{}/2.pdf",
        sha256_hex(&pdf),
        form.document_id
    )));
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    for expected in [
        format!("Custodian-Purpose: {PURPOSE}"),
        "Custodian-Exported-By: archive-desk/tester".to_owned(),
        format!("Custodian-Set: customers/{ACCOUNT}"),
        "Bagging-Date: ".to_owned(),
        "Payload-Oxum: ".to_owned(),
    ] {
        assert!(
            info.contains(&expected),
            "bag-info.txt lacks {expected:?}:\n{info}"
        );
    }
    for tag in ["bagit.txt", "tagmanifest-sha256.txt"] {
        assert!(bag.join(tag).exists(), "{tag} is written");
    }

    let valid = validate(&bag).await;
    assert!(valid.success, "bagit refused the bag: {}", valid.stderr);

    // One byte altered in one page: the independent validator refuses the bag.
    let page = form_dir.join("2.pdf");
    let mut bytes = std::fs::read(&page).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&page, bytes).unwrap();
    let invalid = validate(&bag).await;
    assert!(!invalid.success, "an altered bag must not validate");
    assert!(
        invalid.stderr.contains("2.pdf"),
        "names the file: {}",
        invalid.stderr
    );
}

#[tokio::test]
async fn an_export_is_audited_with_its_purpose_and_set() {
    let mut app = spawn_app().await;
    open_with_personal_data(&mut app, ACCOUNT, "120101").await;
    file_pages(
        &mut app,
        ACCOUNT,
        "application-form",
        &[jpeg_page(1_000, 1)],
    )
    .await;
    let (_guard, bag) = bag_dir("bag");
    let ran = export(&app, &Token::custodian(), &["--account", ACCOUNT], &bag).await;
    assert!(ran.success, "export failed: {}", ran.stderr);

    let list = |app: &TestApp| {
        let mut audit = app.audit.clone();
        async move {
            audit
                .list_audit_events(pb::ListAuditEventsRequest {
                    account_number: ACCOUNT.into(),
                    action: "ExportDocuments".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .events
        }
    };
    // Read events are written in batches within milliseconds.
    eventually(
        Duration::from_secs(5),
        "the export's audit event",
        || async { !list(&app).await.is_empty() },
    )
    .await;
    let events = list(&app).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(
        (event.person.as_str(), event.outcome.as_str()),
        ("tester", "ok")
    );
    assert!(event.resource.starts_with("exports/"));
    let details: serde_json::Value = serde_json::from_str(&event.details).unwrap();
    assert_eq!(details["purpose"], PURPOSE);
    assert_eq!(details["set"], format!("customers/{ACCOUNT}"));
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    assert!(info.contains(&format!("Custodian-Export: {}", event.resource)));
}

#[tokio::test]
async fn a_masked_role_exports_masked_metadata_and_no_pages_it_may_not_read() {
    let mut app = spawn_app().await;
    open_with_personal_data(&mut app, ACCOUNT, "120101").await;
    let form = file_pages(
        &mut app,
        ACCOUNT,
        "application-form",
        &[jpeg_page(2_000, 1)],
    )
    .await;
    let (_guard, bag) = bag_dir("bag");

    // The auditor: personal data masked, and no read-pages.
    let auditor = Token::new("archive-desk", "auditor", None);
    let ran = export(&app, &auditor, &["--account", ACCOUNT], &bag).await;
    assert!(ran.success, "export failed: {}", ran.stderr);
    let customer = read_json(&bag.join(format!("data/{ACCOUNT}/customer.json")));
    assert_ne!(customer["id_number"], ID_NUMBER);
    assert!(customer["id_number"].as_str().unwrap().contains('*'));
    assert_ne!(customer["phone"], PHONE);
    let metadata =
        read_json(&bag.join(format!("data/{ACCOUNT}/{}/metadata.json", form.document_id)));
    assert_eq!(metadata["pages_included"], false);
    assert_eq!(
        files_under(&bag.join("data")),
        vec![
            format!("{ACCOUNT}/{}/metadata.json", form.document_id),
            format!("{ACCOUNT}/customer.json"),
        ],
        "metadata only"
    );
    // Masked and without pages, the set cannot be re-imported as it was: no import manifest.
    assert!(!bag.join("custodian-import.jsonl").exists());
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    assert!(info.contains("Custodian-Import-Manifest: none ("), "{info}");
    let valid = validate(&bag).await;
    assert!(
        valid.success,
        "a metadata-only bag is valid: {}",
        valid.stderr
    );

    // An inspector may read pages but not export.
    let (_guard2, refused_bag) = bag_dir("refused");
    let inspector = Token::new("marketing", "inspector", Some("1201"));
    let refused = export(&app, &inspector, &["--account", ACCOUNT], &refused_bag).await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("export-records"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused_bag.exists(),
        "nothing is written for a refused export"
    );
}

#[tokio::test]
async fn archives_out_of_reach_never_appear_in_an_export() {
    let mut app = spawn_app().await;
    open_with_personal_data(&mut app, ACCOUNT, "120101").await;
    open_with_personal_data(&mut app, NEIGHBOUR, "120102").await;
    let inside = file_pages(&mut app, ACCOUNT, "notice", &[jpeg_page(1_000, 1)]).await;
    file_pages(
        &mut app,
        ACCOUNT,
        "application-form",
        &[jpeg_page(1_000, 2)],
    )
    .await;
    let outside = file_pages(&mut app, NEIGHBOUR, "notice", &[jpeg_page(1_000, 3)]).await;
    let county = Token::new("archive-desk", "county-custodian", Some("120101"));

    // The whole city asked for, by a county's custodian: only the county's archive comes,
    // and of it only the type asked for.
    let (_guard, bag) = bag_dir("city");
    let ran = export(
        &app,
        &county,
        &["--org-unit", "1201", "--type", "notice"],
        &bag,
    )
    .await;
    assert!(ran.success, "export failed: {}", ran.stderr);
    assert_eq!(
        files_under(&bag.join("data")),
        vec![
            format!("{ACCOUNT}/{}/1.jpg", inside.document_id),
            format!("{ACCOUNT}/{}/metadata.json", inside.document_id),
            format!("{ACCOUNT}/customer.json"),
        ]
    );
    assert!(validate(&bag).await.success);

    // The province custodian's export of the same unit has both archives.
    let (_guard2, province_bag) = bag_dir("province");
    let ran = export(
        &app,
        &Token::custodian(),
        &["--org-unit", "1201", "--type", "notice"],
        &province_bag,
    )
    .await;
    assert!(ran.success, "export failed: {}", ran.stderr);
    assert!(
        province_bag
            .join(format!("data/{NEIGHBOUR}/{}/1.jpg", outside.document_id))
            .exists()
    );

    // An explicit list naming a document out of reach is refused as if it did not exist.
    let (_guard3, listed_bag) = bag_dir("listed");
    let ran = export(
        &app,
        &county,
        &["--document", &inside.name, "--document", &outside.name],
        &listed_bag,
    )
    .await;
    assert!(!ran.success);
    assert!(ran.stderr.contains("not found"), "{}", ran.stderr);
    // The list is read whole before the export starts: nothing was written at all.
    assert!(!listed_bag.exists(), "no half-written bag");
    assert!(!partial(&listed_bag).exists());
}

/// Where `custodian export` writes a bag until it is whole.
fn partial(bag: &Path) -> PathBuf {
    let mut name = bag.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

#[tokio::test]
async fn an_export_that_fails_part_way_leaves_nothing_at_its_output() {
    use object_store::ObjectStoreExt as _;

    let mut app = spawn_app().await;
    open_with_personal_data(&mut app, ACCOUNT, "120101").await;
    let lost = jpeg_page(3_000, 7);
    // Listed newest first: the document with the lost page comes last, after the other's
    // files are written.
    file_pages(&mut app, ACCOUNT, "notice", std::slice::from_ref(&lost)).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    file_pages(
        &mut app,
        ACCOUNT,
        "application-form",
        &[jpeg_page(3_000, 8)],
    )
    .await;
    let hex = sha256_hex(&lost);
    let key = object_store::path::Path::from(format!("pages/sha256/{}/{hex}", &hex[..2]));
    app.objects.delete(&key).await.unwrap();

    let (_guard, bag) = bag_dir("bag");
    let ran = export(&app, &Token::custodian(), &["--account", ACCOUNT], &bag).await;
    assert!(!ran.success, "{}", ran.stdout);
    assert!(
        ran.stderr.contains("nothing was left at the output"),
        "{}",
        ran.stderr
    );
    assert!(!bag.exists(), "no half-written bag");
    assert!(!partial(&bag).exists(), "the partial bag is removed");

    // A partial bag of an earlier, killed export is never taken for a bag: the next export of
    // the name refuses to start until it is removed.
    std::fs::create_dir_all(partial(&bag).join("data")).unwrap();
    let ran = export(&app, &Token::custodian(), &["--account", ACCOUNT], &bag).await;
    assert!(!ran.success);
    assert!(ran.stderr.contains("did not finish"), "{}", ran.stderr);
    assert!(!validate(&partial(&bag)).await.success);
}
