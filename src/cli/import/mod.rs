//! `custodian import MANIFEST`: brings legacy archives in through the public API.
//!
//! Three passes over the manifest, each streaming it line by line so memory stays flat
//! whatever its size: the whole manifest is checked first (every problem with its line
//! number; `--dry-run` stops there), then the valid lines are filed `--jobs` at a time, then
//! every filed document is read back and its pages compared with the manifest's digests. Each
//! line's request id comes from its identity, so a rerun after an interruption files only
//! what is missing.

mod csv_manifest;
mod customer_fields;
mod filing;
mod manifest;
mod report;
mod source;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use futures::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

use self::filing::{Clients, KnownAccounts, Outcome};
use self::manifest::{Checker, Prepared, TypeMap};
use self::report::{Counts, ErrorReport, Progress};
use self::source::{ManifestFile, Raw};
use crate::cli::client::Connection;
use crate::proto::v1 as pb;
use crate::proto::v1::customer_service_client::CustomerServiceClient;
use crate::proto::v1::document_service_client::DocumentServiceClient;
use crate::proto::v1::document_type_service_client::DocumentTypeServiceClient;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    connection: Connection,
    /// The manifest: JSON Lines, one document a line, or CSV with a header row when its name
    /// ends in `.csv` (see the README); page paths are relative to its folder.
    manifest: PathBuf,
    /// Check the whole manifest and print the report; file nothing.
    #[arg(long)]
    dry_run: bool,
    /// Documents filed at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// A JSON object mapping legacy document type codes to the catalog's, e.g.
    /// `{"YX-01": "application-form"}`.
    #[arg(long)]
    type_map: Option<PathBuf>,
    /// File the valid lines even when others are invalid (those go to the error report).
    /// Without it, one invalid line stops the import before anything is filed.
    #[arg(long)]
    skip_invalid: bool,
    /// Where the error report (`errors.jsonl`), the journal of filed documents
    /// (`filed.jsonl`) and `summary.json` go; default `<manifest>.report/` beside it, or for a
    /// bag's `custodian-import.jsonl` `<bag>.import-report/` beside the bag.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Seconds between progress lines when not on a terminal.
    #[arg(long, default_value_t = 10)]
    progress_interval: u64,
}

/// What the check of the whole manifest found.
struct Checked {
    lines: u64,
    valid: u64,
    pages: u64,
    bytes: u64,
    invalid: HashSet<u64>,
}

impl ImportArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let started = Instant::now();
        let manifest = self.manifest.clone();
        let base = manifest
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let report_dir = self
            .report_dir
            .clone()
            .unwrap_or_else(|| default_report_dir(&manifest, &base));
        std::fs::create_dir_all(&report_dir)
            .with_context(|| format!("cannot create {}", report_dir.display()))?;
        let types = match &self.type_map {
            Some(path) => TypeMap::load(path)?,
            None => TypeMap::default(),
        };
        let channel = self.connection.channel().await?;
        let catalog = DocumentTypeServiceClient::new(channel.clone())
            .list_document_types(pb::ListDocumentTypesRequest {})
            .await
            .context("cannot read the document type catalog")?
            .into_inner()
            .document_types
            .into_iter()
            .map(|t| t.code)
            .collect();
        let checker = Arc::new(Checker {
            base,
            types,
            catalog,
        });
        let file = ManifestFile::open(&manifest)?;
        let errors = Arc::new(ErrorReport::create(
            &report_dir.join(file.errors_file()),
            file.csv(),
        )?);

        let checked = {
            let (checker, errors, manifest) = (checker.clone(), errors.clone(), file.clone());
            tokio::task::spawn_blocking(move || check_manifest(&manifest, &checker, &errors))
                .await??
        };
        errors.flush()?;
        eprintln!(
            "checked {} lines: {} documents ({} pages, {:.1} MB) valid, {} invalid{}",
            checked.lines,
            checked.valid,
            checked.pages,
            checked.bytes as f64 / 1e6,
            checked.invalid.len(),
            if checked.invalid.is_empty() {
                String::new()
            } else {
                format!(" (each with its reasons in {})", errors.path().display())
            }
        );
        if self.dry_run {
            if !checked.invalid.is_empty() {
                bail!("the manifest has invalid lines; nothing was filed (dry run)");
            }
            eprintln!("dry run: nothing was filed");
            return Ok(());
        }
        if !checked.invalid.is_empty() && !self.skip_invalid {
            bail!(
                "the manifest has invalid lines; nothing was filed. Fix them (or pass --skip-invalid to file the valid ones)"
            );
        }

        let clients = Clients {
            customers: CustomerServiceClient::new(channel.clone()),
            documents: DocumentServiceClient::new(channel),
        };
        let counts = Arc::new(Counts::default());
        let progress = Progress::start(
            checked.valid,
            checked.bytes,
            counts.clone(),
            Duration::from_secs(self.progress_interval.max(1)),
        );
        let journal_path = report_dir.join("filed.jsonl");
        let journal = std::sync::Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(&journal_path)
                .with_context(|| format!("cannot write {}", journal_path.display()))?,
        ));
        let known = KnownAccounts::new();
        let jobs = usize::from(self.jobs);

        // The reader thread checks each line again (the files may have changed) and hands
        // them over a bounded channel: at most a few lines per job wait in memory.
        let (sender, receiver) = tokio::sync::mpsc::channel::<(u64, Raw, Prepared)>(jobs * 2);
        let reader = {
            let (checker, manifest) = (checker.clone(), file.clone());
            let invalid = checked.invalid;
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                for record in manifest.records()? {
                    let record = record?;
                    if invalid.contains(&record.number) {
                        continue;
                    }
                    // The files may have changed since the check; a line that became invalid
                    // is left out here and found missing by the verification's count.
                    let prepared = record.line.and_then(|line| checker.check_line(line));
                    if let Ok(prepared) = prepared
                        && sender
                            .blocking_send((record.number, record.raw, prepared))
                            .is_err()
                    {
                        break;
                    }
                }
                Ok(())
            })
        };
        ReceiverStream::new(receiver)
            .map(|(number, text, line)| {
                let (clients, known, counts) = (&clients, &known, &counts);
                // Taken here, in the manifest's order, not when the filing first runs.
                let turn = known.turn(&line.account);
                async move {
                    let outcome = filing::file_line(clients, known, &line, turn, counts).await;
                    (number, text, line, outcome)
                }
            })
            .buffer_unordered(jobs)
            .for_each(|(number, text, _line, outcome)| {
                match outcome {
                    Ok(outcome) => {
                        let document = match outcome {
                            Outcome::Filed(document) => {
                                counts.filed.fetch_add(1, Ordering::Relaxed);
                                document
                            }
                            Outcome::Present(document) => {
                                counts.present.fetch_add(1, Ordering::Relaxed);
                                document
                            }
                        };
                        let record = serde_json::json!({
                            "line": number,
                            "document": document.name,
                            "sha256": document.pages.iter().map(|p| &p.sha256).collect::<Vec<_>>(),
                        });
                        let mut journal = journal.lock().expect("not poisoned");
                        let _ = writeln!(journal, "{record}");
                    }
                    Err(reason) => {
                        if counts.failed.fetch_add(1, Ordering::Relaxed) < 20 {
                            eprintln!("line {number}: {reason}");
                        }
                        errors.add(number, &text, &[reason]);
                    }
                }
                futures::future::ready(())
            })
            .await;
        reader.await??;
        journal
            .into_inner()
            .expect("not poisoned")
            .flush()
            .context("cannot write the journal")?;
        errors.flush()?;
        progress.finish();
        let filing_time = started.elapsed();

        let (verified, mismatched) = verify_journal(&clients, &journal_path, jobs).await?;
        let summary = serde_json::json!({
            "manifest": manifest.display().to_string(),
            "lines": checked.lines,
            "filed": counts.filed.load(Ordering::Relaxed),
            "already_present": counts.present.load(Ordering::Relaxed),
            "failed": counts.failed.load(Ordering::Relaxed),
            "invalid": errors.count() - counts.failed.load(Ordering::Relaxed),
            "pages": counts.filed_pages.load(Ordering::Relaxed),
            "bytes": counts.filed_bytes.load(Ordering::Relaxed),
            "seconds": filing_time.as_secs_f64(),
            "verified": verified,
            "verification_failures": mismatched,
            "error_report": errors.path().display().to_string(),
        });
        std::fs::write(
            report_dir.join("summary.json"),
            serde_json::to_vec_pretty(&summary)?,
        )?;
        let seconds = filing_time.as_secs_f64().max(0.001);
        println!(
            "filed {}, already present {}, failed {}, invalid {}; {} pages, {:.1} MB filed in {:.1} s ({:.2} MB/s); verified {verified}, verification failures {mismatched}",
            summary["filed"],
            summary["already_present"],
            summary["failed"],
            summary["invalid"],
            summary["pages"],
            counts.filed_bytes.load(Ordering::Relaxed) as f64 / 1e6,
            seconds,
            counts.filed_bytes.load(Ordering::Relaxed) as f64 / 1e6 / seconds,
        );
        if errors.count() > 0 || mismatched > 0 {
            bail!(
                "{} lines were not imported (see {}), {mismatched} documents failed verification",
                errors.count(),
                errors.path().display()
            );
        }
        Ok(())
    }
}

/// `MANIFEST.report/` beside the manifest; for the import manifest of a BagIt bag,
/// `BAG.import-report/` beside the bag, since a bag is evidence and is never written into (and
/// may be on read-only media).
fn default_report_dir(manifest: &Path, base: &Path) -> PathBuf {
    let bag = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    if bag.join("bagit.txt").is_file()
        && let Ok(bag) = std::fs::canonicalize(bag)
    {
        let mut name = bag.into_os_string();
        name.push(".import-report");
        return PathBuf::from(name);
    }
    let mut name = manifest.to_owned().into_os_string();
    name.push(".report");
    PathBuf::from(name)
}

/// Checks every line, writes each invalid one to the error report, and counts the valid.
fn check_manifest(
    manifest: &ManifestFile,
    checker: &Checker,
    errors: &ErrorReport,
) -> anyhow::Result<Checked> {
    let mut checked = Checked {
        lines: 0,
        valid: 0,
        pages: 0,
        bytes: 0,
        invalid: HashSet::new(),
    };
    // The first line of each identity (16 bytes of its hash): a second is a duplicate.
    let mut seen: HashMap<[u8; 16], u64> = HashMap::new();
    let mut shown = 0;
    for record in manifest.records()? {
        let record = record?;
        let number = record.number;
        checked.lines += 1;
        let outcome = record.line.and_then(|line| checker.check_line(line)).and_then(|prepared| {
            let key: [u8; 16] = prepared.identity[..16].try_into().expect("16 bytes");
            match seen.insert(key, number) {
                Some(first) => {
                    seen.insert(key, first);
                    Err(vec![format!(
                        "duplicate of line {first} (the same legacy reference, or the same document)"
                    )])
                }
                None => Ok(prepared),
            }
        });
        match outcome {
            Ok(prepared) => {
                checked.valid += 1;
                checked.pages += prepared.pages.len() as u64;
                checked.bytes += prepared.bytes();
            }
            Err(reasons) => {
                if shown < 20 {
                    for reason in &reasons {
                        eprintln!("line {number}: {reason}");
                    }
                    shown += 1;
                }
                errors.add(number, &record.raw, &reasons);
                checked.invalid.insert(number);
            }
        }
    }
    Ok(checked)
}

/// Reads every journalled document back; returns (verified, failed).
async fn verify_journal(
    clients: &Clients,
    journal: &Path,
    jobs: usize,
) -> anyhow::Result<(u64, u64)> {
    let file = tokio::fs::File::open(journal).await?;
    let lines = futures::stream::unfold(
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(file)),
        |mut lines| async move {
            lines
                .next_line()
                .await
                .transpose()
                .map(|line| (line, lines))
        },
    );
    let (verified, failed) = lines
        .map(|text| async move {
            let text = text.map_err(|error| error.to_string())?;
            let record: serde_json::Value =
                serde_json::from_str(&text).map_err(|error| error.to_string())?;
            let name = record["document"].as_str().unwrap_or_default().to_owned();
            let digests: Vec<String> = record["sha256"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect();
            filing::verify(clients, &name, &digests)
                .await
                .map_err(|reason| format!("line {}: {reason}", record["line"]))
        })
        .buffer_unordered(jobs)
        .fold((0u64, 0u64), |(ok, bad), outcome| async move {
            match outcome {
                Ok(()) => (ok + 1, bad),
                Err(reason) => {
                    eprintln!("verification failed: {reason}");
                    (ok, bad + 1)
                }
            }
        })
        .await;
    Ok((verified, failed))
}
