//! Documents as the caller may read them: for a role that sees personal data masked, the free
//! text of titles and correction reasons is masked like the customer's own fields (see
//! `access::free_text`). The rows themselves are never changed.

use crate::domain::access::free_text::FreeTextMask;
use crate::domain::{Archive, Document, DocumentVersion, Error, Grant};

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
