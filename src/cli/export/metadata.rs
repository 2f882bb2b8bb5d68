//! The bag's metadata files: each account's `customer.json` and each document's
//! `metadata.json`, every field of the messages in readable words.

use serde_json::{Value, json};

use crate::proto::v1 as pb;

/// A tag value on one line: BagIt continues longer values on indented lines, which some
/// readers mishandle, so line breaks become spaces.
pub fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

pub fn extension(media_type: &str) -> &'static str {
    match media_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/tiff" => "tif",
        "application/pdf" => "pdf",
        _ => "bin",
    }
}

pub fn time_json(time: &Option<prost_types::Timestamp>) -> Value {
    time.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
        .map_or(Value::Null, |t| Value::from(t.to_rfc3339()))
}

pub fn process_name(process: i32) -> &'static str {
    pb::BusinessProcess::try_from(process).map_or("?", |p| p.as_str_name())
}

pub fn customer_json(customer: &pb::Customer) -> Value {
    json!({
        "name": customer.name,
        "account_number": customer.account_number,
        "display_name": customer.display_name,
        "customer_class": pb::CustomerClass::try_from(customer.customer_class).map_or("?", |c| c.as_str_name()),
        "org_unit_code": customer.org_unit_code,
        "status": pb::CustomerStatus::try_from(customer.status).map_or("?", |s| s.as_str_name()),
        "id_number": customer.id_number,
        "phone": customer.phone,
        "address": customer.address,
        "create_time": time_json(&customer.create_time),
        "update_time": time_json(&customer.update_time),
        "revision": customer.revision,
        "open_time": time_json(&customer.open_time),
        "close_time": time_json(&customer.close_time),
    })
}

pub fn retention_json(retention: &pb::Retention) -> Value {
    json!({
        "retention_class": pb::RetentionClass::try_from(retention.retention_class).map_or("?", |c| c.as_str_name()),
        "trigger": pb::RetentionTrigger::try_from(retention.trigger).map_or("?", |t| t.as_str_name()),
        "start_time": time_json(&retention.start_time),
        "expire_time": time_json(&retention.expire_time),
        "expired": retention.expired,
    })
}

/// Every field of the Document message, its versions (who filed and corrected it) and its
/// retention.
pub fn document_json(
    document: &pb::Document,
    pages: Vec<Value>,
    versions: &[pb::DocumentVersion],
    retention: Value,
) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "document_type": v.document_type,
                "business_process": process_name(v.business_process),
                "work_order_number": v.work_order_number,
                "title": v.title,
                "page_count": v.page_count,
                "size_bytes": v.size_bytes,
                "create_time": time_json(&v.create_time),
                "author_system": v.author_system,
                "author_person": v.author_person,
                "reason": v.reason,
            })
        })
        .collect();
    json!({
        "name": document.name,
        "document_id": document.document_id,
        "account_number": document.account_number,
        "document_type": document.document_type,
        "business_process": process_name(document.business_process),
        "work_order_number": document.work_order_number,
        "title": document.title,
        "source_system": document.source_system,
        "client_request_id": document.client_request_id,
        "version": document.version,
        "current_version": document.current_version,
        "customer_revision": document.customer_revision,
        "size_bytes": document.size_bytes,
        "file_time": time_json(&document.file_time),
        "version_create_time": time_json(&document.version_create_time),
        "destroy_time": time_json(&document.destroy_time),
        "destruction_list": document.destruction_list,
        "original_time": time_json(&document.original_time),
        "legacy_origin": document.legacy_origin.as_ref().map_or(Value::Null, |origin| json!({
            "original_time": time_json(&origin.original_time),
            "reference_number": origin.reference_number,
            "legacy_system": origin.legacy_system,
        })),
        "pages": pages,
        "versions": versions,
        "retention": retention,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_files_are_named_by_media_type() {
        assert_eq!(extension("image/jpeg"), "jpg");
        assert_eq!(extension("image/tiff"), "tif");
        assert_eq!(extension("application/pdf"), "pdf");
    }

    #[test]
    fn a_tag_value_keeps_to_one_line() {
        assert_eq!(one_line("a\nb\r\nc"), "a b  c");
    }
}
