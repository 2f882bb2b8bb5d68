//! Bringing archives in and taking them out (issue 14), measured in the same run as their
//! limit: `custodian import` against the same number of concurrent plain FileDocument calls
//! filing the same kind of pages, the importer's RSS over a large generated manifest, and
//! `custodian export` MB/s.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};
use sqlx::Connection as _;

use crate::common::Round;
use crate::objects::content_key;
use crate::report::Series;
use crate::targets::{Cleanup, Target, UniquePages};
use crate::workloads::RunArgs;

/// Pages per imported document and their size: a residential archive's few small scans.
pub const PAGES: usize = 3;
const PAGE_BYTES: usize = 20 * 1024;

/// A token for the archive-importer role (archive-desk, province 12), signed like the others.
fn importer_token(args: &RunArgs) -> anyhow::Result<String> {
    let key = args
        .signing_key
        .clone()
        .unwrap_or_else(|| crate::repository_file("tests/fixtures/issuer-ed25519.pem"));
    crate::targets::mint_token_as(&key, &args.issuer, "archive-importer")
}

/// Writes a manifest of `documents` lines into `dir`, each `PAGES` pages new to the store, into
/// the preset's active accounts; returns the digests of every page (for the cleanup).
fn write_manifest(
    dir: &Path,
    target: &Target,
    documents: u64,
    tag: &str,
) -> anyhow::Result<(PathBuf, Vec<[u8; 32]>)> {
    std::fs::create_dir_all(dir.join("pages"))?;
    let pages = UniquePages::new(PAGE_BYTES, tag);
    let manifest = dir.join("manifest.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&manifest)?);
    let mut digests = Vec::new();
    let archives = &target.samples.open_archives;
    for n in 0..documents {
        let mut entries = Vec::new();
        for (page, chunks) in pages.pages(n, PAGES).into_iter().enumerate() {
            let bytes: Vec<u8> = chunks.concat();
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            let path = format!("pages/{n}-{page}.jpg");
            std::fs::write(dir.join(&path), &bytes)?;
            entries.push(serde_json::json!({"path": path, "sha256": hex::encode(digest)}));
            digests.push(digest);
        }
        let account = archives[n as usize % archives.len()].trim_start_matches("customers/");
        let line = serde_json::json!({
            "account_number": account, "document_type": "application-form",
            "business_process": "new_connection", "title": "居民新装用电申请书",
            "original_date": "2009-05-12", "reference_number": format!("{tag}-{n}"),
            "legacy_system": "bench-county", "pages": entries,
        });
        std::io::Write::write_all(&mut out, format!("{line}\n").as_bytes())?;
    }
    std::io::Write::flush(&mut out)?;
    Ok((manifest, digests))
}

/// What one importer run did: its summary and how its RSS moved.
pub struct ImportRun {
    pub summary: serde_json::Value,
    pub wall_seconds: f64,
    /// (seconds since start, documents done as its progress lines said, RSS bytes).
    pub rss: Vec<(f64, u64, u64)>,
}

/// Runs `custodian import` to its end, sampling its RSS every `every`.
pub fn run_importer(
    binary: &Path,
    target: &Target,
    token: &str,
    manifest: &Path,
    jobs: usize,
    every: Duration,
) -> anyhow::Result<ImportRun> {
    let started = Instant::now();
    let mut child = std::process::Command::new(binary)
        .arg("import")
        .args(["--url", &format!("http://{}", target.server.address)])
        .args(["--jobs", &jobs.to_string()])
        .args(["--progress-interval", "1"])
        .arg(manifest)
        .env("CUSTODIAN_TOKEN", token)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stderr = child.stderr.take().expect("piped");
    let reader = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut last = Vec::new();
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                // "import: documents 1234/100000, …"
                if let Some(count) = line
                    .strip_prefix("import: documents ")
                    .and_then(|rest| rest.split('/').next())
                    .and_then(|count| count.parse().ok())
                {
                    done.store(count, std::sync::atomic::Ordering::Relaxed);
                } else {
                    last.push(line);
                    if last.len() > 20 {
                        last.remove(0);
                    }
                }
            }
            last
        })
    };
    let mut rss = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(bytes) = rss_of(pid) {
            rss.push((
                started.elapsed().as_secs_f64(),
                done.load(std::sync::atomic::Ordering::Relaxed),
                bytes,
            ));
        }
        std::thread::sleep(every);
    };
    let wall_seconds = started.elapsed().as_secs_f64();
    let last = reader.join().unwrap_or_default();
    anyhow::ensure!(status.success(), "the importer failed: {}", last.join("\n"));
    let mut report = manifest.as_os_str().to_owned();
    report.push(".report/summary.json");
    let summary = serde_json::from_slice(&std::fs::read(PathBuf::from(report))?)?;
    Ok(ImportRun {
        summary,
        wall_seconds,
        rss,
    })
}

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Files `documents` documents of `PAGES` new pages each with `concurrency` plain FileDocument
/// calls at once (digests declared, as the importer declares them), into the same accounts.
pub async fn plain_filings(
    target: &Target,
    concurrency: usize,
    documents: u64,
    tag: &str,
    cleanup: &Cleanup,
) -> Round {
    let pages = UniquePages::new(PAGE_BYTES, tag);
    let started = Instant::now();
    let outcomes: Vec<anyhow::Result<u64>> = futures::stream::iter(0..documents)
        .map(|n| {
            let caller = target.callers[n as usize % target.callers.len()].clone();
            let archives = &target.samples.open_archives;
            let parent = archives[n as usize % archives.len()].clone();
            let pages = pages.pages(n, PAGES);
            let checksums = crate::calls::checksums(&pages);
            async move {
                let (bytes, document) = caller
                    .file_declared(&parent, format!("bench-{tag}-{n}"), pages, checksums)
                    .await?;
                cleanup.filed(&document);
                Ok(bytes)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut round = Round {
        seconds,
        ..Round::default()
    };
    for outcome in outcomes {
        match outcome {
            Ok(bytes) => {
                round.calls += 1;
                round.bytes += bytes;
            }
            Err(error) => {
                round.errors += 1;
                round.first_error.get_or_insert(error.to_string());
            }
        }
    }
    round
}

/// Alternating rounds of an import and the same number of plain filings; pushes both series.
pub async fn import_rounds(
    args: &RunArgs,
    binary: &Path,
    target: &Target,
    run_id: &str,
    series: &mut Series,
    cleanup: &Cleanup,
) -> anyhow::Result<()> {
    let token = importer_token(args)?;
    let documents = args.import_documents;
    for number in 1..=args.rounds.min(3) {
        let dir = tempfile::tempdir()?;
        let tag = format!("{run_id}-i{number}");
        let (manifest, digests) = write_manifest(dir.path(), target, documents, &tag)?;
        for digest in &digests {
            cleanup.put(content_key(digest));
        }
        let (binary, manifest_path) = (binary.to_owned(), manifest.clone());
        let run = {
            let token = token.clone();
            let target_ref: &Target = target;
            // The importer is its own process; its run blocks this thread only.
            tokio::task::block_in_place(|| {
                run_importer(
                    &binary,
                    target_ref,
                    &token,
                    &manifest_path,
                    args.concurrency,
                    Duration::from_millis(500),
                )
            })?
        };
        let filed = run.summary["filed"].as_u64().unwrap_or(0);
        let round = Round {
            calls: filed,
            bytes: run.summary["bytes"].as_u64().unwrap_or(0),
            // The check pass, the filing and the account look-ups; not the read-back after it.
            seconds: run.summary["seconds"].as_f64().unwrap_or(run.wall_seconds),
            errors: documents - filed,
            ..Round::default()
        };
        series.push(&format!("import {PAGES}×20 KiB"), round);
        let plain = plain_filings(
            target,
            args.concurrency,
            documents,
            &format!("{tag}-plain"),
            cleanup,
        )
        .await;
        series.push(&format!("FileDocument {PAGES}×20 KiB"), plain);
        eprintln!("import round {number} done");
    }
    Ok(())
}

/// One import of a large manifest (its pages shared by the lines, so its size is bounded by
/// lines, not disk), printing how the importer's RSS moves.
pub async fn import_rss(
    args: &RunArgs,
    binary: &Path,
    target: &Target,
    run_id: &str,
    cleanup: &Cleanup,
) -> anyhow::Result<()> {
    let token = importer_token(args)?;
    let dir = tempfile::tempdir()?;
    let shared = 64;
    let (small, digests) = write_manifest(dir.path(), target, shared, &format!("{run_id}-rss"))?;
    for digest in &digests {
        cleanup.put(content_key(digest));
    }
    // Every line names pages of the 64 first documents under its own reference.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&small)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let manifest = dir.path().join("large.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&manifest)?);
    // Every active account of the preset, four lines each in a row, as a legacy export
    // grouped by account lists them: the importer meets far more accounts than it remembers.
    let mut db = sqlx::PgConnection::connect(&args.preset.database_url()?).await?;
    let archives: Vec<String> = sqlx::query_scalar(
        "SELECT account_number FROM customers WHERE status = 'active' ORDER BY account_number",
    )
    .fetch_all(&mut db)
    .await?;
    anyhow::ensure!(!archives.is_empty(), "the preset has no active account");
    for n in 0..args.import_rss_documents {
        let mut line = lines[(n % shared) as usize].clone();
        line["reference_number"] = format!("{run_id}-rss-{n}").into();
        line["account_number"] = archives[(n / 4) as usize % archives.len()].as_str().into();
        std::io::Write::write_all(&mut out, format!("{line}\n").as_bytes())?;
    }
    std::io::Write::flush(&mut out)?;
    drop(out);
    let started = Instant::now();
    let run = tokio::task::block_in_place(|| {
        run_importer(
            binary,
            target,
            &token,
            &manifest,
            args.concurrency,
            Duration::from_secs(1),
        )
    })?;
    println!(
        "importer RSS over {} lines ({} pages each, 64 distinct page sets, {} accounts), --jobs {}: filed {}, {:.0} s, {:.0} documents/s",
        args.import_rss_documents,
        PAGES,
        archives.len(),
        args.concurrency,
        run.summary["filed"],
        started.elapsed().as_secs_f64(),
        run.summary["filed"].as_f64().unwrap_or(0.0)
            / run.summary["seconds"].as_f64().unwrap_or(1.0),
    );
    println!("| seconds | documents done | importer RSS (MB) |");
    println!("| --- | --- | --- |");
    let step = (run.rss.len() / 12).max(1);
    for (i, (seconds, done, rss)) in run.rss.iter().enumerate() {
        if i % step == 0 || i + 1 == run.rss.len() {
            println!("| {seconds:.0} | {done} | {:.1} |", *rss as f64 / 1e6);
        }
    }
    let peak = run.rss.iter().map(|s| s.2).max().unwrap_or(0);
    println!("peak importer RSS {:.1} MB", peak as f64 / 1e6);
    Ok(())
}

/// The default `custodian export` of 500 of the preset's generated documents and the same
/// with `--parallel-reads 1`, on the same documents in each round, which goes first
/// alternating (the second reads from warmer caches); MB/s as the command reports it.
pub async fn export_rounds(
    args: &RunArgs,
    binary: &Path,
    target: &Target,
    series: &mut Series,
) -> anyhow::Result<()> {
    let key = args
        .signing_key
        .clone()
        .unwrap_or_else(|| crate::repository_file("tests/fixtures/issuer-ed25519.pem"));
    let token = crate::targets::mint_token_as(&key, &args.issuer, "province-custodian")?;
    for number in 1..=args.rounds.min(3) {
        let offset = (number - 1) * 500;
        let documents: Vec<&String> = target
            .samples
            .documents
            .iter()
            .skip(offset)
            .take(500)
            .collect();
        let mut variants = [
            ("export 500 documents", None),
            ("export 500 documents, --parallel-reads 1", Some("1")),
        ];
        if number % 2 == 0 {
            variants.reverse();
        }
        for (name, parallel_reads) in variants {
            let round = export_once(binary, target, &token, &documents, parallel_reads)?;
            series.push(name, round);
        }
        eprintln!("export round {number} done");
    }
    Ok(())
}

/// One `custodian export` of `documents` into a temporary bag.
fn export_once(
    binary: &Path,
    target: &Target,
    token: &str,
    documents: &[&String],
    parallel_reads: Option<&str>,
) -> anyhow::Result<Round> {
    let dir = tempfile::tempdir()?;
    let bag = dir.path().join("bag");
    let mut command = std::process::Command::new(binary);
    command
        .arg("export")
        .args(["--url", &format!("http://{}", target.server.address)])
        .args(["--purpose", "benchmark"])
        .arg("--output")
        .arg(&bag)
        .env("CUSTODIAN_TOKEN", token);
    if let Some(reads) = parallel_reads {
        command.args(["--parallel-reads", reads]);
    }
    for name in documents {
        command.args(["--document", name.as_str()]);
    }
    let started = Instant::now();
    let output = tokio::task::block_in_place(|| command.output())?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        output.status.success(),
        "the export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Round {
        calls: documents.len() as u64,
        bytes: dir_bytes(&bag.join("data")),
        seconds,
        ..Round::default()
    })
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                dir_bytes(&path)
            } else {
                entry.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}
