//! The import manifest a bag carries as a tag file, `custodian-import.jsonl`: one line per
//! exported document in the format `custodian import` reads (README, "Bringing in existing
//! archives"), its page paths relative to the bag's base directory. So
//! `custodian import BAG/custodian-import.jsonl` files the set into another Custodian with its
//! customers, types, original dates, legacy origins and page digests.

use std::path::Path;

use anyhow::Context as _;
use serde_json::{Map, Value, json};
use tokio::fs::File;
use tokio::io::{AsyncWriteExt as _, BufWriter};

use super::metadata::time_json;
use crate::grpc::convert::parse_process;
use crate::proto::v1 as pb;

/// The tag file's name in the bag's base directory.
pub const FILE_NAME: &str = "custodian-import.jsonl";

/// The legacy system a re-import names for documents filed natively in the exporting
/// Custodian; their legacy reference is their resource name there.
pub const NATIVE_SYSTEM: &str = "custodian";

/// Why a bag carries no import manifest, when it does not.
pub fn withheld_because(started: &pb::ExportStarted) -> Option<&'static str> {
    if !started.pages_readable {
        Some("metadata only: the exporting role may not read pages")
    } else if started.personal_data_masked {
        Some("personal data masked for the exporting role")
    } else {
        None
    }
}

/// The manifest being written, one line per document as the export streams.
pub struct ImportManifest {
    file: BufWriter<File>,
    /// The account of the documents that follow, and its fields until its first line took them.
    account: String,
    customer: Option<Value>,
}

impl ImportManifest {
    pub async fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .await
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self {
            file: BufWriter::new(file),
            account: String::new(),
            customer: None,
        })
    }

    /// Remembers an account: its first document's line opens it in the importing Custodian.
    pub fn customer(&mut self, customer: &pb::Customer) {
        self.account = customer.account_number.clone();
        self.customer = Some(customer_fields(customer));
    }

    /// Adds a document, its pages as written into the bag (path relative to the base
    /// directory, SHA-256).
    pub async fn document(
        &mut self,
        document: &pb::Document,
        pages: &[(String, String)],
    ) -> anyhow::Result<()> {
        let customer = if document.account_number == self.account {
            self.customer.take()
        } else {
            None
        };
        let line = document_line(document, customer, pages)?;
        self.file.write_all(format!("{line}\n").as_bytes()).await?;
        Ok(())
    }

    pub async fn finish(mut self) -> anyhow::Result<()> {
        self.file.flush().await?;
        self.file.into_inner().sync_all().await?;
        Ok(())
    }
}

/// The manifest's `customer` object: what CreateCustomer needs to open the account as it is,
/// with its opening and closing dates.
fn customer_fields(customer: &pb::Customer) -> Value {
    let mut fields = Map::new();
    fields.insert("display_name".into(), customer.display_name.clone().into());
    let class = match pb::CustomerClass::try_from(customer.customer_class) {
        Ok(pb::CustomerClass::NonResidential) => "non_residential",
        _ => "residential",
    };
    fields.insert("customer_class".into(), class.into());
    fields.insert(
        "org_unit_code".into(),
        customer.org_unit_code.clone().into(),
    );
    let closed = customer.status == pb::CustomerStatus::Closed as i32;
    fields.insert(
        "status".into(),
        if closed { "closed" } else { "active" }.into(),
    );
    let open = time_json(&customer.open_time);
    if !open.is_null() {
        fields.insert("open_date".into(), open);
    }
    let close = time_json(&customer.close_time);
    if closed && !close.is_null() {
        fields.insert("close_date".into(), close);
    }
    for (key, value) in [
        ("id_number", &customer.id_number),
        ("phone", &customer.phone),
        ("address", &customer.address),
    ] {
        if !value.is_empty() {
            fields.insert(key.into(), value.clone().into());
        }
    }
    Value::Object(fields)
}

/// One manifest line. A document imported into the exporting Custodian keeps its legacy
/// origin; one filed there natively gets that Custodian as its origin (its resource name as the
/// reference), so a second import of the same bag is recognised as a rerun.
fn document_line(
    document: &pb::Document,
    customer: Option<Value>,
    pages: &[(String, String)],
) -> anyhow::Result<Value> {
    let process = parse_process("business_process", document.business_process)
        .ok()
        .flatten()
        .with_context(|| format!("{} has no business process", document.name))?;
    let (original, reference, system) = match &document.legacy_origin {
        Some(origin) => (
            time_json(&origin.original_time),
            origin.reference_number.clone(),
            origin.legacy_system.clone(),
        ),
        None => (
            time_json(&document.original_time),
            document.name.clone(),
            NATIVE_SYSTEM.to_owned(),
        ),
    };
    let original = if original.is_null() {
        time_json(&document.file_time)
    } else {
        original
    };
    let mut line = Map::new();
    line.insert(
        "account_number".into(),
        document.account_number.clone().into(),
    );
    if let Some(customer) = customer {
        line.insert("customer".into(), customer);
    }
    line.insert(
        "document_type".into(),
        document.document_type.clone().into(),
    );
    line.insert("business_process".into(), process.code().into());
    if !document.work_order_number.is_empty() {
        line.insert(
            "work_order".into(),
            document.work_order_number.clone().into(),
        );
    }
    line.insert("title".into(), document.title.clone().into());
    line.insert("original_date".into(), original);
    if !reference.is_empty() {
        line.insert("reference_number".into(), reference.into());
    }
    line.insert("legacy_system".into(), system.into());
    let pages: Vec<Value> = pages
        .iter()
        .map(|(path, sha256)| json!({ "path": path, "sha256": sha256 }))
        .collect();
    line.insert("pages".into(), pages.into());
    Ok(Value::Object(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos })
    }

    fn native() -> pb::Document {
        pb::Document {
            name: "customers/1201000001/documents/0190a5b2-0000-7000-8000-000000000001".into(),
            account_number: "1201000001".into(),
            document_type: "application-form".into(),
            business_process: pb::BusinessProcess::CapacityIncrease.into(),
            title: "增容申请".into(),
            original_time: time(1_700_000_000, 123_456_000),
            file_time: time(1_700_000_000, 123_456_000),
            ..Default::default()
        }
    }

    #[test]
    fn a_native_document_names_the_exporting_custodian_as_its_origin() {
        let pages = [("data/1201000001/x/1.jpg".to_owned(), "ab".repeat(32))];
        let line = document_line(&native(), None, &pages).unwrap();
        assert_eq!(line["legacy_system"], NATIVE_SYSTEM);
        assert_eq!(line["reference_number"], native().name);
        assert_eq!(line["business_process"], "capacity_increase");
        // Microseconds survive: the re-import keeps the very same original time.
        assert_eq!(line["original_date"], "2023-11-14T22:13:20.123456+00:00");
        assert_eq!(line["pages"][0]["path"], "data/1201000001/x/1.jpg");
        assert!(line.get("work_order").is_none() && line.get("customer").is_none());
    }

    #[test]
    fn an_imported_document_keeps_its_legacy_origin() {
        let document = pb::Document {
            legacy_origin: Some(pb::LegacyOrigin {
                original_time: time(946_656_000, 0),
                reference_number: "1999-YX-0001".into(),
                legacy_system: "billing-2009".into(),
            }),
            ..native()
        };
        let line = document_line(&document, None, &[]).unwrap();
        assert_eq!(line["legacy_system"], "billing-2009");
        assert_eq!(line["reference_number"], "1999-YX-0001");
        assert_eq!(line["original_date"], "1999-12-31T16:00:00+00:00");
    }

    #[test]
    fn the_first_line_of_an_account_carries_its_customer_with_its_dates() {
        let customer = pb::Customer {
            account_number: "1201000001".into(),
            display_name: "李建国".into(),
            customer_class: pb::CustomerClass::Residential.into(),
            org_unit_code: "120101".into(),
            status: pb::CustomerStatus::Closed.into(),
            id_number: "H1234567(8)".into(),
            open_time: time(946_656_000, 0),
            close_time: time(1_300_000_000, 0),
            ..Default::default()
        };
        let fields = customer_fields(&customer);
        assert_eq!(fields["status"], "closed");
        assert_eq!(fields["close_date"], "2011-03-13T07:06:40+00:00");
        assert_eq!(fields["id_number"], "H1234567(8)");
        assert!(fields.get("phone").is_none(), "empty fields are left out");
    }

    #[test]
    fn a_masked_or_metadata_only_export_carries_no_import_manifest() {
        let started = pb::ExportStarted {
            pages_readable: true,
            ..Default::default()
        };
        assert_eq!(withheld_because(&started), None);
        let masked = pb::ExportStarted {
            personal_data_masked: true,
            ..started.clone()
        };
        assert!(withheld_because(&masked).is_some());
        let no_pages = pb::ExportStarted {
            pages_readable: false,
            ..started
        };
        assert!(withheld_because(&no_pages).is_some());
    }
}
