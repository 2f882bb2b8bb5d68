//! CSV manifests, as people export them from spreadsheets: a header row naming the columns
//! (README, "Bringing in existing archives"), then one document a row, read into the same
//! line as a JSON Lines manifest's, so both are checked and filed alike.

use csv::StringRecord;

use super::manifest::{CustomerFields, ERRORS_FIELD, Line, PageEntry};

/// Separates the page files of one row (and their digests): `|` cannot appear in a Windows
/// file name and is rare in any, unlike `;` and `,`.
pub const PAGE_SEPARATOR: char = '|';

/// The columns, in the order the README lists them; those marked true are required.
pub const COLUMNS: [(&str, bool); 19] = [
    ("account_number", true),
    ("document_type", true),
    ("business_process", true),
    ("work_order", false),
    ("title", true),
    ("original_date", true),
    ("reference_number", false),
    ("legacy_system", true),
    ("pages", true),
    ("page_sha256", false),
    ("customer_display_name", false),
    ("customer_class", false),
    ("customer_org_unit_code", false),
    ("customer_status", false),
    ("customer_open_date", false),
    ("customer_close_date", false),
    ("customer_id_number", false),
    ("customer_phone", false),
    ("customer_address", false),
];

/// Where each known column is in the file's rows, from its header.
#[derive(Debug, Clone)]
pub struct Columns {
    index: [Option<usize>; COLUMNS.len()],
    /// The `import_errors` column of a re-fed error report, left out when read.
    errors: Option<usize>,
    width: usize,
}

impl Columns {
    /// Reads the header row; every problem with it is returned (they stop the import).
    pub fn from_header(header: &StringRecord) -> Result<Self, Vec<String>> {
        let mut index = [None; COLUMNS.len()];
        let mut errors = None;
        let mut problems = Vec::new();
        for (position, name) in header.iter().enumerate() {
            // A spreadsheet's UTF-8 byte order mark may lead the first name.
            let name = name.trim_start_matches('\u{feff}').trim();
            if name == ERRORS_FIELD {
                errors = Some(position);
                continue;
            }
            match COLUMNS.iter().position(|(column, _)| *column == name) {
                Some(known) if index[known].is_some() => {
                    problems.push(format!("column {name:?} appears twice"));
                }
                Some(known) => index[known] = Some(position),
                None => problems.push(format!("unknown column {name:?}")),
            }
        }
        for (known, (name, required)) in COLUMNS.iter().enumerate() {
            if *required && index[known].is_none() {
                problems.push(format!("the required column {name:?} is missing"));
            }
        }
        if problems.is_empty() {
            Ok(Self {
                index,
                errors,
                width: header.len(),
            })
        } else {
            Err(problems)
        }
    }

    /// The header of the error report: the manifest's columns, then `import_errors`.
    pub fn report_header(&self, header: &StringRecord) -> StringRecord {
        let mut out = self.without_errors(header);
        out.push_field(ERRORS_FIELD);
        out
    }

    /// A row without its `import_errors` field, as it goes back into an error report.
    pub fn without_errors(&self, row: &StringRecord) -> StringRecord {
        row.iter()
            .enumerate()
            .filter(|(position, _)| Some(*position) != self.errors)
            .map(|(_, field)| field)
            .collect()
    }

    fn get<'a>(&self, row: &'a StringRecord, name: &str) -> &'a str {
        let known = COLUMNS
            .iter()
            .position(|(column, _)| *column == name)
            .expect("a known column");
        self.index[known]
            .and_then(|position| row.get(position))
            .unwrap_or("")
            .trim()
    }

    /// Reads a row into a manifest line; every problem of its shape is returned.
    pub fn line(&self, row: &StringRecord) -> Result<Line, Vec<String>> {
        if row.len() != self.width {
            return Err(vec![format!(
                "has {} fields, the header {}",
                row.len(),
                self.width
            )]);
        }
        let get = |name| self.get(row, name).to_owned();
        let optional = |name| {
            Some(self.get(row, name))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let paths = split(self.get(row, "pages"));
        let digests = split(self.get(row, "page_sha256"));
        if !digests.is_empty() && digests.len() != paths.len() {
            return Err(vec![format!(
                "page_sha256: {} digests for {} pages (separate both with {PAGE_SEPARATOR:?}; leave a digest empty to have it computed)",
                digests.len(),
                paths.len()
            )]);
        }
        let pages = paths
            .into_iter()
            .enumerate()
            .map(|(i, path)| PageEntry::Full {
                path,
                sha256: digests.get(i).filter(|d| !d.is_empty()).cloned(),
            })
            .collect();
        let has_customer = COLUMNS
            .iter()
            .filter(|(name, _)| name.starts_with("customer_"))
            .any(|(name, _)| !self.get(row, name).is_empty());
        let customer = has_customer.then(|| CustomerFields {
            display_name: get("customer_display_name"),
            customer_class: get("customer_class"),
            org_unit_code: get("customer_org_unit_code"),
            status: optional("customer_status"),
            open_date: optional("customer_open_date"),
            close_date: optional("customer_close_date"),
            id_number: optional("customer_id_number"),
            phone: optional("customer_phone"),
            address: optional("customer_address"),
        });
        Ok(Line {
            account_number: get("account_number"),
            customer,
            document_type: get("document_type"),
            business_process: get("business_process"),
            work_order: get("work_order"),
            title: get("title"),
            original_date: get("original_date"),
            reference_number: get("reference_number"),
            legacy_system: get("legacy_system"),
            pages,
            _errors: serde_json::Value::Null,
        })
    }
}

/// The parts of a `|`-separated field, trimmed; none for an empty field.
fn split(field: &str) -> Vec<String> {
    if field.is_empty() {
        return Vec::new();
    }
    field
        .split(PAGE_SEPARATOR)
        .map(|part| part.trim().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[&str]) -> StringRecord {
        StringRecord::from(fields.to_vec())
    }

    const HEADER: &[&str] = &[
        "\u{feff}account_number",
        "document_type",
        "business_process",
        "title",
        "original_date",
        "reference_number",
        "legacy_system",
        "pages",
        "page_sha256",
        "customer_display_name",
        "customer_class",
        "customer_org_unit_code",
    ];

    fn columns() -> Columns {
        Columns::from_header(&record(HEADER)).unwrap()
    }

    #[test]
    fn a_row_reads_its_pages_in_order_with_their_digests() {
        let digest = "ab".repeat(32);
        let row = record(&[
            "1201010001",
            "YX-01",
            "new_connection",
            "申请书",
            "2009-05-12",
            "R-1",
            "billing-2009",
            "pages/1.jpg | pages/2.pdf",
            &format!("|{digest}"),
            "",
            "",
            "",
        ]);
        let line = columns().line(&row).unwrap();
        assert_eq!(line.account_number, "1201010001");
        assert!(line.customer.is_none(), "no customer column is filled");
        let pages: Vec<(String, Option<String>)> = line
            .pages
            .into_iter()
            .map(|page| match page {
                PageEntry::Full { path, sha256 } => (path, sha256),
                PageEntry::Path(path) => (path, None),
            })
            .collect();
        assert_eq!(
            pages,
            vec![
                ("pages/1.jpg".to_owned(), None),
                ("pages/2.pdf".to_owned(), Some(digest))
            ]
        );
    }

    #[test]
    fn a_row_with_customer_fields_opens_its_account() {
        let row = record(&[
            "1201010001",
            "YX-01",
            "new_connection",
            "t",
            "2009-05-12",
            "",
            "b",
            "a.jpg",
            "",
            "陈大文",
            "residential",
            "120101",
        ]);
        let customer = columns().line(&row).unwrap().customer.unwrap();
        assert_eq!(customer.display_name, "陈大文");
        assert_eq!(customer.status, None);
    }

    #[test]
    fn a_header_with_an_unknown_or_missing_column_is_refused() {
        let mut header = HEADER.to_vec();
        header[3] = "titel";
        let problems = Columns::from_header(&record(&header)).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("unknown column \"titel\""))
        );
        assert!(problems.iter().any(|p| p.contains("\"title\" is missing")));
    }

    #[test]
    fn more_digests_than_pages_or_a_short_row_are_refused() {
        let row = record(&[
            "1201010001",
            "YX-01",
            "new_connection",
            "t",
            "2009-05-12",
            "",
            "b",
            "a.jpg",
            "x|y",
            "",
            "",
            "",
        ]);
        assert!(columns().line(&row).unwrap_err()[0].starts_with("page_sha256: 2 digests for 1"));
        let short = record(&["1201010001", "YX-01"]);
        assert!(columns().line(&short).unwrap_err()[0].contains("2 fields"));
    }

    #[test]
    fn a_re_fed_error_report_reads_without_its_errors_column() {
        let mut header = HEADER.to_vec();
        header.push(ERRORS_FIELD);
        let columns = Columns::from_header(&record(&header)).unwrap();
        let row = record(&[
            "1201010001",
            "YX-01",
            "new_connection",
            "t",
            "2009-05-12",
            "",
            "b",
            "a.jpg",
            "",
            "",
            "",
            "",
            "line 2: title: too long",
        ]);
        assert!(columns.line(&row).is_ok());
        let again = columns.report_header(&record(&header));
        assert_eq!(again.iter().filter(|f| *f == ERRORS_FIELD).count(), 1);
    }
}
