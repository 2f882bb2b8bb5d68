//! Reading a manifest in either format, JSON Lines or CSV (by its `.csv` extension), as
//! numbered records streamed from the file: each keeps its text as written, for the error
//! report, and the line it reads as.

use std::io::BufRead as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use csv::StringRecord;

use super::csv_manifest::Columns;
use super::manifest::{Line, parse_json_line};

/// A record as written in the manifest.
#[derive(Debug, Clone)]
pub enum Raw {
    Json(String),
    Csv(StringRecord),
}

/// One document of the manifest: where it starts, what it says, and what it reads as.
pub struct Record {
    /// The line of the file it starts on (a CSV row may span lines).
    pub number: u64,
    pub raw: Raw,
    pub line: Result<Line, Vec<String>>,
}

/// A manifest file and its format.
#[derive(Clone)]
pub struct ManifestFile {
    path: std::path::PathBuf,
    /// A CSV manifest's header and what it says of the columns; none for JSON Lines.
    csv: Option<(StringRecord, Columns)>,
}

impl ManifestFile {
    /// Opens a manifest; a CSV header that names unknown columns or lacks required ones stops
    /// the import here, at line 1.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let is_csv = path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
        let csv = if is_csv {
            let mut reader = csv_reader(path)?;
            let header = reader
                .headers()
                .with_context(|| format!("{}: line 1: cannot read the header", path.display()))?
                .clone();
            match Columns::from_header(&header) {
                Ok(columns) => Some((header, columns)),
                Err(problems) => bail!(
                    "{}: line 1: {}",
                    path.display(),
                    problems.join("; line 1: ")
                ),
            }
        } else {
            None
        };
        Ok(Self {
            path: path.to_owned(),
            csv,
        })
    }

    /// The CSV header and columns, for an error report in the same format.
    pub fn csv(&self) -> Option<&(StringRecord, Columns)> {
        self.csv.as_ref()
    }

    /// The error report's file name: the manifest's format.
    pub fn errors_file(&self) -> &'static str {
        if self.csv.is_some() {
            "errors.csv"
        } else {
            "errors.jsonl"
        }
    }

    /// The records, read as they are needed; blank lines are skipped.
    pub fn records(
        &self,
    ) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<Record>> + Send>> {
        match &self.csv {
            None => {
                let file = std::fs::File::open(&self.path)
                    .with_context(|| format!("cannot open {}", self.path.display()))?;
                let lines = (1..).zip(std::io::BufReader::new(file).lines());
                Ok(Box::new(lines.filter_map(|(number, text)| match text {
                    Err(error) => Some(Err(
                        anyhow::Error::new(error).context(format!("cannot read line {number}")),
                    )),
                    Ok(text) if text.trim().is_empty() => None,
                    Ok(text) => Some(Ok(Record {
                        number,
                        line: parse_json_line(&text),
                        raw: Raw::Json(text),
                    })),
                })))
            }
            Some((_, columns)) => {
                let columns = columns.clone();
                let reader = csv_reader(&self.path)?;
                Ok(Box::new(reader.into_byte_records().map(move |row| {
                    let row = row.context("cannot read the CSV manifest")?;
                    let number = row.position().map_or(0, csv::Position::line);
                    Ok(match StringRecord::from_byte_record(row) {
                        Ok(row) => Record {
                            number,
                            line: columns.line(&row),
                            raw: Raw::Csv(row),
                        },
                        Err(error) => Record {
                            number,
                            line: Err(vec![
                                "is not UTF-8 (save the spreadsheet as \"CSV UTF-8\")".into(),
                            ]),
                            raw: Raw::Csv(StringRecord::from_byte_record_lossy(
                                error.into_byte_record(),
                            )),
                        },
                    })
                })))
            }
        }
    }
}

/// Rows may differ in length: a short or long one is reported with its line number rather
/// than ending the read.
fn csv_reader(path: &Path) -> anyhow::Result<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))
}
