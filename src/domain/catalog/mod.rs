//! The classification catalog (档案类别): document types, each with its retention class and
//! trigger, confidentiality and personal-data flags.

pub(super) mod document_types;

pub use document_types::{DocumentType, DocumentTypeCode, RetentionClass, RetentionTrigger};
