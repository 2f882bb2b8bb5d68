//! The workloads of issue 6, each measured next to its limit in alternating rounds (so drift
//! in the machine's load hits both alike), then the table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::{ObjectStore, ObjectStoreExt};
use object_store::path::Path;
use sqlx::{Connection, PgConnection};
use tonic::metadata::MetadataValue;

use crate::calls::{Caller, direct_get, direct_put};
use crate::common::{Round, channels, closed_loop};
use crate::dataset::Rng;
use crate::objects::{PAGE_200K, content_key, synthetic_jpeg};
use crate::report::{Series, Table};
use crate::server::{ISSUER, Launch, Server};
use crate::{Preset, repository_file};

const MIB: f64 = 1024.0 * 1024.0;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The generated county the workloads run against.
    #[arg(long, value_enum, default_value = "small")]
    preset: Preset,
    /// Also reads from a server on this preset: the "10k vs 3M documents" rows.
    #[arg(long, value_enum)]
    baseline: Option<Preset>,
    /// Use a running server (on the preset's database) instead of starting one.
    #[arg(long)]
    address: Option<SocketAddr>,
    /// The running server's pid, to sample its memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The `custodian` binary to start; default: the release build next to this bench.
    #[arg(long)]
    server_binary: Option<PathBuf>,
    /// Runs the started server under `perf record -g` (perf-<preset>.data in the working
    /// directory; `perf report -i perf-county.data`).
    #[arg(long)]
    perf: bool,
    /// Extra server environment, e.g. `--server-env CUSTODIAN_DATABASE__MAX_CONNECTIONS=32`.
    #[arg(long = "server-env", value_parser = parse_key_value)]
    server_env: Vec<(String, String)>,
    /// Rounds per workload; medians are over them.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    #[arg(long, default_value_t = 60.0)]
    mixed_seconds: f64,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Only these workload groups: metadata, read-page, file, large, mixed.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The key tokens are signed with (Ed25519 PEM), for a server started elsewhere.
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// Exit with status 1 when a target is missed.
    #[arg(long)]
    strict: bool,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// Names to call, sampled from the database the server uses.
pub struct Samples {
    documents: Vec<String>,
    archives: Vec<String>,
    /// Active accounts, to file into.
    open_archives: Vec<String>,
    /// 200 KiB pages: (page name, object key).
    pages_200k: Vec<(String, Path)>,
    /// Every realistic-size page (200 KiB and 1 MiB), for the mixed workload.
    large_pages: Vec<String>,
}

impl Samples {
    async fn load(preset: Preset) -> anyhow::Result<Self> {
        let mut db = PgConnection::connect(&preset.database_url()?).await?;
        // Generated rows only (not what earlier runs filed), in a fixed pseudo-random order.
        let documents: Vec<(String, uuid::Uuid)> = sqlx::query_as(
            "SELECT account_number, document_id FROM documents
             WHERE client_request_id LIKE 'gen-%' ORDER BY md5(document_id::text) LIMIT 5000",
        )
        .fetch_all(&mut db)
        .await?;
        let open_archives: Vec<(String,)> = sqlx::query_as(
            "SELECT account_number FROM customers WHERE status = 'active'
             ORDER BY md5(account_number) LIMIT 2000",
        )
        .fetch_all(&mut db)
        .await?;
        let pages: Vec<(String, uuid::Uuid, i32, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT d.account_number, d.document_id, p.page_number, c.sha256, c.size_bytes
             FROM page_contents c
             JOIN pages p ON p.sha256 = c.sha256
             JOIN documents d ON d.document_id = p.document_id AND p.version = d.current_version
             WHERE c.size_bytes >= 204800 AND d.client_request_id LIKE 'gen-%'
             ORDER BY md5(d.document_id::text) LIMIT 3000",
        )
        .fetch_all(&mut db)
        .await?;
        anyhow::ensure!(
            !documents.is_empty() && !pages.is_empty(),
            "the {} preset has no documents: run `generate --preset {}` first",
            preset.name(),
            preset.name()
        );
        let page_name = |(account, id, number, _, _): &(String, uuid::Uuid, i32, Vec<u8>, i64)| {
            format!("customers/{account}/documents/{id}/pages/{number}")
        };
        Ok(Self {
            archives: documents
                .iter()
                .map(|(account, _)| format!("customers/{account}"))
                .collect(),
            documents: documents
                .iter()
                .map(|(account, id)| format!("customers/{account}/documents/{id}"))
                .collect(),
            open_archives: open_archives
                .into_iter()
                .map(|(account,)| format!("customers/{account}"))
                .collect(),
            pages_200k: pages
                .iter()
                .filter(|page| page.4 == PAGE_200K as i64)
                .map(|page| {
                    let digest: [u8; 32] = page.3.as_slice().try_into().unwrap_or([0; 32]);
                    (page_name(page), content_key(&digest))
                })
                .collect(),
            large_pages: pages.iter().map(page_name).collect(),
        })
    }
}

/// One server with its callers and samples.
pub struct Target {
    pub server: Server,
    pub callers: Vec<Caller>,
    samples: Arc<Samples>,
}

impl Target {
    async fn open(args: &RunArgs, preset: Preset, launch: &Launch) -> anyhow::Result<Self> {
        let server = match args.address {
            Some(address) if preset == args.preset => {
                Server::existing(address, args.server_pid).await?
            }
            _ => Server::start(launch, preset).await?,
        };
        let key = args
            .signing_key
            .clone()
            .unwrap_or_else(|| repository_file("tests/fixtures/issuer-ed25519.pem"));
        let bearer = MetadataValue::try_from(format!("Bearer {}", mint_token(&key)?))?;
        let callers = channels(server.address, args.connections)
            .await?
            .into_iter()
            .map(|channel| Caller {
                channel,
                bearer: bearer.clone(),
            })
            .collect();
        let samples = Arc::new(Samples::load(preset).await?);
        Ok(Self {
            server,
            callers,
            samples,
        })
    }

    pub fn open_archive(&self) -> String {
        self.samples.open_archives[0].clone()
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let launch = Launch {
        binary: args
            .server_binary
            .clone()
            .unwrap_or_else(Launch::default_binary),
        perf: args.perf,
        extra_env: args.server_env.clone(),
    };
    if args.perf {
        anyhow::ensure!(
            std::process::Command::new("perf")
                .arg("--version")
                .output()
                .is_ok(),
            "--perf needs `perf` (apt-get install linux-perf)"
        );
    }
    let main = Target::open(&args, args.preset, &launch).await?;
    let baseline = match args.baseline {
        Some(preset) => Some(Target::open(&args, preset, &launch).await?),
        None => None,
    };
    let store = crate::object_store()?;
    let wants = |group: &str| args.only.is_empty() || args.only.iter().any(|g| g == group);
    let round = Duration::from_secs_f64(args.seconds);
    let mut series = Series::default();
    let mut table = Table::default();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let cleanup = Cleanup::default();
    println!(
        "preset {}{}, concurrency {} over {} HTTP/2 connections, {} rounds of {round:?}",
        args.preset.name(),
        args.baseline
            .map(|b| format!(" (baseline {})", b.name()))
            .unwrap_or_default(),
        args.concurrency,
        args.connections,
        args.rounds
    );

    if wants("metadata") {
        for number in 1..=args.rounds {
            let mut targets = vec![("", &main)];
            if let Some(baseline) = &baseline {
                targets.push((" @baseline", baseline));
            }
            for (suffix, target) in targets {
                let health = format!("health{suffix}");
                let get = format!("GetDocument{suffix}");
                let list = format!("ListDocuments{suffix}");
                series.push(&health, unary(&args, target, round, Unary::Health).await);
                series.push(&get, unary(&args, target, round, Unary::Get).await);
                series.push(&list, unary(&args, target, round, Unary::List).await);
            }
            eprintln!("metadata round {number}/{} done", args.rounds);
        }
        for (rpc, name) in [
            ("GetDocument", "GetDocument by id"),
            ("ListDocuments", "ListDocuments of an account"),
        ] {
            table.ratio(
                &series,
                &format!("{name} vs health check"),
                (rpc, "health"),
                Round::per_second,
                "req/s",
                0.70,
            );
            let p99 = series.median(rpc, |r| r.p99_ms);
            table.bound(
                &format!("{name}: p99"),
                format!("{} ms", series.spread(rpc, |r| r.p99_ms, 2)),
                p99,
                5.0,
                "ms",
            );
        }
        if let Some(baseline) = args.baseline {
            for rpc in ["GetDocument", "ListDocuments"] {
                let at_scale = series.median(rpc, |r| r.p99_ms);
                let small = series.median(&format!("{rpc} @baseline"), |r| r.p99_ms);
                table.0.push(crate::report::Row {
                    workload: format!(
                        "{rpc} p99 at {} vs {} documents",
                        args.preset.name(),
                        baseline.name()
                    ),
                    custodian: format!("{at_scale:.2} ms"),
                    limit: format!("{small:.2} ms"),
                    ratio: format!("{:.2}×", at_scale / small),
                    target: "< 1.5×".into(),
                    pass: Some(at_scale / small < 1.5),
                });
            }
        }
    }

    if wants("read-page") {
        for number in 1..=args.rounds {
            series.push("ReadPage 200 KiB", read_pages(&args, &main, round).await);
            series.push(
                "direct GET 200 KiB",
                direct_gets(&args, &main, &store, round).await,
            );
            eprintln!("read-page round {number}/{} done", args.rounds);
        }
        table.ratio(
            &series,
            "ReadPage 200 KiB vs direct GET",
            ("ReadPage 200 KiB", "direct GET 200 KiB"),
            Round::mb_per_second,
            "MB/s",
            0.90,
        );
    }

    if wants("file") {
        // Fewer, shorter rounds: every filing leaves a megabyte in the store until cleanup.
        let rounds = args.rounds.min(3);
        for number in 1..=rounds {
            let tag = format!("{run_id}-f{number}");
            series.push(
                "FileDocument 5×200 KiB",
                filings(&args, &main, round.min(Duration::from_secs(2)), &tag, &cleanup).await,
            );
            series.push(
                "direct PUT 5×200 KiB",
                direct_puts(&args, &store, round.min(Duration::from_secs(2)), &tag, &cleanup)
                    .await,
            );
            eprintln!("file round {number}/{rounds} done");
        }
        let pages_per_second = |r: &Round| r.per_second() * 5.0;
        table.ratio(
            &series,
            "FileDocument 5×200 KiB vs direct PUT",
            ("FileDocument 5×200 KiB", "direct PUT 5×200 KiB"),
            pages_per_second,
            "pages/s",
            0.80,
        );
    }

    if wants("large") {
        let growth = crate::large::run(&args_large(&args), &main, &store, &run_id, &mut series, &cleanup)
            .await?;
        for (direction, limit) in [("in", "multipart PUT"), ("out", "GET")] {
            table.ratio(
                &series,
                &format!("100 MiB document {direction} vs direct {limit}"),
                (
                    &format!("100 MiB {direction}"),
                    &format!("direct 100 MiB {direction}"),
                ),
                Round::mb_per_second,
                "MB/s",
                0.85,
            );
        }
        if let Some(growth) = growth {
            table.bound(
                "100 MiB document: server RSS growth",
                format!("{:.1} MiB (max of rounds)", growth as f64 / MIB),
                growth as f64 / MIB,
                32.0,
                "MiB",
            );
        }
    }

    if wants("mixed") {
        let start = main.server.reset_rss_peak();
        let duration = Duration::from_secs_f64(args.mixed_seconds);
        let mixed = mixed(&args, &main, duration, &run_id, &cleanup).await;
        series.push("mixed 90 % reads / 10 % filings", mixed.clone());
        table.0.push(crate::report::Row {
            workload: format!("mixed 90/10 for {:.0} s", args.mixed_seconds),
            custodian: format!(
                "{:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms",
                mixed.per_second(),
                mixed.p50_ms,
                mixed.p99_ms
            ),
            limit: "—".into(),
            ratio: "—".into(),
            target: "report".into(),
            pass: None,
        });
        table.bound(
            "mixed: errors",
            mixed.errors.to_string(),
            mixed.errors as f64,
            0.0,
            "",
        );
        if let (Some(start), Some(peak)) = (start, main.server.rss_peak()) {
            table.bound(
                "mixed: server RSS (peak)",
                format!("{:.1} MiB (from {:.1} MiB)", peak as f64 / MIB, start as f64 / MIB),
                peak as f64 / MIB,
                150.0 * 1e6 / MIB,
                "MiB (150 MB)",
            );
        }
    }

    series.print_details();
    table.print();
    let removed = cleanup.run(&store).await;
    eprintln!("removed {removed} objects this run wrote");
    drop(baseline);
    drop(main);
    if args.strict && !table.all_pass() {
        std::process::exit(1);
    }
    Ok(())
}

fn args_large(args: &RunArgs) -> crate::large::LargeArgs {
    crate::large::LargeArgs {
        rounds: args.rounds.min(3),
    }
}

#[derive(Clone, Copy)]
enum Unary {
    Health,
    Get,
    List,
}

async fn unary(args: &RunArgs, target: &Target, round: Duration, kind: Unary) -> Round {
    let callers = target.callers.clone();
    let samples = Arc::clone(&target.samples);
    closed_loop(args.concurrency, round, move |caller, n| {
        let caller = callers[caller % callers.len()].clone();
        let samples = Arc::clone(&samples);
        async move {
            let n = n as usize;
            match kind {
                Unary::Health => caller.health().await,
                Unary::Get => {
                    caller
                        .get_document(&samples.documents[n % samples.documents.len()])
                        .await
                }
                Unary::List => {
                    caller
                        .list_documents(&samples.archives[n % samples.archives.len()])
                        .await
                }
            }
        }
    })
    .await
}

async fn read_pages(args: &RunArgs, target: &Target, round: Duration) -> Round {
    let callers = target.callers.clone();
    let samples = Arc::clone(&target.samples);
    closed_loop(args.concurrency, round, move |caller, n| {
        let caller = callers[caller % callers.len()].clone();
        let samples = Arc::clone(&samples);
        async move {
            let (name, _) = &samples.pages_200k[n as usize % samples.pages_200k.len()];
            caller.read_page(name).await
        }
    })
    .await
}

async fn direct_gets(
    args: &RunArgs,
    target: &Target,
    store: &Arc<dyn ObjectStore>,
    round: Duration,
) -> Round {
    let samples = Arc::clone(&target.samples);
    let store = Arc::clone(store);
    closed_loop(args.concurrency, round, move |_, n| {
        let samples = Arc::clone(&samples);
        let store = Arc::clone(&store);
        async move {
            let (_, key) = &samples.pages_200k[n as usize % samples.pages_200k.len()];
            direct_get(&store, key).await
        }
    })
    .await
}

/// Pages unique to one call at almost no cost: a shared body and a 16-byte tail naming the
/// call, so content addressing never finds them already stored.
#[derive(Clone)]
pub struct UniquePages {
    body: Bytes,
    tag: u64,
}

impl UniquePages {
    pub fn new(size: usize, tag: &str) -> Self {
        let mut rng = Rng::new(0xF11E);
        Self {
            body: synthetic_jpeg(&mut rng, size - 16),
            tag: tag
                .bytes()
                .fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01B3)),
        }
    }

    /// `count` pages for call `n`, each as chunks of at most 1 MiB.
    pub fn pages(&self, n: u64, count: usize) -> Vec<Vec<Bytes>> {
        (0..count)
            .map(|page| {
                let mut chunks: Vec<Bytes> = (0..self.body.len())
                    .step_by(1 << 20)
                    .map(|at| self.body.slice(at..(at + (1 << 20)).min(self.body.len())))
                    .collect();
                let mut tail = [0u8; 16];
                tail[..8].copy_from_slice(&self.tag.to_le_bytes());
                tail[8..].copy_from_slice(&(n << 8 | page as u64).to_le_bytes());
                chunks.push(Bytes::copy_from_slice(&tail));
                chunks
            })
            .collect()
    }
}

/// What a run wrote to the store, removed at its end.
#[derive(Default, Clone)]
pub struct Cleanup(Arc<Mutex<Vec<Path>>>);

impl Cleanup {
    pub fn filed(&self, document: &custodian::proto::v1::Document) {
        let mut keys = self.0.lock().unwrap();
        for page in &document.pages {
            let mut digest = [0u8; 32];
            if hex::decode_to_slice(&page.sha256, &mut digest).is_ok() {
                keys.push(content_key(&digest));
            }
        }
    }

    pub fn put(&self, key: Path) {
        self.0.lock().unwrap().push(key);
    }

    /// Deletes the run's objects. The rows of the filed documents stay in the bench database
    /// (their pages are never read again: samples take generated rows only).
    async fn run(&self, store: &Arc<dyn ObjectStore>) -> usize {
        use futures::StreamExt;
        let keys = std::mem::take(&mut *self.0.lock().unwrap());
        futures::stream::iter(keys)
            .map(|key| {
                let store = Arc::clone(store);
                async move { store.delete(&key).await.is_ok() }
            })
            .buffer_unordered(16)
            .filter(|deleted| std::future::ready(*deleted))
            .count()
            .await
    }
}

async fn filings(
    args: &RunArgs,
    target: &Target,
    round: Duration,
    tag: &str,
    cleanup: &Cleanup,
) -> Round {
    let callers = target.callers.clone();
    let samples = Arc::clone(&target.samples);
    let pages = UniquePages::new(PAGE_200K, tag);
    let (tag, cleanup) = (tag.to_owned(), cleanup.clone());
    closed_loop(args.concurrency, round, move |caller, n| {
        let caller = callers[caller % callers.len()].clone();
        let samples = Arc::clone(&samples);
        let (pages, tag, cleanup) = (pages.clone(), tag.clone(), cleanup.clone());
        async move {
            let parent = &samples.open_archives[n as usize % samples.open_archives.len()];
            let (bytes, document) = caller
                .file_document(parent, format!("bench-{tag}-{n}"), pages.pages(n, 5))
                .await?;
            cleanup.filed(&document);
            Ok(bytes)
        }
    })
    .await
}

async fn direct_puts(
    args: &RunArgs,
    store: &Arc<dyn ObjectStore>,
    round: Duration,
    tag: &str,
    cleanup: &Cleanup,
) -> Round {
    let store = Arc::clone(store);
    let pages = UniquePages::new(PAGE_200K, tag);
    let (tag, cleanup) = (tag.to_owned(), cleanup.clone());
    closed_loop(args.concurrency, round, move |_, n| {
        let store = Arc::clone(&store);
        let (pages, tag, cleanup) = (pages.clone(), tag.clone(), cleanup.clone());
        async move {
            let prefix = format!("direct/{tag}/{n}");
            let bytes = direct_put(&store, &prefix, pages.pages(n, 5)).await?;
            for page in 0..5 {
                cleanup.put(Path::from(format!("{prefix}/{page}")));
            }
            Ok(bytes)
        }
    })
    .await
}

/// 90 % reads (GetDocument 40 %, ListDocuments 30 %, ReadPage of 200 KiB–1 MiB pages 20 %),
/// 10 % filings of three 200 KiB pages.
async fn mixed(
    args: &RunArgs,
    target: &Target,
    duration: Duration,
    run_id: &str,
    cleanup: &Cleanup,
) -> Round {
    let callers = target.callers.clone();
    let samples = Arc::clone(&target.samples);
    let tag = format!("{run_id}-mixed");
    let pages = UniquePages::new(PAGE_200K, &tag);
    let cleanup = cleanup.clone();
    let started = Instant::now();
    let round = closed_loop(args.concurrency, duration, move |caller, n| {
        let caller = callers[caller % callers.len()].clone();
        let samples = Arc::clone(&samples);
        let (pages, tag, cleanup) = (pages.clone(), tag.clone(), cleanup.clone());
        async move {
            let pick = |items: &Vec<String>| items[(n / 10) as usize % items.len()].clone();
            match n % 10 {
                0 => {
                    let parent = pick(&samples.open_archives);
                    let (bytes, document) = caller
                        .file_document(&parent, format!("bench-{tag}-{n}"), pages.pages(n, 3))
                        .await?;
                    cleanup.filed(&document);
                    Ok(bytes)
                }
                1..=4 => caller.get_document(&pick(&samples.documents)).await,
                5..=7 => caller.list_documents(&pick(&samples.archives)).await,
                _ => caller.read_page(&pick(&samples.large_pages)).await,
            }
        }
    })
    .await;
    eprintln!("mixed done in {:.0} s", started.elapsed().as_secs_f64());
    round
}

fn mint_token(key: &std::path::Path) -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": "custodian", "sub": "bench-county",
        "client_id": "archive-desk", "role": "province-custodian", "org_unit": "12",
        "iat": now, "nbf": now, "exp": now + 6 * 3600,
    });
    let key = jsonwebtoken::EncodingKey::from_ed_pem(&std::fs::read(key)?)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &key,
    )?)
}
