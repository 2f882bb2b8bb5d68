//! The import manifest: one JSON object per line, one document each (README, "Bringing in
//! existing archives"). A line is checked whole — every problem, not the first — and becomes
//! the calls that file it, with a request id derived from its identity.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use prost_types::Timestamp;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::customer_fields::customer;
use crate::domain::{
    AccountNumber, BusinessProcess, LegacyReference, LegacySystem, MediaType, Sha256Digest, Title,
    WorkOrderNumber,
};
use crate::grpc::convert::process_to_proto;
use crate::proto::v1 as pb;

/// The field of a re-fed error line that carries its problems; ignored when read back.
pub const ERRORS_FIELD: &str = "import_errors";

/// One line of the manifest as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Line {
    pub(super) account_number: String,
    /// The account's fields, for accounts not yet in Custodian.
    #[serde(default)]
    pub(super) customer: Option<CustomerFields>,
    /// A catalog code, or a legacy code of the type map.
    pub(super) document_type: String,
    pub(super) business_process: String,
    #[serde(default)]
    pub(super) work_order: String,
    pub(super) title: String,
    /// `YYYY-MM-DD` (midnight, China Standard Time) or RFC 3339.
    pub(super) original_date: String,
    #[serde(default)]
    pub(super) reference_number: String,
    pub(super) legacy_system: String,
    pub(super) pages: Vec<PageEntry>,
    #[serde(default, rename = "import_errors")]
    pub(super) _errors: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CustomerFields {
    pub(super) display_name: String,
    pub(super) customer_class: String,
    pub(super) org_unit_code: String,
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) open_date: Option<String>,
    #[serde(default)]
    pub(super) close_date: Option<String>,
    #[serde(default)]
    pub(super) id_number: Option<String>,
    #[serde(default)]
    pub(super) phone: Option<String>,
    #[serde(default)]
    pub(super) address: Option<String>,
}

/// A page: its path relative to the manifest, or that and its SHA-256.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum PageEntry {
    Path(String),
    Full {
        path: String,
        #[serde(default)]
        sha256: Option<String>,
    },
}

/// A page file ready to send.
#[derive(Debug, Clone)]
pub struct PageFile {
    pub path: PathBuf,
    pub sha256: Option<Sha256Digest>,
    pub size: u64,
}

/// A checked line: what to call to file it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub account: String,
    pub customer: Option<pb::Customer>,
    pub header: pb::FilingHeader,
    pub pages: Vec<PageFile>,
    /// The line's identity: duplicates share it, and the request id is made from it.
    pub identity: [u8; 32],
}

impl Prepared {
    pub fn bytes(&self) -> u64 {
        self.pages.iter().map(|page| page.size).sum()
    }
}

/// Legacy type codes mapped to the catalog, e.g. `{"YX-01": "application-form"}`.
#[derive(Debug, Default, Clone)]
pub struct TypeMap(HashMap<String, String>);

impl TypeMap {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", path.display()))?;
        let map: HashMap<String, String> = serde_json::from_str(&text).map_err(|error| {
            anyhow::anyhow!("{} is not a JSON object of codes: {error}", path.display())
        })?;
        Ok(Self(map))
    }

    fn resolve<'a>(&'a self, code: &'a str) -> &'a str {
        self.0.get(code).map_or(code, String::as_str)
    }
}

/// What a line is checked against: the manifest's folder, the type map, the catalog.
pub struct Checker {
    pub base: PathBuf,
    pub types: TypeMap,
    pub catalog: Vec<String>,
}

impl Checker {
    /// Checks one line, reading the first bytes of each page; every problem is returned.
    #[cfg(test)]
    pub fn check(&self, text: &str) -> Result<Prepared, Vec<String>> {
        self.check_line(parse_json_line(text)?)
    }

    /// Checks one line as read from either format.
    pub fn check_line(&self, line: Line) -> Result<Prepared, Vec<String>> {
        let mut problems = Vec::new();
        let mut note = |field: &str, reason: String| problems.push(format!("{field}: {reason}"));

        if let Err(reason) = AccountNumber::parse(&line.account_number) {
            note("account_number", reason);
        }
        let document_type = self.types.resolve(&line.document_type).to_owned();
        if !self.catalog.contains(&document_type) {
            note(
                "document_type",
                format!(
                    "{:?} is neither a catalog code nor a legacy code of the type map",
                    line.document_type
                ),
            );
        }
        let process = BusinessProcess::from_code(&line.business_process);
        if process.is_none() {
            note(
                "business_process",
                format!(
                    "{:?} is not one of new_connection, capacity_increase, capacity_reduction, transfer, rename, tariff_class_change, suspension, closure, inspection",
                    line.business_process
                ),
            );
        }
        if !line.work_order.is_empty()
            && let Err(reason) = WorkOrderNumber::parse(&line.work_order)
        {
            note("work_order", reason);
        }
        if let Err(reason) = Title::parse(&line.title) {
            note("title", reason);
        }
        let original = parse_date(&line.original_date);
        match &original {
            Err(reason) => note("original_date", reason.clone()),
            Ok(time) if *time > Utc::now() => note("original_date", "is in the future".into()),
            Ok(_) => {}
        }
        if !line.reference_number.is_empty()
            && let Err(reason) = LegacyReference::parse(&line.reference_number)
        {
            note("reference_number", reason);
        }
        if let Err(reason) = LegacySystem::parse(&line.legacy_system) {
            note("legacy_system", reason);
        }
        let customer = line
            .customer
            .as_ref()
            .map(|fields| customer(&line.account_number, fields, &mut note));
        if line.pages.is_empty() {
            note("pages", "a document needs at least one page".into());
        }
        let mut pages = Vec::with_capacity(line.pages.len());
        for (index, entry) in line.pages.iter().enumerate() {
            match self.page(entry) {
                Ok(page) => pages.push(page),
                Err(reason) => note(&format!("pages[{index}]"), reason),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let original = original.expect("checked above");
        let identity = identity(&line, &document_type, &pages);
        Ok(Prepared {
            account: line.account_number.clone(),
            customer,
            header: pb::FilingHeader {
                parent: format!("customers/{}", line.account_number),
                document_type,
                business_process: process_to_proto(process.expect("checked above")).into(),
                work_order_number: line.work_order,
                title: line.title,
                source_system: String::new(),
                client_request_id: request_id(&identity),
                legacy_origin: Some(pb::LegacyOrigin {
                    original_time: Some(timestamp(original)),
                    reference_number: line.reference_number,
                    legacy_system: line.legacy_system,
                }),
                paper_location: None,
            },
            pages,
            identity,
        })
    }

    fn page(&self, entry: &PageEntry) -> Result<PageFile, String> {
        let (path, sha256) = match entry {
            PageEntry::Path(path) => (path, None),
            PageEntry::Full { path, sha256 } => (path, sha256.as_deref()),
        };
        let sha256 = sha256.map(Sha256Digest::parse_hex).transpose()?;
        let full = self.base.join(path);
        let mut file =
            std::fs::File::open(&full).map_err(|error| format!("cannot open {path:?}: {error}"))?;
        let size = file
            .metadata()
            .map_err(|error| format!("cannot read {path:?}: {error}"))?
            .len();
        if size == 0 {
            return Err(format!("{path:?} is empty"));
        }
        let mut head = Vec::with_capacity(MediaType::SNIFF_LEN);
        (&mut file)
            .take(MediaType::SNIFF_LEN as u64)
            .read_to_end(&mut head)
            .map_err(|error| format!("cannot read {path:?}: {error}"))?;
        if MediaType::sniff(&head).is_none() {
            return Err(format!(
                "{path:?} is not JPEG, PNG, TIFF or PDF by its content"
            ));
        }
        Ok(PageFile {
            path: full,
            sha256,
            size,
        })
    }
}

/// Reads a JSON Lines manifest line.
pub(super) fn parse_json_line(text: &str) -> Result<Line, Vec<String>> {
    serde_json::from_str(text).map_err(|error| vec![format!("not a manifest line: {error}")])
}

/// `YYYY-MM-DD` is midnight in China Standard Time (UTC+8), where the legacy archives were
/// kept; anything with a time must be RFC 3339.
pub fn parse_date(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let china = chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset");
        return china
            .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
            .single()
            .map(|time| time.with_timezone(&Utc))
            .ok_or_else(|| format!("{text:?} is not a date"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| format!("{text:?} is neither YYYY-MM-DD nor RFC 3339"))
}

/// A line's identity: its legacy reference number within its source when it has one (the
/// source's own key for the record), else everything that says which document it is.
fn identity(line: &Line, document_type: &str, pages: &[PageFile]) -> [u8; 32] {
    let mut hash = Sha256::new();
    let mut field = |text: &str| {
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    };
    field(&line.legacy_system);
    if line.reference_number.is_empty() {
        field("content");
        for text in [
            &line.account_number,
            document_type,
            &line.business_process,
            &line.work_order,
            &line.title,
            &line.original_date,
        ] {
            field(text);
        }
        for page in pages {
            field(&page.path.to_string_lossy());
        }
    } else {
        field("reference");
        field(&line.reference_number);
    }
    hash.finalize().into()
}

/// The request id of a line: the same line gets the same id on every run, so a rerun is
/// answered with what an earlier run filed.
pub fn request_id(identity: &[u8; 32]) -> String {
    format!("import-{}", hex::encode(&identity[..16]))
}

pub(super) fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker() -> (tempfile::TempDir, Checker) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jpg"), b"\xFF\xD8\xFF\xE0rest of a jpeg").unwrap();
        std::fs::write(dir.path().join("note.txt"), b"not an image").unwrap();
        let types = TypeMap(HashMap::from([(
            "YX-01".to_owned(),
            "application-form".to_owned(),
        )]));
        let checker = Checker {
            base: dir.path().to_owned(),
            types,
            catalog: vec!["application-form".into(), "identity-proof".into()],
        };
        (dir, checker)
    }

    const GOOD: &str = r#"{"account_number":"1201010001","document_type":"YX-01","business_process":"new_connection","title":"居民新装用电申请书","original_date":"2009-05-12","reference_number":"2009-YX-0001","legacy_system":"billing-2009","pages":["a.jpg"]}"#;

    #[test]
    fn a_good_line_maps_its_legacy_type_and_keeps_its_original_date() {
        let (_dir, checker) = checker();
        let prepared = checker.check(GOOD).unwrap();
        assert_eq!(prepared.header.document_type, "application-form");
        let origin = prepared.header.legacy_origin.unwrap();
        // Midnight in Beijing is 16:00 UTC the day before.
        assert_eq!(
            origin.original_time.unwrap().seconds,
            parse_date("2009-05-11T16:00:00Z").unwrap().timestamp()
        );
        assert_eq!(origin.reference_number, "2009-YX-0001");
    }

    #[test]
    fn the_same_line_gets_the_same_request_id_on_every_run() {
        let (_dir, checker) = checker();
        let first = checker.check(GOOD).unwrap();
        let again = checker.check(GOOD).unwrap();
        assert_eq!(
            first.header.client_request_id,
            again.header.client_request_id
        );
        let other = GOOD.replace("2009-YX-0001", "2009-YX-0002");
        assert_ne!(
            checker.check(&other).unwrap().header.client_request_id,
            first.header.client_request_id
        );
    }

    #[test]
    fn every_problem_of_a_line_is_reported_with_its_field() {
        let (_dir, checker) = checker();
        let bad = r#"{"account_number":"12ab","document_type":"XX","business_process":"moving","title":"t","original_date":"12/05/2009","legacy_system":"billing","pages":["missing.jpg","note.txt"]}"#;
        let problems = checker.check(bad).unwrap_err();
        for field in [
            "account_number",
            "document_type",
            "business_process",
            "original_date",
            "pages[0]",
            "pages[1]",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(field)),
                "{field} missing from {problems:?}"
            );
        }
    }

    #[test]
    fn a_line_that_is_not_json_or_has_unknown_fields_is_refused() {
        let (_dir, checker) = checker();
        assert!(checker.check("{not json").is_err());
        let extra = GOOD.replace("\"title\"", "\"colour\":\"red\",\"title\"");
        assert!(checker.check(&extra).is_err());
    }

    #[test]
    fn a_re_fed_error_line_is_read_without_its_errors() {
        let (_dir, checker) = checker();
        let refed = GOOD.replace("{", r#"{"import_errors":["line 3: title: too long"],"#);
        assert!(checker.check(&refed).is_ok());
    }

    #[test]
    fn customer_fields_take_legacy_ids_and_phones_and_refuse_bad_ones() {
        let (_dir, checker) = checker();
        let with_customer = GOOD.replace(
            "\"document_type\"",
            r#""customer":{"display_name":"陈大文","customer_class":"residential","org_unit_code":"120101","status":"closed","open_date":"1998-01-01","close_date":"2012-06-30","id_number":"H1234567(8)","phone":"022-23456789 转 123"},"document_type""#,
        );
        let customer = checker.check(&with_customer).unwrap().customer.unwrap();
        assert_eq!(customer.id_number, "H1234567(8)");
        assert_eq!(customer.status, pb::CustomerStatus::Closed as i32);
        assert!(customer.close_time.is_some());
        let bad = with_customer.replace("H1234567(8)", "H1234567[8]");
        let problems = checker.check(&bad).unwrap_err();
        assert!(
            problems[0].starts_with("customer.id_number"),
            "{problems:?}"
        );
    }
}
