//! What a screen reads (issue 15): an archive's listing in the basic view (no page list)
//! against the full view, in alternating rounds over the same archives, and page URLs signed
//! for the first ten pages of a document, whose CPU per call is compared with GetDocument's.

use std::sync::Arc;
use std::time::Duration;

use custodian::proto::v1 as pb;
use sqlx::{Connection, PgConnection};

use crate::common::{Round, closed_loop};
use crate::cpu::CpuMeter;
use crate::report::{Series, Table};
use crate::targets::Target;
use crate::workloads::RunArgs;

/// Pages signed per SignPageUrls call.
pub const SIGNED_PAGES: i32 = 10;

pub async fn run(
    args: &RunArgs,
    target: &Target,
    meter: &CpuMeter,
    series: &mut Series,
    table: &mut Table,
) -> anyhow::Result<()> {
    let mut db = PgConnection::connect(&args.preset.database_url()?).await?;
    // Documents of at least ten pages: business accounts' papers (10 to 100 pages).
    let documents: Vec<(String, uuid::Uuid)> = sqlx::query_as(
        "SELECT d.account_number, d.document_id FROM documents d
         JOIN document_versions v ON v.document_id = d.document_id AND v.version = d.current_version
         WHERE v.page_count >= $1 AND d.client_request_id LIKE 'gen-%'
         ORDER BY md5(d.document_id::text) LIMIT 2000",
    )
    .bind(SIGNED_PAGES)
    .fetch_all(&mut db)
    .await?;
    anyhow::ensure!(!documents.is_empty(), "no document of {SIGNED_PAGES} pages");
    let documents: Arc<Vec<String>> = Arc::new(
        documents
            .into_iter()
            .map(|(account, id)| format!("customers/{account}/documents/{id}"))
            .collect(),
    );
    let round = Duration::from_secs_f64(args.seconds);
    for number in 1..=args.rounds {
        for (name, view) in [
            ("ListDocuments full view", pb::DocumentView::Full),
            ("ListDocuments basic view", pb::DocumentView::Basic),
        ] {
            let listed = meter
                .measure(list(args.concurrency, target, view, round))
                .await;
            series.push(name, listed);
        }
        let signed = meter
            .measure(sign(args.concurrency, target, &documents, round))
            .await;
        series.push("SignPageUrls 10 pages", signed);
        eprintln!("screens round {number}/{} done", args.rounds);
    }
    table.times(
        series,
        "ListDocuments basic view vs full view (same archives)",
        ("ListDocuments basic view", "ListDocuments full view"),
        3.0,
    );
    table.p99(
        series,
        "ListDocuments basic view",
        &format!(
            "ListDocuments basic view at saturation (concurrency {})",
            args.concurrency
        ),
        10.0,
    );
    // Only when GetDocument ran in the same run (the metadata group).
    table.cpu_ratio(
        series,
        "SignPageUrls for 10 pages: CPU per call vs one GetDocument's",
        ("SignPageUrls 10 pages", "GetDocument"),
        1.0,
        true,
    );
    Ok(())
}

async fn list(
    concurrency: usize,
    target: &Target,
    view: pb::DocumentView,
    round: Duration,
) -> Round {
    let callers = target.callers.clone();
    let samples = Arc::clone(&target.samples);
    closed_loop(concurrency, round, move |caller, n| {
        let caller = callers[caller % callers.len()].clone();
        let samples = Arc::clone(&samples);
        async move {
            let parent = &samples.archives[n as usize % samples.archives.len()];
            caller.list_view(parent, view).await
        }
    })
    .await
}

async fn sign(
    concurrency: usize,
    target: &Target,
    documents: &Arc<Vec<String>>,
    round: Duration,
) -> Round {
    let callers = target.callers.clone();
    let documents = Arc::clone(documents);
    closed_loop(concurrency, round, move |caller, n| {
        let caller = callers[caller % callers.len()].clone();
        let documents = Arc::clone(&documents);
        async move {
            let name = &documents[n as usize % documents.len()];
            caller.sign_page_urls(name, SIGNED_PAGES).await
        }
    })
    .await
}
