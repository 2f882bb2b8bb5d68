//! What an import tells its operator: progress while it runs (a bar on a terminal, plain
//! lines otherwise), the error report in the manifest's own format, and the summary.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use csv::StringRecord;

use super::csv_manifest::Columns;
use super::manifest::ERRORS_FIELD;
use super::source::Raw;

/// Counters shared by the workers.
#[derive(Default)]
pub struct Counts {
    pub filed: AtomicU64,
    pub present: AtomicU64,
    pub failed: AtomicU64,
    /// Pages and bytes of the lines done, filed or found present: the progress.
    pub pages: AtomicU64,
    pub bytes: AtomicU64,
    /// Pages and bytes this run filed: the summary's throughput.
    pub filed_pages: AtomicU64,
    pub filed_bytes: AtomicU64,
}

impl Counts {
    pub fn documents(&self) -> u64 {
        self.filed.load(Ordering::Relaxed)
            + self.present.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
    }
}

/// Shows progress: a bar of bytes with documents and pages on a terminal, a plain line every
/// `interval` otherwise (logs of a job runner).
pub struct Progress {
    bar: ProgressBar,
    plain: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(
        total_documents: u64,
        total_bytes: u64,
        counts: std::sync::Arc<Counts>,
        interval: Duration,
    ) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total_bytes);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .expect("a valid template"),
            );
            let ticker = bar.clone();
            let plain = tokio::spawn(async move {
                loop {
                    ticker.set_position(counts.bytes.load(Ordering::Relaxed));
                    ticker.set_message(format!(
                        "documents {}/{total_documents} pages {} failed {}",
                        counts.documents(),
                        counts.pages.load(Ordering::Relaxed),
                        counts.failed.load(Ordering::Relaxed)
                    ));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            return Self {
                bar,
                plain: Some(plain),
            };
        }
        let started = Instant::now();
        let plain = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let bytes = counts.bytes.load(Ordering::Relaxed);
                let seconds = started.elapsed().as_secs_f64().max(0.001);
                let done = counts.documents();
                let eta = if done == 0 {
                    "?".to_owned()
                } else {
                    let left = total_documents.saturating_sub(done) as f64;
                    format!("{:.0} s", left * seconds / done as f64)
                };
                eprintln!(
                    "import: documents {done}/{total_documents}, pages {}, {:.1} MB, {:.2} MB/s, failed {}, eta {eta}",
                    counts.pages.load(Ordering::Relaxed),
                    bytes as f64 / 1e6,
                    bytes as f64 / 1e6 / seconds,
                    counts.failed.load(Ordering::Relaxed),
                );
            }
        });
        Self {
            bar: ProgressBar::hidden(),
            plain: Some(plain),
        }
    }

    pub fn finish(self) {
        if let Some(task) = self.plain {
            task.abort();
        }
        self.bar.finish_and_clear();
    }
}

/// The failed lines, each the line as it was with its problems in `import_errors` (a field of
/// the JSON object, or the last column of a CSV row): fix them and feed the file back as a
/// manifest.
pub struct ErrorReport {
    path: PathBuf,
    sink: Mutex<Sink>,
    count: AtomicU64,
}

enum Sink {
    Json(std::io::BufWriter<std::fs::File>),
    Csv(Box<(csv::Writer<std::fs::File>, Columns)>),
}

impl ErrorReport {
    /// A report in the manifest's format: a CSV one starts with the manifest's header.
    pub fn create(path: &Path, csv: Option<&(StringRecord, Columns)>) -> anyhow::Result<Self> {
        let file = std::fs::File::create(path)
            .map_err(|error| anyhow::anyhow!("cannot write {}: {error}", path.display()))?;
        let sink = match csv {
            None => Sink::Json(std::io::BufWriter::new(file)),
            Some((header, columns)) => {
                let mut writer = csv::Writer::from_writer(file);
                writer.write_record(&columns.report_header(header))?;
                Sink::Csv(Box::new((writer, columns.clone())))
            }
        };
        Ok(Self {
            path: path.to_owned(),
            sink: Mutex::new(sink),
            count: AtomicU64::new(0),
        })
    }

    /// Records a failed line with its reasons.
    pub fn add(&self, line: u64, raw: &Raw, reasons: &[String]) {
        let reasons: Vec<String> = reasons
            .iter()
            .map(|reason| format!("line {line}: {reason}"))
            .collect();
        let mut sink = self.sink.lock().expect("the report lock is not poisoned");
        // A report that cannot be written must not stop the import; the summary still counts.
        match (&mut *sink, raw) {
            (Sink::Json(file), Raw::Json(text)) => {
                let record = match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(serde_json::Value::Object(mut fields)) => {
                        fields.insert(ERRORS_FIELD.into(), reasons.into());
                        serde_json::Value::Object(fields)
                    }
                    // Not an object: kept as text beside its errors, to be rewritten by hand.
                    _ => serde_json::json!({ ERRORS_FIELD: reasons, "unparsed_line": text }),
                };
                let _ = writeln!(file, "{record}");
            }
            (Sink::Csv(csv), Raw::Csv(row)) => {
                let (writer, columns) = &mut **csv;
                let mut row = columns.without_errors(row);
                row.push_field(&reasons.join("; "));
                let _ = writer.write_record(&row);
            }
            // Cannot happen: a manifest's records are all of its format.
            _ => debug_assert!(false, "a record of another format"),
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn flush(&self) -> anyhow::Result<()> {
        match &mut *self.sink.lock().expect("the report lock is not poisoned") {
            Sink::Json(file) => file.flush()?,
            Sink::Csv(csv) => csv.0.flush()?,
        }
        Ok(())
    }
}
