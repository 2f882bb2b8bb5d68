//! Documents (文件) and their pages: the document and how it is found, filing, page intake with
//! the filing limits, versions made by correction, reading pages back, checking their fixity,
//! collecting the page objects failed filings left, and the pages' renditions (thumbnails and
//! previews) with the workers that make them.

pub(super) mod declassification;
pub(super) mod document;
pub(super) mod filing;
pub(super) mod filing_buffer;
pub(super) mod fixity;
pub(super) mod legacy;
pub(super) mod link_signature;
pub(super) mod orphans;
pub(super) mod page_intake;
pub(super) mod page_links;
pub(super) mod pages;
pub(super) mod presentation;
pub(super) mod rendering;
pub(super) mod rendition_limits;
pub(super) mod renditions;
pub(super) mod versions;

pub use declassification::{APPROVAL_LIFETIME, Declassification, DeclassificationRequest};
pub use document::{
    BusinessProcess, ClientRequestId, Destruction, Document, DocumentCursor, DocumentFilter,
    DocumentView, FilingHeader, MAX_BATCH_DOCUMENTS, SourceSystem, Title, Visibility,
    WorkOrderNumber,
};
pub use filing::{Filing, FilingPart};
pub use filing_buffer::FilingBuffer;
pub use fixity::{FixityOutcome, FixityScrub};
pub use legacy::{LegacyOrigin, LegacyReference, LegacySystem};
pub use link_signature::{LinkQuery, LinkRefusal, MIN_LINK_KEY_BYTES, ServedLinks};
pub use orphans::OrphanCollection;
pub use page_intake::FilingLimits;
pub use page_links::{
    ByteRange, LinkLifetimes, LinkTarget, LinkedContent, MAX_LINKED_PAGES, PageLink,
    PageLinkRequest, PageLinkSigner, PageLinks,
};
pub use pages::{MediaType, PageBytes, PageInfo, PageSpan, Sha256Digest};
pub use rendering::{Rendered, RenditionKind, Unrendered, render};
pub use rendition_limits::RenditionLimits;
pub use renditions::{
    RenditionInfo, RenditionJob, RenditionOutcome, RenditionQueue, RenditionState,
};
pub use versions::{
    CorrectionHeader, CorrectionPart, CorrectionReason, DocumentChanges, DocumentVersion,
    VersionAuthor,
};
