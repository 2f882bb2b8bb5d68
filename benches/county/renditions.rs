//! Renditions off the filing path (issue 15): FileDocument of five real JPEG scans (A4 at
//! 150 dpi, grey) into a server with one rendition worker (the default) and into another
//! server on the same database with none, both started for this group, in alternating rounds; and how long the worker takes
//! from each filing to its page's READY at the rate those rounds filed.
//!
//! The pages must decode (the generator's stand-in images only look like JPEG to a sniffer),
//! and each call's are new to the store: a comment segment after the start marker names the
//! call. The queue is shared by both servers, so what is left queued after a round (the
//! worker-less server's filings, and whatever the worker did not reach) is taken off the
//! queue before the next round: each round starts with an empty queue, and no later run
//! renders this one's leftovers. Those contents stay "not queued", as the generated ones.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sqlx::{Connection, PgConnection};

use crate::common::{Round, closed_loop, median};
use crate::cpu::CpuMeter;
use crate::report::{Row, Series, Table};
use crate::server::Launch;
use crate::targets::{Cleanup, Target};
use crate::workloads::RunArgs;

pub const ON: &str = "FileDocument 5 JPEG scans, renditions on (1 worker)";
pub const OFF: &str = "FileDocument 5 JPEG scans, renditions off (0 workers)";
/// How long after an "on" round the worker's progress is awaited before the delays are read.
const SETTLE: Duration = Duration::from_secs(5);

/// A grey A4 scan at 150 dpi: white paper, lines of dark "text", a little noise.
fn scan() -> anyhow::Result<Vec<u8>> {
    let mut rng = crate::dataset::Rng::new(0x5CA7);
    let image = image::GrayImage::from_fn(1240, 1754, |x, y| {
        let line = (y / 28) % 2 == 0 && x > 120 && x < 1120 && y > 150 && y < 1600;
        let ink = line && (x / 9 + y / 28 * 7) % 11 > 2;
        let noise = (rng.next() % 24) as u8;
        image::Luma([if ink { 40 + noise } else { 255 - noise }])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&image)?;
    Ok(out)
}

/// The scan with a comment segment naming call `n` and page `page`.
fn unique(scan: &Bytes, tag: u64, n: u64, page: u64) -> Vec<Bytes> {
    let mut head = Vec::with_capacity(22);
    head.extend_from_slice(b"\xFF\xD8\xFF\xFE\x00\x12");
    head.extend_from_slice(&tag.to_le_bytes());
    head.extend_from_slice(&(n << 8 | page).to_le_bytes());
    vec![Bytes::from(head), scan.slice(2..)]
}

pub async fn run(
    args: &RunArgs,
    launch: &Launch,
    run_id: &str,
    meter: &CpuMeter,
    series: &mut Series,
    table: &mut Table,
    cleanup: &Cleanup,
) -> anyhow::Result<()> {
    // Two fresh servers alike but for their workers, so neither carries what earlier groups
    // left it (caches, RSS, a worker busy with their pages).
    let with_workers = |workers: &str| {
        let mut extra_env = launch.extra_env.clone();
        extra_env.push(("CUSTODIAN_RENDITIONS__WORKERS".into(), workers.into()));
        Launch {
            binary: launch.binary.clone(),
            perf: false,
            extra_env,
        }
    };
    let on = Target::open(args, args.preset, &with_workers("1")).await?;
    let off = Target::open(args, args.preset, &with_workers("0")).await?;
    meter.watch(on.server.pid);
    meter.watch(off.server.pid);
    let scan = Bytes::from(scan()?);
    eprintln!("renditions: a real JPEG scan of {} bytes", scan.len());
    let mut db = PgConnection::connect(&args.preset.database_url()?).await?;
    // Jobs earlier groups (or runs) queued would compete with the rounds' own: their pages
    // are the stand-in images, whose objects the cleanup has deleted. Only bench rows live here.
    sqlx::query(
        "WITH dropped AS (DELETE FROM rendition_jobs RETURNING sha256)
         UPDATE page_contents c SET rendition_state = NULL FROM dropped WHERE c.sha256 = dropped.sha256",
    )
    .execute(&mut db)
    .await?;
    let (rounds, short) = (
        args.rounds.min(3),
        Duration::from_secs_f64(args.seconds).min(Duration::from_secs(2)),
    );
    let (mut delays, mut left, mut failed, mut rendered_per_second) =
        (Vec::new(), 0i64, 0i64, Vec::new());
    for number in 1..=rounds {
        let tag = format!("{run_id}-r{number}");
        // Which server files first alternates, so neither always follows the other's work.
        for on_turn in if number % 2 == 1 {
            [false, true]
        } else {
            [true, false]
        } {
            if !on_turn {
                let filed = meter
                    .measure(filings(
                        args,
                        &off,
                        &scan,
                        short,
                        &format!("{tag}off"),
                        cleanup,
                    ))
                    .await;
                series.push(OFF, filed);
                dequeue(&mut db, &format!("{tag}off")).await?;
                continue;
            }
            let filed = meter
                .measure(filings(
                    args,
                    &on,
                    &scan,
                    short,
                    &format!("{tag}on"),
                    cleanup,
                ))
                .await;
            series.push(ON, filed);
            tokio::time::sleep(SETTLE).await;
            let (ready, pending, failures, rate) = progress(&mut db, &format!("{tag}on")).await?;
            delays.extend(ready);
            left += pending;
            failed += failures;
            rendered_per_second.push(rate);
            dequeue(&mut db, &format!("{tag}on")).await?;
        }
        eprintln!("renditions round {number}/{rounds} done");
    }
    drop(off);
    drop(on);
    table.ratio(
        series,
        "FileDocument 5 JPEG scans, renditions on vs off",
        (ON, OFF),
        |r: &Round| r.per_second() * 5.0,
        "pages/s",
        Some(0.90),
    );
    delays.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        if delays.is_empty() {
            f64::NAN
        } else {
            delays[((delays.len() - 1) as f64 * q).round() as usize]
        }
    };
    table.0.push(Row {
        workload: format!(
            "rendition delay, filing to READY, at the rate above ({} s after each round)",
            SETTLE.as_secs()
        ),
        custodian: format!(
            "p50 {:.2} s, p99 {:.2} s of {} pages ready; {left} still queued, {failed} failed",
            quantile(0.5),
            quantile(0.99),
            delays.len()
        ),
        limit: format!("worker: {:.1} pages/s", median(&rendered_per_second)),
        ratio: "—".into(),
        target: "a few seconds".into(),
        // Pages still queued count as later than any delay measured.
        pass: Some(left == 0 && failed == 0 && quantile(0.99) <= 5.0),
    });
    Ok(())
}

async fn filings(
    args: &RunArgs,
    target: &Target,
    scan: &Bytes,
    round: Duration,
    tag: &str,
    cleanup: &Cleanup,
) -> Round {
    let callers = target.callers.clone();
    let samples = Arc::clone(&target.samples);
    let scan = scan.clone();
    let key = tag.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01B3)
    });
    let (tag, cleanup) = (tag.to_owned(), cleanup.clone());
    closed_loop(args.concurrency, round, move |caller, n| {
        let caller = callers[caller % callers.len()].clone();
        let samples = Arc::clone(&samples);
        let (scan, tag, cleanup) = (scan.clone(), tag.clone(), cleanup.clone());
        async move {
            let parent = &samples.open_archives[n as usize % samples.open_archives.len()];
            let pages = (0..5).map(|page| unique(&scan, key, n, page)).collect();
            let (bytes, document) = caller
                .file_document(parent, format!("bench-{tag}-{n}"), pages)
                .await?;
            cleanup.filed(&document);
            Ok(bytes)
        }
    })
    .await
}

/// The contents filed under `tag`: the delays (s) from filing to the last rendition of those
/// ready, how many are still pending and failed, and the pages made per second since the
/// first filing.
async fn progress(db: &mut PgConnection, tag: &str) -> anyhow::Result<(Vec<f64>, i64, i64, f64)> {
    let rows: Vec<(Option<String>, Option<f64>, Option<f64>)> = sqlx::query_as(
        "SELECT c.rendition_state,
                extract(epoch FROM (SELECT max(r.made_at) FROM page_renditions r
                                    WHERE r.sha256 = c.sha256) - min(d.filed_at))::float8,
                extract(epoch FROM clock_timestamp() - min(d.filed_at))::float8
         FROM documents d
         JOIN pages p ON p.document_id = d.document_id
         JOIN page_contents c ON c.sha256 = p.sha256
         WHERE d.client_request_id LIKE $1
         GROUP BY c.sha256, c.rendition_state",
    )
    .bind(format!("bench-{tag}-%"))
    .fetch_all(db)
    .await?;
    let mut ready = Vec::new();
    let (mut pending, mut failed, mut since) = (0, 0, 0f64);
    for (state, delay, age) in rows {
        since = since.max(age.unwrap_or(0.0));
        match state.as_deref() {
            Some("ready") => ready.extend(delay),
            Some("failed") => failed += 1,
            _ => pending += 1,
        }
    }
    let rate = ready.len() as f64 / since.max(f64::EPSILON);
    Ok((ready, pending, failed, rate))
}

/// Takes the contents filed under `tag` off the rendition queue (see the module's comment).
async fn dequeue(db: &mut PgConnection, tag: &str) -> anyhow::Result<()> {
    sqlx::query(
        "WITH filed AS (
             SELECT DISTINCT p.sha256 FROM documents d JOIN pages p ON p.document_id = d.document_id
             WHERE d.client_request_id LIKE $1
         ), dropped AS (
             DELETE FROM rendition_jobs j USING filed f WHERE j.sha256 = f.sha256 RETURNING j.sha256
         )
         UPDATE page_contents c SET rendition_state = NULL
         FROM dropped WHERE c.sha256 = dropped.sha256",
    )
    .bind(format!("bench-{tag}-%"))
    .execute(db)
    .await?;
    Ok(())
}
