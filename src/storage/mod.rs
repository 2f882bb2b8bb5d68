//! Adapters to the two stores: PostgreSQL for metadata, an object store for page bytes.
//!
//! Their interfaces speak domain types; sqlx and object_store types stay in here.

mod audit_chain;
mod audit_checkpoints;
mod audit_log;
mod database;
mod error;
mod object_store_config;
mod page_store;

pub use audit_checkpoints::AuditCheckpoints;
pub use audit_log::AuditLog;
pub use database::{
    Database, FixityFailure, NewDocument, NewVersion, StatementTimeouts, VersionInsert,
};
pub use error::StorageError;
pub use object_store_config::{
    LocalSettings, ObjectStoreKind, ObjectStoreSettings, PayloadSigning, PresignedLinks,
    S3Settings, open_object_store, open_page_store,
};
pub use page_store::{PART_SIZE, PageStore, PageUpload};
