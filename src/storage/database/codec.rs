//! The one mapping between each column's stored form and its domain value; every query module
//! decodes and encodes its columns here.

use crate::domain::{Confidentiality, WorkOrderNumber};
use crate::storage::StorageError;

/// Converts a column's text into a domain value, or reports the corrupt row.
pub(super) fn decode<T>(
    column: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StorageError> {
    parse(value).ok_or_else(|| {
        StorageError::Unexpected(anyhow::anyhow!(
            "column {column} holds an unknown value {value:?}"
        ))
    })
}

/// Like [`decode`] for the domain's `parse` functions that explain their refusal.
pub(super) fn parse_column<T>(
    column: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, StorageError> {
    parse(value).map_err(|reason| {
        StorageError::Unexpected(anyhow::anyhow!(
            "column {column} holds an invalid value: {reason}"
        ))
    })
}

/// Converts a stored confidentiality level.
pub(super) fn decode_confidentiality(level: i16) -> Result<Confidentiality, StorageError> {
    Confidentiality::from_level(level).ok_or_else(|| {
        StorageError::Unexpected(anyhow::anyhow!("unknown confidentiality level {level}"))
    })
}

/// A version or revision number, which the schema keeps positive.
pub(super) fn number(column: &str, value: i32) -> Result<u32, StorageError> {
    u32::try_from(value)
        .map_err(|_| StorageError::Unexpected(anyhow::anyhow!("column {column} holds {value}")))
}

/// A version's work order: stored as '' when there is none.
pub(super) fn work_order(text: &str) -> Result<Option<WorkOrderNumber>, StorageError> {
    match text {
        "" => Ok(None),
        text => parse_column("work_order_number", text, WorkOrderNumber::parse).map(Some),
    }
}

/// The stored form of a version's work order: '' when there is none.
pub(super) fn work_order_text(work_order: Option<&WorkOrderNumber>) -> &str {
    work_order.map_or("", WorkOrderNumber::as_str)
}
