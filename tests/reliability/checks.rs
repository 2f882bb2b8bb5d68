//! What a run checks once the server is back: the rows and objects straight from PostgreSQL
//! and the store, the pages read back through the API, the audit chain by RPC and CLI, and the
//! orphan collector's work.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use custodian::domain::OrphanCollection;
use custodian::proto::v1 as pb;
use futures::{StreamExt as _, TryStreamExt as _};
use secrecy::ExposeSecret as _;
use sqlx::Connection as _;
use tonic::transport::Channel;

use crate::helpers::{Clients, Token, archive_on, sha256_hex};
use crate::load::{Ledger, Phase};
use crate::server::{Backends, ServerProcess};

pub async fn database(backends: &Backends) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(backends.database_url.expose_secret())
        .await
        .expect("the test database answers")
}

/// Request ids with more than one document, and the documents in all.
pub async fn documents_per_request_id(backends: &Backends) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM documents
                  GROUP BY source_system, client_request_id HAVING count(*) > 1) AS twice),
                (SELECT count(*) FROM documents)",
    )
    .fetch_one(&mut database(backends).await)
    .await
    .expect("the documents are counted")
}

/// The documents that these request ids filed: request id → document id.
pub async fn committed(backends: &Backends, request_ids: &[String]) -> HashMap<String, String> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT client_request_id, document_id::text FROM documents
         WHERE client_request_id = ANY($1)",
    )
    .bind(request_ids)
    .fetch_all(&mut database(backends).await)
    .await
    .expect("the documents are read");
    rows.into_iter().collect()
}

/// Deletions recorded (by a disposal or the collector) and not finished yet.
pub async fn pending_deletions(backends: &Backends) -> i64 {
    deletions(backends).await.1
}

/// Recorded deletions: (finished, not finished).
pub async fn deletions(backends: &Backends) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE delete_time IS NOT NULL),
                count(*) FILTER (WHERE delete_time IS NULL)
         FROM content_destructions",
    )
    .fetch_one(&mut database(backends).await)
    .await
    .expect("the deletions are counted")
}

/// What the store holds below the prefix and what the rows refer to.
pub struct Inventory {
    /// Contents some page row uses whose object is not in the store.
    pub missing: usize,
    /// Page objects no `page_contents` row refers to.
    pub unreferenced: usize,
    /// Objects under `staging/`.
    pub staging: usize,
}

pub async fn inventory(backends: &Backends) -> Inventory {
    let objects = backends.objects();
    let stored: HashSet<String> = objects
        .list(Some(&object_store::path::Path::from("pages")))
        .map_ok(|meta| meta.location.filename().unwrap_or_default().to_owned())
        .try_collect()
        .await
        .expect("the pages are listed");
    let staging: Vec<_> = objects
        .list(Some(&object_store::path::Path::from("staging")))
        .try_collect()
        .await
        .expect("the staging objects are listed");
    let mut db = database(backends).await;
    let used: Vec<String> = sqlx::query_scalar("SELECT DISTINCT encode(sha256, 'hex') FROM pages")
        .fetch_all(&mut db)
        .await
        .expect("the page rows are read");
    let known: HashSet<String> =
        sqlx::query_scalar("SELECT encode(sha256, 'hex') FROM page_contents")
            .fetch_all(&mut db)
            .await
            .expect("the contents are read")
            .into_iter()
            .collect();
    Inventory {
        missing: used.iter().filter(|sha| !stored.contains(*sha)).count(),
        unreferenced: stored.iter().filter(|sha| !known.contains(*sha)).count(),
        staging: staging.len(),
    }
}

/// Runs the orphan collector as the server's job does, with no grace period: nothing files
/// while it runs.
pub async fn collect_orphans(backends: &Backends) -> OrphanCollection {
    archive_on(&backends.database_url, backends.objects())
        .collect_orphans(Duration::ZERO)
        .await
        .expect("the collector runs")
}

/// Reads back every page of every acknowledged filing not in `destroyed` and compares it byte
/// for byte. Returns (pages read, pages that differ).
pub async fn read_back(
    ledger: &Ledger,
    channel: &Channel,
    destroyed: &HashSet<String>,
) -> (usize, usize) {
    let filed: Vec<(String, Vec<Vec<u8>>)> = ledger.with(|entries| {
        entries
            .iter()
            .filter(|e| e.phase == Phase::Acknowledged)
            .filter_map(|e| Some((e.document.clone()?, e.filing.pages.clone())))
            .filter(|(name, _)| !destroyed.contains(name))
            .collect()
    });
    let pages = Clients::new(channel, Some(&Token::custodian().mint())).pages;
    let reads = filed.into_iter().flat_map(|(name, pages)| {
        pages
            .into_iter()
            .enumerate()
            .map(move |(number, bytes)| (format!("{name}/pages/{}", number + 1), bytes))
    });
    let outcomes: Vec<bool> = futures::stream::iter(reads)
        .map(|(name, expected)| {
            let mut pages = pages.clone();
            async move {
                let read = read_page(&mut pages, &name).await;
                let same = read.as_ref().is_ok_and(|bytes| *bytes == expected);
                if !same {
                    eprintln!(
                        "{name} does not read back: {:?}",
                        read.map(|bytes| sha256_hex(&bytes))
                    );
                }
                same
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let differ = outcomes.iter().filter(|same| !**same).count();
    (outcomes.len(), differ)
}

async fn read_page(
    pages: &mut custodian::proto::v1::page_service_client::PageServiceClient<
        crate::helpers::Authorized,
    >,
    name: &str,
) -> Result<Vec<u8>, tonic::Status> {
    let mut stream = pages
        .read_page(pb::ReadPageRequest {
            name: name.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await? {
        bytes.extend_from_slice(&message.chunk);
    }
    Ok(bytes)
}

/// The audit chain verifies through the RPC and through `custodian verify-audit-chain`.
/// Returns the events the CLI verified.
pub async fn audit_chain_verifies(server: &ServerProcess) -> u64 {
    let mut audit = Clients::new(&server.channel(), Some(&Token::custodian().mint())).audit;
    let verified = audit
        .verify_audit_chain(pb::VerifyAuditChainRequest {})
        .await
        .expect("VerifyAuditChain answers")
        .into_inner();
    assert!(verified.intact, "VerifyAuditChain: {verified:?}");
    let cli = server
        .verify_audit_chain_cli()
        .unwrap_or_else(|error| panic!("custodian verify-audit-chain fails: {error}"));
    // "audit chain intact: N events verified"
    cli.strip_prefix("audit chain intact: ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("custodian verify-audit-chain says: {cli}"))
}
