//! Backend outages under load: PostgreSQL restarted as the server sees it (its connections
//! terminated with `pg_terminate_backend` and reset, new ones refused for some seconds), then
//! SeaweedFS stopped as the server sees it (connections reset and refused), each through a
//! proxy of the test's own, since other tests share both backends. Throughout, calls answer
//! in time and fail only UNAVAILABLE with a message that says so; health turns NOT_SERVING
//! during each outage and SERVING after; the same server process then files and reads again,
//! and nothing acknowledged is lost.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use custodian::proto::v1 as pb;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Connection as _;
use tokio::sync::watch;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::checks;
use crate::helpers::{Clients, customer};
use crate::load::{self, Ledger, Phase, Planned, filer_token};
use crate::proxy::Proxy;
use crate::report::{print_table, seconds};
use crate::server::{Backends, ServerProcess};

/// The deadline of each read; filings have `load::CALL_DEADLINE`.
const READ_DEADLINE: Duration = Duration::from_secs(10);

/// A health check: when it answered, and what (`None`: no answer within a second).
type Sample = (Instant, Option<ServingStatus>);

/// One call made during the run and how it ended.
struct Call {
    rpc: &'static str,
    started: Instant,
    ended: Instant,
    deadline: Duration,
    /// `None` when it succeeded.
    failure: Option<(Code, String)>,
}

#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Call>>>);

impl Calls {
    fn record<T>(
        &self,
        rpc: &'static str,
        started: Instant,
        deadline: Duration,
        outcome: &Result<T, tonic::Status>,
    ) {
        let failure = outcome
            .as_ref()
            .err()
            .map(|status| (status.code(), status.message().to_owned()));
        self.0.lock().unwrap().push(Call {
            rpc,
            started,
            ended: Instant::now(),
            deadline,
            failure,
        });
    }
}

/// The figures of one outage.
struct Outage {
    backend: &'static str,
    length: Duration,
    calls: usize,
    unavailable: usize,
    other_failures: String,
    longest: Duration,
    not_serving_after: Option<Duration>,
    serving_again_after: Option<Duration>,
    first_filing_after: Option<Duration>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backend_outages_answer_unavailable_turn_health_not_serving_and_heal_without_a_restart() {
    let length = Duration::from_secs(crate::knob("CUSTODIAN_RELIABILITY_OUTAGE_SECS", 3) as u64);
    let repeats = crate::knob("CUSTODIAN_RELIABILITY_REPEATS", 1);
    assert!(
        length > Duration::from_secs(2),
        "an outage outlasts the server's 2 s wait for a database connection"
    );
    for round in 1..=repeats {
        run(length, &format!("run {round} of {repeats}")).await;
    }
}

async fn run(length: Duration, title: &str) {
    let direct = Backends::fresh().await;
    let database_proxy = Proxy::start(address_in_url(direct.database_url.expose_secret()));
    let store_proxy = Proxy::start(address_in_url(&direct.s3_endpoint));
    let proxied = Backends {
        database_url: SecretString::from(replace_address(
            direct.database_url.expose_secret(),
            database_proxy.address,
        )),
        s3_endpoint: format!("http://{}", store_proxy.address),
        object_prefix: direct.object_prefix.clone(),
    };
    let mut server = ServerProcess::start(&proxied, &[]).await;
    let channel = server.channel();
    let accounts: Vec<String> = (0..8).map(|n| format!("12010200{n:02}")).collect();
    let mut customers = Clients::new(&channel, Some(&filer_token())).customers;
    for account in &accounts {
        customers
            .create_customer(pb::CreateCustomerRequest {
                customer: Some(customer(account, "120101")),
            })
            .await
            .expect("the customer is created");
    }

    let calls = Calls::default();
    let ledger = Ledger::default();
    let (stop, stopping) = watch::channel(false);
    let mut load = Vec::new();
    for (filer, account) in accounts.iter().enumerate() {
        load.push(tokio::spawn(file_until_stopped(
            server.channel(),
            account.clone(),
            filer,
            ledger.clone(),
            calls.clone(),
            stopping.clone(),
        )));
    }
    for _ in 0..2 {
        load.push(tokio::spawn(read_until_stopped(
            server.channel(),
            ledger.clone(),
            calls.clone(),
            stopping.clone(),
        )));
    }
    let health = Arc::new(Mutex::new(Vec::new()));
    let watcher = tokio::spawn(watch_health(
        server.channel(),
        Arc::clone(&health),
        stopping.clone(),
    ));

    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut windows = Vec::new();
    for backend in ["PostgreSQL", "SeaweedFS"] {
        let cut = Instant::now();
        if backend == "PostgreSQL" {
            // As a restarting PostgreSQL does: end the sessions (57P01), then refuse.
            terminate_connections(&direct).await;
            database_proxy.cut();
        } else {
            store_proxy.cut();
        }
        tokio::time::sleep(length).await;
        let restored = Instant::now();
        database_proxy.restore();
        store_proxy.restore();
        windows.push((backend, cut, restored));
        // Heals by itself: the same process serves again.
        server
            .wait_until(ServingStatus::Serving, Duration::from_secs(30))
            .await;
        let acknowledged = ledger.count(Phase::Acknowledged);
        crate::helpers::eventually(
            Duration::from_secs(30),
            "a filing is acknowledged after the outage",
            || async { ledger.count(Phase::Acknowledged) > acknowledged },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.send_replace(true);
    for task in load {
        task.await.expect("the load does not panic");
    }
    watcher.await.expect("the health watcher does not panic");

    let calls = std::mem::take(&mut *calls.0.lock().unwrap());
    let health = std::mem::take(&mut *health.lock().unwrap());
    // Every call answered in time, and every failure was UNAVAILABLE saying what to do.
    for call in &calls {
        let took = call.ended - call.started;
        assert!(
            took < call.deadline,
            "{} took {took:?}, past its deadline",
            call.rpc
        );
        if let Some((code, message)) = &call.failure {
            assert_eq!(*code, Code::Unavailable, "{}: {message}", call.rpc);
            assert!(
                message.contains("unavailable") && message.contains("retry"),
                "{}: an actionable message: {message}",
                call.rpc
            );
        }
    }
    let outages: Vec<Outage> = windows
        .iter()
        .map(|&(backend, cut, restored)| figures(backend, cut, restored, &calls, &health))
        .collect();
    print_outages(&outages, title);
    for outage in &outages {
        assert!(
            outage.not_serving_after.is_some(),
            "health turns NOT_SERVING while {} is cut",
            outage.backend
        );
        assert!(outage.serving_again_after.is_some());
    }
    for outage in &outages {
        // Calls wait at most `database.acquire_timeout_secs` (2 s here) for PostgreSQL; the
        // store's client retries within its own limits, so some calls succeed late instead.
        assert!(
            outage.unavailable > 0,
            "calls needing {} during its outage answer UNAVAILABLE ({} calls ended in it)",
            outage.backend,
            outage.calls
        );
    }

    // Nothing acknowledged is lost; what was not acknowledged files once when retried.
    let (read, differ) = checks::read_back(&ledger, &channel, &HashSet::new()).await;
    assert_eq!(
        differ, 0,
        "{differ} of {read} acknowledged pages do not read back"
    );
    load::retry_unacknowledged(&ledger, &channel, 8).await;
    assert_eq!(
        ledger.count(Phase::Unacknowledged),
        0,
        "every retry succeeds"
    );
    let (duplicates, documents) = checks::documents_per_request_id(&direct).await;
    assert_eq!(duplicates, 0, "exactly one document per request id");
    assert_eq!(documents as usize, ledger.count(Phase::Acknowledged));
    let inventory = checks::inventory(&direct).await;
    assert_eq!(
        inventory.missing, 0,
        "no page row points at a missing object"
    );
    checks::audit_chain_verifies(&server).await;
}

/// Prints the figures of one run's outages.
fn print_outages(outages: &[Outage], title: &str) {
    let rows: Vec<Vec<String>> = outages
        .iter()
        .map(|outage| {
            let after = |delay: Option<Duration>| delay.map(seconds).unwrap_or("never".into());
            vec![
                outage.backend.into(),
                seconds(outage.length),
                outage.calls.to_string(),
                outage.unavailable.to_string(),
                outage.other_failures.clone(),
                seconds(outage.longest),
                after(outage.not_serving_after),
                after(outage.serving_again_after),
                after(outage.first_filing_after),
            ]
        })
        .collect();
    print_table(
        &format!("backend outages under load (8 filers, 2 readers), {title}"),
        &[
            "backend cut",
            "outage",
            "calls ending in it",
            "UNAVAILABLE",
            "other failures",
            "longest call",
            "NOT_SERVING after the cut",
            "SERVING after the restore",
            "first filing acknowledged after the restore",
        ],
        &rows,
    );
}

/// Files new filings one after another until told to stop, recording each call.
async fn file_until_stopped(
    channel: tonic::transport::Channel,
    account: String,
    filer: usize,
    ledger: Ledger,
    calls: Calls,
    stopping: watch::Receiver<bool>,
) {
    let mut documents = Clients::new(&channel, Some(&filer_token())).documents;
    let mut sequence = 0;
    while !*stopping.borrow() {
        sequence += 1;
        let filing = Planned::new(
            &account,
            format!("outage-{filer}-{sequence:05}"),
            "application-form",
        );
        let index = ledger.plan_one(filing.clone());
        let started = Instant::now();
        let outcome = load::file(&mut documents, &filing, None, || {}).await;
        calls.record("FileDocument", started, load::CALL_DEADLINE, &outcome);
        let failed = outcome.is_err();
        ledger.settle(index, outcome);
        if failed {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Reads acknowledged documents and their first page until told to stop.
async fn read_until_stopped(
    channel: tonic::transport::Channel,
    ledger: Ledger,
    calls: Calls,
    stopping: watch::Receiver<bool>,
) {
    let clients = Clients::new(&channel, Some(&filer_token()));
    let (mut documents, mut pages) = (clients.documents, clients.pages);
    let mut turn = 0usize;
    while !*stopping.borrow() {
        turn += 1;
        let name = ledger.with(|entries| {
            let filed: Vec<&str> = entries
                .iter()
                .filter_map(|e| e.document.as_deref())
                .collect();
            (!filed.is_empty()).then(|| filed[turn % filed.len()].to_owned())
        });
        let Some(name) = name else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let mut request = tonic::Request::new(pb::GetDocumentRequest {
            name: name.clone(),
            ..Default::default()
        });
        request.set_timeout(READ_DEADLINE);
        let started = Instant::now();
        let got = documents.get_document(request).await;
        calls.record("GetDocument", started, READ_DEADLINE, &got);

        let mut request = tonic::Request::new(pb::ReadPageRequest {
            name: format!("{name}/pages/1"),
            ..Default::default()
        });
        request.set_timeout(READ_DEADLINE);
        let started = Instant::now();
        let read = async {
            let mut stream = pages.read_page(request).await?.into_inner();
            while stream.message().await?.is_some() {}
            Ok::<(), tonic::Status>(())
        }
        .await;
        calls.record("ReadPage", started, READ_DEADLINE, &read);
        if got.is_err() || read.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Samples the server's health every 100 ms until told to stop.
async fn watch_health(
    channel: tonic::transport::Channel,
    samples: Arc<Mutex<Vec<Sample>>>,
    stopping: watch::Receiver<bool>,
) {
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    while !*stopping.borrow() {
        let mut request = tonic::Request::new(tonic_health::pb::HealthCheckRequest::default());
        request.set_timeout(Duration::from_secs(1));
        let status = client
            .check(request)
            .await
            .ok()
            .map(|reply| reply.into_inner().status());
        samples.lock().unwrap().push((Instant::now(), status));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the calls and health samples show about the outage from `cut` to `restored`.
fn figures(
    backend: &'static str,
    cut: Instant,
    restored: Instant,
    calls: &[Call],
    health: &[Sample],
) -> Outage {
    let serving_again = health
        .iter()
        .find(|(at, status)| *at > restored && *status == Some(ServingStatus::Serving))
        .map(|(at, _)| *at);
    let end = serving_again.unwrap_or(restored);
    let during: Vec<&Call> = calls
        .iter()
        .filter(|call| call.ended >= cut && call.ended <= end)
        .collect();
    let mut others = BTreeMap::new();
    for call in &during {
        if let Some((code, _)) = &call.failure
            && *code != Code::Unavailable
        {
            *others.entry(format!("{code:?}")).or_insert(0) += 1;
        }
    }
    Outage {
        backend,
        length: restored - cut,
        calls: during.len(),
        unavailable: during
            .iter()
            .filter(|call| matches!(call.failure, Some((Code::Unavailable, _))))
            .count(),
        other_failures: if others.is_empty() {
            "none".into()
        } else {
            others
                .iter()
                .map(|(code, count)| format!("{code}×{count}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        longest: during
            .iter()
            .map(|call| call.ended - call.started)
            .max()
            .unwrap_or_default(),
        not_serving_after: health
            .iter()
            .find(|(at, status)| {
                *at > cut && *at <= end && *status == Some(ServingStatus::NotServing)
            })
            .map(|(at, _)| *at - cut),
        serving_again_after: serving_again.map(|at| at - restored),
        first_filing_after: calls
            .iter()
            .filter(|call| call.rpc == "FileDocument" && call.failure.is_none())
            .filter(|call| call.started >= restored)
            .map(|call| call.ended)
            .min()
            .map(|at| at - restored),
    }
}

/// What PostgreSQL does to a server's sessions when it restarts: ends them.
async fn terminate_connections(backends: &Backends) {
    let admin = std::env::var("CUSTODIAN_DATABASE__URL").expect("the services' database URL");
    let database = backends
        .database_url
        .expose_secret()
        .rsplit('/')
        .next()
        .expect("the URL names its database")
        .to_owned();
    let mut admin = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL answers the test");
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&database)
    .fetch_all(&mut admin)
    .await
    .expect("the server's sessions are terminated");
    assert!(!ended.is_empty(), "the server had sessions to end");
}

/// The `host:port` of a URL such as `postgres://user:pw@127.0.0.1:5432/db` or
/// `http://127.0.0.1:8333`.
fn address_in_url(url: &str) -> SocketAddr {
    let (_, rest) = url.split_once("://").expect("a URL");
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    host_port
        .parse()
        .unwrap_or_else(|_| panic!("{host_port} is an IP address and port"))
}

/// `url` with its `host:port` replaced by `address`.
fn replace_address(url: &str, address: SocketAddr) -> String {
    let old = address_in_url(url).to_string();
    url.replacen(&old, &address.to_string(), 1)
}
