//! Pages: what a page's bytes are (by their content), how they are named in the store, and
//! how they are read back.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::document::document_resource;
use super::rendering::RenditionKind;
use super::renditions::RenditionState;
use crate::domain::lending::Lent;
use crate::domain::names::PageName;
use crate::domain::{Actor, Permission};
use crate::domain::{Archive, Error};
use crate::domain::{Resource, ScanCheck};

/// The kinds of page the archive takes, judged by magic bytes, never by a declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Jpeg,
    Png,
    Tiff,
    Pdf,
}

impl MediaType {
    /// How many leading bytes `sniff` needs to decide.
    pub const SNIFF_LEN: usize = 8;

    /// Recognises a page from its first bytes.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        const SIGNATURES: &[(&[u8], MediaType)] = &[
            (b"\xFF\xD8\xFF", MediaType::Jpeg),
            (b"\x89PNG\r\n\x1A\n", MediaType::Png),
            (b"II*\0", MediaType::Tiff),
            (b"MM\0*", MediaType::Tiff),
            // BigTIFF, as large scanners write it.
            (b"II+\0", MediaType::Tiff),
            (b"MM\0+", MediaType::Tiff),
            (b"%PDF-", MediaType::Pdf),
        ];
        SIGNATURES
            .iter()
            .find(|(magic, _)| head.starts_with(magic))
            .map(|(_, media_type)| *media_type)
    }

    pub fn as_mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Tiff => "image/tiff",
            Self::Pdf => "application/pdf",
        }
    }

    /// The file name extension a saved page gets.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Tiff => "tif",
            Self::Pdf => "pdf",
        }
    }

    pub fn from_mime(mime: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png, Self::Tiff, Self::Pdf]
            .into_iter()
            .find(|media_type| media_type.as_mime() == mime)
    }
}

/// A SHA-256 digest: the content address of a page.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Parses 64 hex digits (either case).
    pub fn parse_hex(text: &str) -> Result<Self, String> {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(text, &mut digest)
            .map_err(|_| format!("{text:?} is not a SHA-256 digest (64 hex digits)"))?;
        Ok(Self(digest))
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

/// A page's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    pub number: u32,
    pub media_type: MediaType,
    pub size_bytes: u64,
    pub sha256: Sha256Digest,
    /// Where the renditions of its content stand.
    pub rendition: RenditionState,
    /// How its scan was judged at filing, and whether it is blank.
    pub scan: ScanCheck,
}

/// Which pages a document lookup brings with it, by number. A read that shows one page, or
/// links a few, need not read the page rows of a hundred-page archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpan {
    pub first: u32,
    pub last: u32,
}

impl PageSpan {
    /// Every page.
    pub const ALL: Self = Self {
        first: 1,
        last: u32::MAX,
    };

    /// Page `number` alone.
    pub fn only(number: u32) -> Self {
        Self {
            first: number,
            last: number,
        }
    }

    /// The narrowest span holding all of `numbers`; every page when none is given.
    pub fn covering(numbers: &[u32]) -> Self {
        match (numbers.iter().min(), numbers.iter().max()) {
            (Some(&first), Some(&last)) => Self { first, last },
            _ => Self::ALL,
        }
    }
}

/// A page's bytes, in order, as they come from the store.
pub type PageBytes = BoxStream<'static, Result<Bytes, Error>>;

impl Archive {
    /// Returns a page's metadata and a stream of its bytes, of the current version or of
    /// `version`; with `rendition`, those of its thumbnail or preview instead, under the same
    /// checks (a rendition shows what the page shows).
    pub async fn read_page(
        &self,
        actor: &Actor,
        name: &PageName,
        version: Option<u32>,
        rendition: Option<RenditionKind>,
    ) -> Result<(PageInfo, PageBytes), Error> {
        let resource = document_resource(&name.document);
        let resource = Resource {
            name: name.to_string(),
            ..resource
        };
        let Some(kind) = rendition else {
            return self
                .audited_read(
                    actor,
                    "ReadPage",
                    resource,
                    self.open_page(actor, name, version),
                )
                .await;
        };
        let work = async {
            let (page, lent) = self.find_page(actor, name, version).await?;
            let mut details = lent.map_or_else(|| serde_json::json!({}), |lent| lent.details());
            details["rendition"] = kind.as_str().into();
            Ok((self.open_rendition(name, page, kind).await?, Some(details)))
        };
        self.audited_read(actor, "ReadPage", resource, work).await
    }

    /// The page and its bytes, with the details of its audit event (the loan it is read
    /// under, if any: only the current version is lent).
    async fn open_page(
        &self,
        actor: &Actor,
        name: &PageName,
        version: Option<u32>,
    ) -> Result<((PageInfo, PageBytes), Option<serde_json::Value>), Error> {
        let (page, lent) = self.find_page(actor, name, version).await?;
        let bytes = self
            .pages
            .read(&page.sha256)
            .await
            .map_err(|error| match error {
                // The row promised the object (see the storage contract): its loss is a fault.
                crate::storage::StorageError::NotFound(_) => Error::Unexpected(anyhow::anyhow!(
                    "page object {} of {name} is missing from the store",
                    page.sha256.to_hex()
                )),
                other => other.into(),
            })?
            .map_err(Error::from)
            .boxed();
        Ok(((page, bytes), lent.map(|lent| lent.details())))
    }

    /// The page `name` names, once the caller may read it: the permission, then the document
    /// within the caller's reach and clearance or, for the current version, under a loan to
    /// the caller (which it is read under, if so).
    async fn find_page(
        &self,
        actor: &Actor,
        name: &PageName,
        version: Option<u32>,
    ) -> Result<(PageInfo, Option<Lent>), Error> {
        let policy = self.policy();
        let grant = policy.grant(actor)?;
        grant.require(Permission::ReadPages)?;
        let (document, lent) = match version {
            None => {
                self.readable_document(&grant, &name.document, Some(name.page_number))
                    .await?
            }
            Some(version) => (
                self.visible_version(
                    &grant,
                    &name.document,
                    Some(version),
                    PageSpan::only(name.page_number),
                )
                .await?,
                None,
            ),
        };
        let page = document
            .pages
            .into_iter()
            .find(|page| page.number == name.page_number)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "page {name} not found: {} has fewer pages",
                    name.document
                ))
            })?;
        Ok((page, lent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_covers_the_pages_asked_or_every_page_when_none_is() {
        assert_eq!(
            PageSpan::covering(&[7, 2, 5]),
            PageSpan { first: 2, last: 7 }
        );
        assert_eq!(PageSpan::covering(&[]), PageSpan::ALL);
        assert_eq!(PageSpan::only(3), PageSpan { first: 3, last: 3 });
    }

    #[test]
    fn jpeg_png_tiff_and_pdf_are_recognised_by_their_magic_bytes() {
        assert_eq!(
            MediaType::sniff(b"\xFF\xD8\xFF\xE0\0\x10JF"),
            Some(MediaType::Jpeg)
        );
        assert_eq!(MediaType::sniff(b"\x89PNG\r\n\x1A\n"), Some(MediaType::Png));
        assert_eq!(MediaType::sniff(b"II*\0\x08\0\0\0"), Some(MediaType::Tiff));
        assert_eq!(MediaType::sniff(b"MM\0*\0\0\0\x08"), Some(MediaType::Tiff));
        assert_eq!(MediaType::sniff(b"II+\0\x08\0\0\0"), Some(MediaType::Tiff));
        assert_eq!(MediaType::sniff(b"%PDF-1.7"), Some(MediaType::Pdf));
    }

    #[test]
    fn text_gif_and_truncated_signatures_are_not_pages() {
        assert_eq!(MediaType::sniff(b"hello world"), None);
        assert_eq!(MediaType::sniff(b"GIF89a"), None);
        assert_eq!(MediaType::sniff(b"\x89PNG"), None);
        assert_eq!(MediaType::sniff(b"\xFF\xD8"), None);
        assert_eq!(MediaType::sniff(b""), None);
    }

    #[test]
    fn media_types_round_trip_through_their_mime_names() {
        for media_type in [
            MediaType::Jpeg,
            MediaType::Png,
            MediaType::Tiff,
            MediaType::Pdf,
        ] {
            assert_eq!(MediaType::from_mime(media_type.as_mime()), Some(media_type));
        }
        assert_eq!(MediaType::from_mime("image/gif"), None);
    }

    #[test]
    fn a_digest_parses_from_hex_of_either_case_and_prints_lowercase() {
        let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let digest = Sha256Digest::parse_hex(upper).unwrap();
        assert_eq!(digest.to_hex(), upper.to_lowercase());
    }

    #[test]
    fn a_digest_of_the_wrong_length_or_alphabet_is_rejected() {
        assert!(Sha256Digest::parse_hex("abcd").is_err());
        assert!(Sha256Digest::parse_hex(&"g".repeat(64)).is_err());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::MediaType;
    use crate::testing::proptest_config;

    const SIGNATURES: &[(&[u8], MediaType)] = &[
        (b"\xFF\xD8\xFF", MediaType::Jpeg),
        (b"\x89PNG\r\n\x1A\n", MediaType::Png),
        (b"II*\0", MediaType::Tiff),
        (b"MM\0*", MediaType::Tiff),
        (b"II+\0", MediaType::Tiff),
        (b"MM\0+", MediaType::Tiff),
        (b"%PDF-", MediaType::Pdf),
    ];

    proptest! {
        #![proptest_config(proptest_config(256))]

        /// Any bytes: a type exactly when they open with its signature, decided by the first
        /// SNIFF_LEN bytes alone (the intake sniffs no more), and the type's MIME name maps back.
        #[test]
        fn proptest_sniffing_any_bytes_follows_the_signatures(
            bytes in prop::collection::vec(any::<u8>(), 0..64)
        ) {
            let sniffed = MediaType::sniff(&bytes);
            let expected = SIGNATURES
                .iter()
                .find(|(magic, _)| bytes.starts_with(magic))
                .map(|(_, media_type)| *media_type);
            prop_assert_eq!(sniffed, expected);
            let head = &bytes[..bytes.len().min(MediaType::SNIFF_LEN)];
            prop_assert_eq!(MediaType::sniff(head), sniffed);
            if let Some(media_type) = sniffed {
                prop_assert_eq!(MediaType::from_mime(media_type.as_mime()), Some(media_type));
            }
        }

        #[test]
        fn proptest_a_signature_with_any_tail_is_recognised(
            signature in prop::sample::select(SIGNATURES),
            tail in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let bytes = [signature.0, tail.as_slice()].concat();
            prop_assert_eq!(MediaType::sniff(&bytes), Some(signature.1));
        }
    }
}
