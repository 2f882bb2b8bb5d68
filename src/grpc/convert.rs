//! Conversions between proto messages and domain types that more than one service uses.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::domain::{
    BusinessProcess, Customer, CustomerClass, CustomerStatus, Document, DocumentName, DocumentView,
    Error, ExpiredDocument, LegacyOrigin, LegacyReference, LegacySystem, PageInfo, PersonalText,
    RenditionKind, RenditionState, RetentionClass, RetentionTrigger, ScanCheck, ScanCheckState,
    customer_name,
};
use crate::proto::v1 as pb;
use tonic::Status;

/// Converts a domain time to a protobuf timestamp.
pub(super) fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// The protobuf Timestamp's range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z: chrono takes
/// far more (and nanos past a second, as leap seconds), PostgreSQL's timestamptz less.
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// Converts an optional protobuf timestamp, rejecting out-of-range values.
pub(super) fn parse_timestamp(
    field: &'static str,
    timestamp: Option<Timestamp>,
) -> Result<Option<DateTime<Utc>>, Error> {
    timestamp
        .map(|t| {
            u32::try_from(t.nanos)
                .ok()
                .filter(|nanos| *nanos < 1_000_000_000 && TIMESTAMP_SECONDS.contains(&t.seconds))
                .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
                .ok_or_else(|| Error::invalid(field, "is not a valid timestamp"))
        })
        .transpose()
}

/// Parses an optional string field: empty means absent.
pub(super) fn optional<T>(
    field: &'static str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, Error> {
    if text.is_empty() {
        Ok(None)
    } else {
        parse(text)
            .map(Some)
            .map_err(|reason| Error::invalid(field, reason))
    }
}

/// Parses a required string field.
pub(super) fn required<T>(
    field: &'static str,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, Error> {
    if text.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    parse(text).map_err(|reason| Error::invalid(field, reason))
}

/// Parses a document view; unset is the full view (AIP-157).
pub(super) fn parse_view(field: &'static str, view: i32) -> Result<DocumentView, Error> {
    match pb::DocumentView::try_from(view) {
        Ok(pb::DocumentView::Basic) => Ok(DocumentView::Basic),
        Ok(pb::DocumentView::Full | pb::DocumentView::Unspecified) => Ok(DocumentView::Full),
        Err(_) => Err(Error::invalid(
            field,
            format!("unknown view {view}: use DOCUMENT_VIEW_BASIC or DOCUMENT_VIEW_FULL"),
        )),
    }
}

/// Parses a business process; `None` when unspecified. Also the CLI's, to name an exported
/// document's process in an import manifest.
pub(crate) fn parse_process(
    field: &'static str,
    value: i32,
) -> Result<Option<BusinessProcess>, Error> {
    use pb::BusinessProcess as P;
    let process = P::try_from(value)
        .map_err(|_| Error::invalid(field, format!("{value} is not a business process")))?;
    Ok(Some(match process {
        P::Unspecified => return Ok(None),
        P::NewConnection => BusinessProcess::NewConnection,
        P::CapacityIncrease => BusinessProcess::CapacityIncrease,
        P::CapacityReduction => BusinessProcess::CapacityReduction,
        P::Transfer => BusinessProcess::Transfer,
        P::Rename => BusinessProcess::Rename,
        P::TariffClassChange => BusinessProcess::TariffClassChange,
        P::Suspension => BusinessProcess::Suspension,
        P::Closure => BusinessProcess::Closure,
        P::Inspection => BusinessProcess::Inspection,
    }))
}

/// Also the CLI's: an import line names its process in the domain's words.
pub(crate) fn process_to_proto(process: BusinessProcess) -> pb::BusinessProcess {
    use pb::BusinessProcess as P;
    match process {
        BusinessProcess::NewConnection => P::NewConnection,
        BusinessProcess::CapacityIncrease => P::CapacityIncrease,
        BusinessProcess::CapacityReduction => P::CapacityReduction,
        BusinessProcess::Transfer => P::Transfer,
        BusinessProcess::Rename => P::Rename,
        BusinessProcess::TariffClassChange => P::TariffClassChange,
        BusinessProcess::Suspension => P::Suspension,
        BusinessProcess::Closure => P::Closure,
        BusinessProcess::Inspection => P::Inspection,
    }
}

pub(super) fn document_to_proto(document: &Document) -> pb::Document {
    let name = document.name();
    pb::Document {
        name: name.to_string(),
        document_id: document.id.to_string(),
        account_number: document.account.to_string(),
        document_type: document.document_type.to_string(),
        business_process: process_to_proto(document.business_process).into(),
        work_order_number: document
            .work_order_number
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        title: document.title.to_string(),
        source_system: document.source_system.to_string(),
        client_request_id: document.client_request_id.to_string(),
        version: document.version as i32,
        pages: document
            .pages
            .iter()
            .map(|page| page_to_proto(&name, page))
            .collect(),
        size_bytes: document.size_bytes as i64,
        page_count: document.page_count as i32,
        file_time: Some(timestamp(document.filed_at)),
        current_version: document.current_version as i32,
        customer_revision: document.customer_revision as i32,
        version_create_time: Some(timestamp(document.version_created_at)),
        destroy_time: document
            .destruction
            .as_ref()
            .map(|d| timestamp(d.destroyed_at)),
        destruction_list: document
            .destruction
            .as_ref()
            .map(|d| d.list.to_string())
            .unwrap_or_default(),
        original_time: Some(timestamp(document.original_at)),
        legacy_origin: document
            .legacy_system
            .as_ref()
            .map(|system| pb::LegacyOrigin {
                original_time: Some(timestamp(document.original_at)),
                reference_number: document
                    .legacy_reference
                    .as_ref()
                    .map(|reference| reference.as_str().to_owned())
                    .unwrap_or_default(),
                legacy_system: system.as_str().to_owned(),
            }),
    }
}

/// Parses a filing's `legacy_origin`: the original date is required, the reference optional.
pub(super) fn parse_legacy_origin(
    origin: Option<pb::LegacyOrigin>,
) -> Result<Option<LegacyOrigin>, Error> {
    let Some(origin) = origin else {
        return Ok(None);
    };
    Ok(Some(LegacyOrigin {
        original_at: parse_timestamp("header.legacy_origin.original_time", origin.original_time)?
            .ok_or_else(|| {
            Error::invalid(
                "header.legacy_origin.original_time",
                "is required: the date the record was formed or first filed in its source",
            )
        })?,
        reference: optional(
            "header.legacy_origin.reference_number",
            &origin.reference_number,
            LegacyReference::parse,
        )?,
        system: required(
            "header.legacy_origin.legacy_system",
            &origin.legacy_system,
            LegacySystem::parse,
        )?,
    }))
}

pub(super) fn page_to_proto(document: &DocumentName, page: &PageInfo) -> pb::Page {
    pb::Page {
        name: format!("{document}/pages/{}", page.number),
        page_number: page.number as i32,
        media_type: page.media_type.as_mime().to_owned(),
        size_bytes: page.size_bytes as i64,
        sha256: page.sha256.to_hex(),
        rendition_state: match page.rendition {
            RenditionState::NotQueued => pb::RenditionState::Unspecified,
            RenditionState::Pending => pb::RenditionState::Pending,
            RenditionState::Ready => pb::RenditionState::Ready,
            RenditionState::Failed(_) => pb::RenditionState::Failed,
            RenditionState::Skipped(_) => pb::RenditionState::Skipped,
        }
        .into(),
        rendition_failure: match &page.rendition {
            RenditionState::Failed(reason) | RenditionState::Skipped(reason) => reason.clone(),
            _ => String::new(),
        },
        scan_check: Some(scan_check_to_proto(&page.scan)),
    }
}

fn scan_check_to_proto(check: &ScanCheck) -> pb::ScanCheck {
    pb::ScanCheck {
        state: match check.state() {
            ScanCheckState::NotChecked => pb::ScanCheckState::Unspecified,
            ScanCheckState::Passed => pb::ScanCheckState::Passed,
            ScanCheckState::Warnings => pb::ScanCheckState::Warnings,
        }
        .into(),
        reasons: check.reasons(),
        blank_checked: check.blank.is_some(),
    }
}

/// The rendition a ReadPage asks for; `None` for the original.
pub(super) fn parse_rendition(
    field: &'static str,
    value: i32,
) -> Result<Option<RenditionKind>, Status> {
    match pb::Rendition::try_from(value) {
        Ok(pb::Rendition::Original) => Ok(None),
        Ok(pb::Rendition::Thumbnail) => Ok(Some(RenditionKind::Thumbnail)),
        Ok(pb::Rendition::Preview) => Ok(Some(RenditionKind::Preview)),
        Err(_) => Err(Error::invalid(
            field,
            format!("{value} is not a rendition (0 original, 1 thumbnail, 2 preview)"),
        )
        .into()),
    }
}

pub(super) fn customer_to_proto(customer: &Customer) -> pb::Customer {
    pb::Customer {
        name: customer_name(&customer.account_number),
        account_number: customer.account_number.to_string(),
        display_name: customer.display_name.as_str().to_owned(),
        customer_class: match customer.customer_class {
            CustomerClass::Residential => pb::CustomerClass::Residential,
            CustomerClass::NonResidential => pb::CustomerClass::NonResidential,
        }
        .into(),
        org_unit_code: customer.org_unit_code.as_str().to_owned(),
        status: match customer.status {
            CustomerStatus::Active => pb::CustomerStatus::Active,
            CustomerStatus::Closed => pb::CustomerStatus::Closed,
        }
        .into(),
        id_number: personal_text(&customer.id_number),
        phone: personal_text(&customer.phone),
        address: personal_text(&customer.address),
        create_time: Some(timestamp(customer.create_time)),
        update_time: Some(timestamp(customer.update_time)),
        revision: customer.revision as i32,
        open_time: Some(timestamp(customer.opened_at)),
        close_time: customer.closed_at.map(timestamp),
    }
}

fn personal_text(value: &Option<PersonalText>) -> String {
    value
        .as_ref()
        .map(|text| text.as_str().to_owned())
        .unwrap_or_default()
}

/// Parses an optional version: 0 means the current one.
pub(super) fn parse_version(field: &'static str, value: i32) -> Result<Option<u32>, Error> {
    match value {
        0 => Ok(None),
        n if n < 0 => Err(Error::invalid(
            field,
            format!("must be a version number (1 or more) or 0 for the current one, got {n}"),
        )),
        n => Ok(Some(n as u32)),
    }
}

pub(super) fn retention_class(class: RetentionClass) -> pb::RetentionClass {
    match class {
        RetentionClass::Permanent => pb::RetentionClass::Permanent,
        RetentionClass::ThirtyYears => pb::RetentionClass::ThirtyYears,
        RetentionClass::TenYears => pb::RetentionClass::TenYears,
    }
}

pub(super) fn retention_trigger(trigger: RetentionTrigger) -> pb::RetentionTrigger {
    match trigger {
        RetentionTrigger::Filing => pb::RetentionTrigger::Filing,
        RetentionTrigger::AccountClosure => pb::RetentionTrigger::AccountClosure,
    }
}

pub(super) fn expired_to_proto(document: &ExpiredDocument) -> pb::ExpiredDocument {
    pb::ExpiredDocument {
        document: document.name.to_string(),
        account_number: document.name.account.to_string(),
        document_type: document.document_type.to_string(),
        title: document.title.to_string(),
        retention_class: retention_class(document.rule.class).into(),
        trigger: retention_trigger(document.rule.trigger).into(),
        file_time: Some(timestamp(document.original_at)),
        expire_time: Some(timestamp(document.expire_time)),
        page_count: document.page_count as i32,
    }
}

/// Parses a customer class; `None` when unspecified.
pub(super) fn parse_class(field: &'static str, value: i32) -> Result<Option<CustomerClass>, Error> {
    match pb::CustomerClass::try_from(value) {
        Ok(pb::CustomerClass::Unspecified) => Ok(None),
        Ok(pb::CustomerClass::Residential) => Ok(Some(CustomerClass::Residential)),
        Ok(pb::CustomerClass::NonResidential) => Ok(Some(CustomerClass::NonResidential)),
        Err(_) => Err(Error::invalid(
            field,
            format!("{value} is not a customer class"),
        )),
    }
}

/// Parses a customer status; `None` when unspecified.
pub(super) fn parse_status(
    field: &'static str,
    value: i32,
) -> Result<Option<CustomerStatus>, Error> {
    match pb::CustomerStatus::try_from(value) {
        Ok(pb::CustomerStatus::Unspecified) => Ok(None),
        Ok(pb::CustomerStatus::Active) => Ok(Some(CustomerStatus::Active)),
        Ok(pb::CustomerStatus::Closed) => Ok(Some(CustomerStatus::Closed)),
        Err(_) => Err(Error::invalid(
            field,
            format!("{value} is not a customer status"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_round_trips_to_the_nanosecond() {
        let now = Utc::now();
        assert_eq!(
            parse_timestamp("t", Some(timestamp(now))).unwrap(),
            Some(now)
        );
    }

    #[test]
    fn a_timestamp_with_negative_nanos_is_rejected() {
        let bad = Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(parse_timestamp("t", Some(bad)).is_err());
    }

    #[test]
    fn an_empty_required_field_is_reported_as_required() {
        let error = required("title", "", |t| Ok::<_, String>(t.to_owned())).unwrap_err();
        assert_eq!(error.to_string(), "title: is required");
    }
}
