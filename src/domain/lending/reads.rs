//! Reading under a loan. The loan is consulted only where the normal rules (reach, clearance,
//! visible types) have already refused, so a caller without a loan pays nothing on the common
//! path; a read under a loan costs one indexed lookup more. Whether the loan is in force is
//! decided against the clock on every call: a return, a revocation or the due time takes effect
//! on the very next read. Lent access is read-only: only GetDocument (current version),
//! ReadPage (current version, lent pages) and ListLoanDocuments consult loans.

use crate::domain::documents::document::document_not_found;
use crate::domain::documents::presentation::mask_document;
use crate::domain::names::{DocumentName, LoanName};
use crate::domain::paging::{Page, PageRequest};
use crate::domain::records::retention::acted_by;
use crate::domain::{
    Actor, Archive, Document, DocumentCursor, Error, Grant, PageSpan, Permission, PersonalData,
    Resource,
};

use super::loan::LoanState;
use super::requests::loan_not_found;

/// What a loan in force lends the caller of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lent {
    pub loan: LoanName,
    /// The lent pages; `None`: all of them.
    pub pages: Option<Vec<u32>>,
    /// What the approver chose the borrower sees of personal data.
    pub personal_data: PersonalData,
}

impl Lent {
    /// The details of the audit event of a read under this loan.
    pub(crate) fn details(&self) -> serde_json::Value {
        Self::details_of(self.loan)
    }

    /// The details every read under `loan` is recorded with, and the register looks for.
    pub fn details_of(loan: LoanName) -> serde_json::Value {
        serde_json::json!({ "loan": loan.to_string() })
    }
}

impl Archive {
    /// The current version of a document as the grant may read it: by the normal rules or,
    /// only when they refuse, under a loan in force to the caller that lends it (and `page`,
    /// when given). `NotFound` otherwise. With `page`, only that page is listed; under a
    /// loan, only the lent pages.
    pub(crate) async fn readable_document(
        &self,
        grant: &Grant<'_>,
        name: &DocumentName,
        page: Option<u32>,
    ) -> Result<(Document, Option<Lent>), Error> {
        let pages = page.map_or(PageSpan::ALL, PageSpan::only);
        match self.db.document_pages(name, pages).await? {
            Some((document, org_unit))
                if grant.reaches_account(&name.account, &org_unit)
                    && grant.sees(&document.document_type, document.confidentiality) =>
            {
                Ok((document, None))
            }
            Some((mut document, _)) => {
                let lent = self
                    .db
                    .lent_to(&acted_by(grant.actor), name, page, self.clock.now())
                    .await?
                    .ok_or_else(|| document_not_found(name))?;
                if let Some(pages) = &lent.pages {
                    document.pages.retain(|page| pages.contains(&page.number));
                }
                Ok((document, Some(lent)))
            }
            None => Err(document_not_found(name)),
        }
    }

    /// A document as it may be read: masked as the role sees personal data or, under a loan,
    /// as the approver chose.
    pub(crate) async fn present_readable(
        &self,
        grant: &Grant<'_>,
        document: Document,
        lent: Option<&Lent>,
    ) -> Result<Document, Error> {
        let personal_data = lent.map_or(grant.personal_data(), |lent| lent.personal_data);
        let mask = self
            .free_text_mask_as(personal_data, &document.account)
            .await?;
        Ok(mask_document(mask.as_ref(), document))
    }

    /// The documents an active loan lends its borrower, newest first, as lent (pages, masking).
    pub async fn list_loan_documents(
        &self,
        actor: &Actor,
        name: LoanName,
        page: PageRequest<DocumentCursor>,
    ) -> Result<Page<Document, DocumentCursor>, Error> {
        let resource = Resource::named(format!("{name}/documents"));
        self.audited_read(actor, "ListLoanDocuments", resource, async {
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadDocuments)?;
            let now = self.clock.now();
            let loan = self
                .db
                .loan(name.0)
                .await?
                .filter(|loan| {
                    loan.borrower.acted_by == acted_by(actor)
                        && loan.state(now) == LoanState::Active
                })
                .ok_or_else(|| loan_not_found(name))?;
            let personal_data = loan.personal_data.unwrap_or(PersonalData::Masked);
            let documents = self
                .db
                .loan_documents(name.0, page.after.as_ref(), page.size + 1)
                .await?;
            let accounts: Vec<&str> = loan.accounts().into_iter().map(|a| a.as_str()).collect();
            let masks = self.free_text_masks_as(personal_data, &accounts).await?;
            let documents = documents
                .into_iter()
                .filter_map(|mut document| {
                    let item = loan.lent_item(&document.name())?;
                    document.pages.retain(|page| item.lends_page(page.number));
                    let mask = masks.get(document.account.as_str());
                    Some(mask_document(mask, document))
                })
                .collect();
            let page = Page::from_overfetch(documents, page.size, |d: &Document| DocumentCursor {
                filed_at: d.filed_at,
                id: d.id,
            });
            Ok((page, Some(Lent::details_of(name))))
        })
        .await
    }
}
