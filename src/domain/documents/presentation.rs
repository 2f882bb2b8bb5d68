//! Documents as the caller may read them: for a role that sees personal data masked, the free
//! text of titles and correction reasons is masked like the customer's own fields (see
//! `access::free_text`). The rows themselves are never changed.

use crate::domain::access::free_text::FreeTextMask;
use crate::domain::{Archive, Document, DocumentVersion, Error, Grant, PersonalData};

impl Archive {
    /// One document as the grant may read it.
    pub(crate) async fn present_document(
        &self,
        grant: &Grant<'_>,
        document: Document,
    ) -> Result<Document, Error> {
        let mask = self.free_text_mask(grant, &document.account).await?;
        Ok(mask_document(mask.as_ref(), document))
    }

    /// Documents of any accounts as the grant may read them, the masks of all their accounts
    /// read in one query (none for a grant that sees personal data in full).
    pub(crate) async fn present_documents(
        &self,
        grant: &Grant<'_>,
        documents: Vec<Document>,
    ) -> Result<Vec<Document>, Error> {
        if grant.personal_data() == PersonalData::Full {
            return Ok(documents);
        }
        let mut accounts: Vec<&str> = documents.iter().map(|d| d.account.as_str()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let masks = self.free_text_masks(grant, &accounts).await?;
        // An account without revisions still has its ID- and phone-shaped numbers masked.
        let unknown = FreeTextMask::default();
        Ok(documents
            .into_iter()
            .map(|document| {
                let mask = masks.get(document.account.as_str()).unwrap_or(&unknown);
                mask_document(Some(mask), document)
            })
            .collect())
    }
}

pub(crate) fn mask_document(mask: Option<&FreeTextMask>, mut document: Document) -> Document {
    if let Some(mask) = mask {
        document.title = document.title.map(|text| mask.apply(text));
    }
    document
}

pub(crate) fn mask_version(
    mask: Option<&FreeTextMask>,
    mut version: DocumentVersion,
) -> DocumentVersion {
    if let Some(mask) = mask {
        version.title = version.title.map(|text| mask.apply(text));
        version.reason = mask.apply(&version.reason);
    }
    version
}
