//! Fixity: a scrub re-reads stored pages and re-hashes them against their content address,
//! records what it found, and `custodian fixity-failures` lists every page that failed.

use custodian::domain::FixityOutcome;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use secrecy::ExposeSecret as _;

use crate::helpers::{AUDIT_CHAIN_KEY, TestApp, filing, header, jpeg_page, sha256_hex, spawn_app};

const ACCOUNT: &str = "1201000001";

fn content_key(bytes: &[u8]) -> Path {
    let hex = sha256_hex(bytes);
    Path::from(format!("pages/sha256/{}/{hex}", &hex[..2]))
}

fn digest_of(bytes: &[u8]) -> custodian::domain::Sha256Digest {
    custodian::domain::Sha256Digest::parse_hex(&sha256_hex(bytes)).unwrap()
}

/// Runs `custodian fixity-failures` on the test's database: (succeeded, stdout).
fn list_failures(app: &TestApp) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_custodian"))
        .arg("fixity-failures")
        .env("CUSTODIAN_DATABASE__URL", app.database_url.expose_secret())
        .env("CUSTODIAN_AUTH__AUDIT_CHAIN_KEY", AUDIT_CHAIN_KEY)
        .env("CUSTODIAN_LOG__FILTER", "error")
        .output()
        .expect("the command runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn a_scrub_finds_corrupted_and_missing_pages_and_the_command_lists_them() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let (whole, corrupted, lost) = (jpeg_page(900, 1), jpeg_page(900, 2), jpeg_page(900, 3));
    let filed = app
        .file(filing(
            header(ACCOUNT, "scrubbed"),
            &[whole.clone(), corrupted.clone(), lost.clone()],
            4096,
        ))
        .await
        .unwrap();
    assert_eq!(
        list_failures(&app),
        (true, "no fixity failures\n".into()),
        "nothing checked, nothing failed"
    );

    // The store flips bits in one object and loses another.
    let mut flipped = corrupted.clone();
    flipped[500] ^= 0x40;
    app.objects
        .put(
            &content_key(&corrupted),
            bytes::Bytes::from(flipped.clone()).into(),
        )
        .await
        .unwrap();
    app.objects.delete(&content_key(&lost)).await.unwrap();

    let archive = app.archive();
    let scrub = archive.scrub_pages(10).await.unwrap();
    assert_eq!(scrub.unreachable, 0);
    let mut found = scrub.checked.clone();
    found.sort_by_key(|(sha256, _)| sha256.to_hex());
    let mut expected = vec![
        (digest_of(&whole), FixityOutcome::Intact),
        (
            digest_of(&corrupted),
            FixityOutcome::Mismatch(digest_of(&flipped)),
        ),
        (digest_of(&lost), FixityOutcome::Missing),
    ];
    expected.sort_by_key(|(sha256, _)| sha256.to_hex());
    assert_eq!(found, expected);

    // The failures are on record, with the document that shows them.
    let failures = app.database().fixity_failures().await.unwrap();
    assert_eq!(failures.len(), 2, "{failures:?}");
    for failure in &failures {
        assert_eq!(
            failure
                .documents
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec![filed.name.clone()]
        );
    }
    let (clean, listed) = list_failures(&app);
    assert!(!clean, "the command exits non-zero while pages are damaged");
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(&sha256_hex(&corrupted))
                && line.contains("mismatch")
                && line.contains(&sha256_hex(&flipped))
                && line.ends_with(&filed.name)),
        "{listed}"
    );
    assert!(
        lines.iter().any(|line| line.starts_with(&sha256_hex(&lost))
            && line.contains("missing")
            && line.ends_with(&filed.name)),
        "{listed}"
    );

    // Repaired, the next round of checks clears the record.
    app.objects
        .put(
            &content_key(&corrupted),
            bytes::Bytes::from(corrupted.clone()).into(),
        )
        .await
        .unwrap();
    app.objects
        .put(&content_key(&lost), bytes::Bytes::from(lost.clone()).into())
        .await
        .unwrap();
    let again = archive.scrub_pages(10).await.unwrap();
    assert!(
        again
            .checked
            .iter()
            .all(|(_, outcome)| *outcome == FixityOutcome::Intact),
        "{again:?}"
    );
    assert_eq!(list_failures(&app), (true, "no fixity failures\n".into()));
}
