//! The archive's things and rules: customers, documents, pages and the type catalog.
//!
//! Types here are parsed at the edge and valid by construction. Use cases are methods of
//! [`Archive`], which reaches PostgreSQL and the object store only through `storage`, whose
//! interface speaks these types.

mod customers;
mod document_types;
mod documents;
mod error;
mod filing;
mod names;
mod pages;
mod paging;

pub use customers::{
    AccountNumber, Customer, CustomerChanges, CustomerClass, CustomerDisplayName, CustomerStatus,
    NewCustomer, OrgUnitCode,
};
pub use document_types::{DocumentType, DocumentTypeCode, RetentionClass};
pub use documents::{
    BusinessProcess, ClientRequestId, Document, DocumentCursor, DocumentFilter, FilingHeader,
    SourceSystem, Title, WorkOrderNumber,
};
pub use error::Error;
pub use filing::{FilingLimits, FilingPart};
pub use names::{DocumentName, PageName, customer_name, parse_customer_name};
pub use pages::{MediaType, PageBytes, PageInfo, Sha256Digest};
pub use paging::{Cursor, Page, PageRequest};

use crate::storage::{Database, PageStore};

/// The archive service: every use case of the API, over the two stores.
#[derive(Clone)]
pub struct Archive {
    db: Database,
    pages: PageStore,
    limits: FilingLimits,
}

impl Archive {
    pub fn new(db: Database, pages: PageStore, limits: FilingLimits) -> Self {
        Self { db, pages, limits }
    }

    /// Succeeds when both stores answer; the health service reports SERVING only then.
    pub async fn ping(&self) -> Result<(), Error> {
        let (database, objects) = tokio::join!(self.db.ping(), self.pages.ping());
        database?;
        objects?;
        Ok(())
    }
}
