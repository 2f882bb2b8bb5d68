//! kill -9 under load: filers file concurrently while the server is killed with SIGKILL at
//! three points — mid-page (filings streaming their pages), mid-commit (filings sent whole and
//! awaiting their reply) and during a disposal (a destruction list approved, its page objects
//! being deleted) — and restarted. After each restart: nothing acknowledged is lost, the kill
//! left no row pointing at a missing object, the orphan collector removes exactly the
//! unreferenced objects it left, every unacknowledged filing retried with its request id gives
//! one document, and the audit chain verifies (RPC and CLI).
//!
//! The kill points are timing-based; the counts printed (and asserted) show that filings were
//! in that state when the kill came.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use custodian::proto::v1 as pb;
use object_store::ObjectStoreExt as _;
use tonic::transport::Channel;

use crate::checks::{self, Inventory};
use crate::helpers::{Clients, Token, customer, eventually, sha256_hex};
use crate::load::{self, InFlight, Ledger, Phase, Planned};
use crate::report::{median, print_table, seconds};
use crate::server::{Backends, ServerProcess};

/// The account the disposal's documents are filed in; the filers each have their own.
const DOOMED_ACCOUNT: &str = "1201019999";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillPoint {
    MidPage,
    MidCommit,
    Disposal,
}

impl KillPoint {
    fn label(self) -> &'static str {
        match self {
            Self::MidPage => "mid-page",
            Self::MidCommit => "mid-commit",
            Self::Disposal => "during a disposal",
        }
    }

    /// Pauses between a filing's messages: long enough to find filings mid-page, none to
    /// find them waiting on their commit.
    fn pace(self) -> Option<Duration> {
        match self {
            Self::MidPage | Self::Disposal => Some(Duration::from_millis(2)),
            Self::MidCommit => None,
        }
    }
}

/// The figures of one kill.
struct Kill {
    point: KillPoint,
    acknowledged: usize,
    in_flight: InFlight,
    committed_unacknowledged: usize,
    retried: usize,
    duplicates: i64,
    missing: usize,
    orphans: (usize, usize),
    /// The disposal's deletions at the kill: (finished, not finished).
    deletions: (i64, i64),
    recovery: Duration,
    cut_codes: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_under_load_loses_no_acknowledged_filing_and_files_none_twice() {
    let filings = crate::knob("CUSTODIAN_RELIABILITY_FILINGS", 1020);
    let filers = crate::knob("CUSTODIAN_RELIABILITY_FILERS", 16);
    let repeats = crate::knob("CUSTODIAN_RELIABILITY_REPEATS", 1);
    let mut kills = Vec::new();
    for _ in 0..repeats {
        kills.extend(run(filings, filers).await);
    }
    let rows: Vec<Vec<String>> = kills
        .iter()
        .map(|kill| {
            vec![
                kill.point.label().into(),
                kill.acknowledged.to_string(),
                format!(
                    "{} streaming, {} awaiting reply",
                    kill.in_flight.streaming, kill.in_flight.sent
                ),
                kill.committed_unacknowledged.to_string(),
                kill.retried.to_string(),
                kill.duplicates.to_string(),
                kill.missing.to_string(),
                format!("{} pages, {} staging", kill.orphans.0, kill.orphans.1),
                if kill.point == KillPoint::Disposal {
                    format!("{} done, {} pending", kill.deletions.0, kill.deletions.1)
                } else {
                    "–".into()
                },
                seconds(kill.recovery),
                kill.cut_codes.clone(),
            ]
        })
        .collect();
    print_table(
        &format!(
            "kill -9 under load: {filers} filers, {filings} filings of 3 pages per run, {repeats} run(s)"
        ),
        &[
            "kill point",
            "acknowledged at the kill (all rounds)",
            "in flight at the kill",
            "committed, reply lost",
            "retried",
            "duplicates",
            "missing objects",
            "orphans removed",
            "deletions at the kill",
            "time to recover",
            "codes of the cut calls",
        ],
        &rows,
    );
    if repeats > 1 {
        for point in [
            KillPoint::MidPage,
            KillPoint::MidCommit,
            KillPoint::Disposal,
        ] {
            let mut recoveries: Vec<Duration> = kills
                .iter()
                .filter(|kill| kill.point == point)
                .map(|kill| kill.recovery)
                .collect();
            println!(
                "{}: median time to recover {}",
                point.label(),
                median(&mut recoveries).map(seconds).unwrap_or_default()
            );
        }
    }
}

/// One run: a fresh database and prefix, `filings` filings by `filers` filers, one kill at
/// each point.
async fn run(filings: usize, filers: usize) -> Vec<Kill> {
    let backends = Backends::fresh().await;
    let mut server = ServerProcess::start(&backends, &[]).await;
    let channels: Vec<Channel> = (0..4).map(|_| server.channel()).collect();
    let accounts: Vec<String> = (0..filers).map(|n| format!("12010100{n:02}")).collect();
    let mut customers = Clients::new(&channels[0], Some(&Token::custodian().mint())).customers;
    for account in accounts.iter().map(String::as_str).chain([DOOMED_ACCOUNT]) {
        customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer(account, "120101")),
            })
            .await
            .expect("the customer is created");
    }
    let ledger = Ledger::default();
    let per_point = filings.div_ceil(3);
    let mut planned = 0;
    let mut plan = |count: usize, document_type: &'static str, account: Option<&str>| {
        let batch: Vec<Planned> = (0..count)
            .map(|n| {
                planned += 1;
                let account = account.unwrap_or(&accounts[n % accounts.len()]);
                let request_id = format!("{planned:05}-{}", uuid::Uuid::new_v4().simple());
                Planned::new(account, request_id, document_type)
            })
            .collect();
        batch
    };

    let mut kills = Vec::new();
    let mut destroyed = HashSet::new();
    for point in [
        KillPoint::MidPage,
        KillPoint::MidCommit,
        KillPoint::Disposal,
    ] {
        let disposal = if point == KillPoint::Disposal {
            Some(
                prepare_disposal(
                    &backends,
                    &ledger,
                    &channels,
                    plan(per_point / 2, "notice", Some(DOOMED_ACCOUNT)),
                )
                .await,
            )
        } else {
            None
        };
        let batch = plan(per_point, "application-form", None);
        let kill = kill_once(
            &mut server,
            &backends,
            &ledger,
            &channels,
            filers,
            point,
            batch,
            disposal.as_ref(),
        )
        .await;
        if let Some(disposal) = disposal {
            destroyed.extend(disposal.documents);
        }
        kills.push(kill);
    }

    // Everything acknowledged, in any round, reads back byte for byte.
    let (read, differ) = checks::read_back(&ledger, &channels[0], &destroyed).await;
    assert_eq!(
        differ, 0,
        "{differ} of {read} acknowledged pages do not read back"
    );
    assert!(
        read >= 3 * (filings - filings.div_ceil(3) / 2),
        "every live filing's pages were read: {read}"
    );
    checks::audit_chain_verifies(&server).await;
    kills
}

/// A destruction list proposed and ready to approve.
struct Disposal {
    list: String,
    documents: Vec<String>,
    pages: Vec<Vec<u8>>,
}

/// Files the documents a disposal will destroy, backdates them past their retention (a
/// notice is kept 10 years from filing) and proposes their destruction.
async fn prepare_disposal(
    backends: &Backends,
    ledger: &Ledger,
    channels: &[Channel],
    doomed: Vec<Planned>,
) -> Disposal {
    let pages: Vec<Vec<u8>> = doomed.iter().flat_map(|d| d.pages.clone()).collect();
    let request_ids: Vec<String> = doomed.iter().map(|d| d.request_id.clone()).collect();
    ledger.plan(doomed);
    for filer in load::start_filers(ledger, channels, 8, None) {
        filer.await.expect("a filer does not panic");
    }
    let filed = checks::committed(backends, &request_ids).await;
    assert_eq!(
        filed.len(),
        request_ids.len(),
        "the doomed documents are filed"
    );
    let backdated = sqlx::query(
        // Retention counts from the original date, which may not follow the filing.
        "UPDATE documents SET filed_at = filed_at - interval '11 years',
                              original_at = original_at - interval '11 years'
         WHERE account_number = $1",
    )
    .bind(DOOMED_ACCOUNT)
    .execute(&mut checks::database(backends).await)
    .await
    .expect("the doomed documents are backdated");
    assert_eq!(backdated.rows_affected() as usize, request_ids.len());
    let documents: Vec<String> = filed
        .values()
        .map(|id| format!("customers/{DOOMED_ACCOUNT}/documents/{id}"))
        .collect();
    let list = Clients::new(&channels[0], Some(&custodian_named("alice").mint()))
        .disposal
        .propose_destruction_list(pb::ProposeDestructionListRequest {
            org_unit_code: "1201".into(),
            reason: "appraisal meeting: notices past their ten years".into(),
            documents: documents.clone(),
        })
        .await
        .expect("the destruction list is proposed")
        .into_inner()
        .name;
    Disposal {
        list,
        documents,
        pages,
    }
}

fn custodian_named(person: &str) -> Token {
    Token {
        person: Some(person.into()),
        ..Token::new("archive-desk", "county-custodian", Some("1201"))
    }
}

/// Files `batch` with `filers` filers, kills the server at `point`, restarts it and checks
/// what the kill left.
#[allow(clippy::too_many_arguments)]
async fn kill_once(
    server: &mut ServerProcess,
    backends: &Backends,
    ledger: &Ledger,
    channels: &[Channel],
    filers: usize,
    point: KillPoint,
    batch: Vec<Planned>,
    disposal: Option<&Disposal>,
) -> Kill {
    let half = ledger.count(Phase::Acknowledged) + batch.len() / 2;
    ledger.plan(batch);
    let running = load::start_filers(ledger, channels, filers, point.pace());
    let started = Instant::now();
    let trigger = |ledger: &Ledger| {
        let acknowledged = ledger.count(Phase::Acknowledged) >= half;
        acknowledged
            && match point {
                KillPoint::MidPage => ledger.count(Phase::Streaming) >= 2,
                KillPoint::MidCommit => ledger.count(Phase::Sent) >= 2,
                KillPoint::Disposal => true,
            }
    };
    while !trigger(ledger) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{}: the kill point never came",
            point.label()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut finished_before = 0;
    if let Some(disposal) = disposal {
        finished_before = checks::deletions(backends).await.0;
        let approved = Clients::new(&channels[0], Some(&custodian_named("bob").mint()))
            .disposal
            .approve_destruction_list(pb::ApproveDestructionListRequest {
                name: disposal.list.clone(),
                note: "checked against the register".into(),
            })
            .await
            .expect("the list is approved")
            .into_inner();
        assert_eq!(approved.state(), pb::DestructionListState::Destroyed);
        // The deletions run beside the reply: kill once they are under way.
        while checks::deletions(backends).await.0 == finished_before {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the disposal's deletions never began"
            );
        }
    }
    let acknowledged = ledger.count(Phase::Acknowledged);
    let in_flight = ledger.close();
    server.kill();
    let killed = Instant::now();
    for filer in running {
        filer.await.expect("a filer does not panic");
    }
    match point {
        KillPoint::MidPage => assert!(in_flight.streaming > 0, "filings were mid-page"),
        KillPoint::MidCommit => assert!(in_flight.sent > 0, "filings were awaiting their commit"),
        KillPoint::Disposal => {}
    }
    let (finished, pending) = checks::deletions(backends).await;
    let deletions = (finished - finished_before, pending);
    if disposal.is_some() {
        assert!(
            deletions.0 > 0 && deletions.1 > 0,
            "the kill came while the disposal's objects were being deleted: {deletions:?}"
        );
    }
    let cut_codes = codes_of_cut_calls(ledger);

    server.restart().await;
    let recovery = killed.elapsed();

    // Filings whose commit beat the kill but whose reply did not.
    let unacknowledged = ledger.unacknowledged();
    let request_ids: Vec<String> = unacknowledged
        .iter()
        .map(|(_, filing)| filing.request_id.clone())
        .collect();
    let committed = checks::committed(backends, &request_ids).await;

    // The restarted server finishes the disposal's deletions; the rows never lacked them.
    eventually(
        Duration::from_secs(30),
        "the deletions are finished",
        || async { checks::pending_deletions(backends).await == 0 },
    )
    .await;
    if let Some(disposal) = disposal {
        let left = still_stored(backends, &disposal.pages).await;
        assert_eq!(left, 0, "every destroyed page's object is gone");
    }
    let left = checks::inventory(backends).await;
    assert_eq!(left.missing, 0, "no page row points at a missing object");

    // What the kill left: exactly the unreferenced objects go, nothing referenced.
    let collected = checks::collect_orphans(backends).await;
    assert_eq!(
        (collected.orphan_pages, collected.staging_objects),
        (left.unreferenced, left.staging),
        "the collector removes what the kill left: {collected:?}"
    );
    let after = checks::inventory(backends).await;
    assert_clean(&after, "after the collection");

    let retried = load::retry_unacknowledged(ledger, &channels[0], filers).await;
    assert_eq!(retried, unacknowledged.len());
    let failed: Vec<String> = ledger.with(|entries| {
        entries
            .iter()
            .filter(|e| e.phase == Phase::Unacknowledged)
            .map(|e| format!("{}: {:?}", e.filing.request_id, e.failure))
            .collect()
    });
    assert!(failed.is_empty(), "every retry succeeds: {failed:?}");
    ledger.with(|entries| {
        for (index, filing) in &unacknowledged {
            if let Some(id) = committed.get(&filing.request_id) {
                let name = entries[*index].document.as_deref().unwrap_or_default();
                assert!(
                    name.ends_with(id),
                    "the retry of {} returns the document its first call committed",
                    filing.request_id
                );
            }
        }
    });
    let (duplicates, documents) = checks::documents_per_request_id(backends).await;
    assert_eq!(duplicates, 0, "exactly one document per request id");
    assert_eq!(
        documents as usize,
        ledger.count(Phase::Acknowledged),
        "one document per acknowledged filing, and no other"
    );
    let after = checks::inventory(backends).await;
    assert_clean(&after, "after the retries");
    checks::audit_chain_verifies(server).await;

    Kill {
        point,
        acknowledged,
        in_flight,
        committed_unacknowledged: committed.len(),
        retried,
        duplicates,
        missing: left.missing,
        orphans: (collected.orphan_pages, collected.staging_objects),
        deletions,
        recovery,
        cut_codes,
    }
}

fn assert_clean(inventory: &Inventory, when: &str) {
    assert_eq!(
        (inventory.missing, inventory.unreferenced, inventory.staging),
        (0, 0, 0),
        "{when}: no missing, unreferenced or staging objects"
    );
}

/// How many of these pages' objects are in the store.
async fn still_stored(backends: &Backends, pages: &[Vec<u8>]) -> usize {
    let objects = backends.objects();
    let mut stored = 0;
    for page in pages {
        let hex = sha256_hex(page);
        let key = object_store::path::Path::from(format!("pages/sha256/{}/{hex}", &hex[..2]));
        match objects.head(&key).await {
            Ok(_) => stored += 1,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => panic!("the store answers a HEAD: {error}"),
        }
    }
    stored
}

/// The codes the calls cut by the kill ended with, e.g. `Unavailable×9`.
fn codes_of_cut_calls(ledger: &Ledger) -> String {
    let codes: BTreeMap<String, usize> = ledger.with(|entries| {
        let mut codes = BTreeMap::new();
        for entry in entries.iter().filter(|e| e.at_kill.is_some()) {
            if let Some(status) = &entry.failure {
                *codes.entry(format!("{:?}", status.code())).or_default() += 1;
            }
        }
        codes
    });
    codes
        .iter()
        .map(|(code, count)| format!("{code}×{count}"))
        .collect::<Vec<_>>()
        .join(", ")
}
