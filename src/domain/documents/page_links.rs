//! Page links: short-lived URLs a browser loads directly (`<img src>`, a download link), for
//! the counter screens that cannot speak gRPC. Issuing one is a read of the page in every
//! respect — permission, reach, clearance, audit — and the link then grants exactly that
//! content until it expires, never longer than the caller's token would have.
//!
//! Who signs depends on where the browser fetches from (see `PageLinkSigner`): Custodian's own
//! HTTP listener (`link_signature`), or the S3 store itself with a presigned GET.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use futures::{StreamExt as _, TryStreamExt as _};

use super::document::document_resource;
use super::pages::{MediaType, PageBytes, PageInfo, PageSpan, Sha256Digest};
use super::rendering::RenditionKind;
use super::renditions::{RenditionInfo, RenditionState};
use crate::domain::names::DocumentName;
use crate::domain::{Actor, Archive, Error, Permission};

/// What a link lets its bearer fetch, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    /// The digest of the bytes served (their ETag).
    pub sha256: Sha256Digest,
    /// Which object holds them.
    pub content: LinkedContent,
    pub media_type: MediaType,
    pub size_bytes: u64,
    /// The name a browser saves it under, e.g. `0192…-v2-p3.jpg`.
    pub file_name: String,
    pub expires_at: DateTime<Utc>,
}

/// A page's content as filed, or a rendition made of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkedContent {
    Original,
    /// `source` is the digest of the page content it was made of (its object's name).
    Rendition {
        kind: RenditionKind,
        source: Sha256Digest,
    },
}

/// Turns a link target into a URL; one per deployment, chosen by configuration.
pub trait PageLinkSigner: Send + Sync + fmt::Debug {
    fn sign<'a>(&'a self, target: &'a LinkTarget) -> BoxFuture<'a, Result<String, Error>>;
}

/// How long links live: `default` when the caller asks for no lifetime, never over `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLifetimes {
    pub default: Duration,
    pub max: Duration,
}

/// The deployment's page links: who signs them and how long they live.
#[derive(Debug, Clone)]
pub struct PageLinks {
    pub signer: Arc<dyn PageLinkSigner>,
    pub lifetimes: LinkLifetimes,
}

/// Which pages of which version to link, for how long.
#[derive(Debug, Clone)]
pub struct PageLinkRequest {
    pub document: DocumentName,
    /// `None`: the current version.
    pub version: Option<u32>,
    /// 1-based page numbers; empty: every page.
    pub pages: Vec<u32>,
    /// `None`: the deployment's default.
    pub lifetime: Option<Duration>,
    /// `None`: the pages as filed.
    pub rendition: Option<RenditionKind>,
}

/// The most pages one request links: a hundred-page archive's document, with room.
pub const MAX_LINKED_PAGES: usize = 500;

/// One page's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLink {
    /// What the URL serves: the page, or for a rendition its JPEG (type, size, digest) with
    /// the page's number and rendition state.
    pub page: PageInfo,
    /// `None` for a rendition that is not ready (`page.rendition` says why): a screen shows a
    /// placeholder for that page and asks again later.
    pub url: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl Archive {
    /// Links to pages of a document the caller may read, living `request.lifetime` (capped by
    /// the deployment's maximum and by `token_expires_at`).
    pub async fn page_links(
        &self,
        actor: &Actor,
        token_expires_at: Option<DateTime<Utc>>,
        request: PageLinkRequest,
    ) -> Result<Vec<PageLink>, Error> {
        let resource = document_resource(&request.document);
        self.audited_change(actor, "SignPageUrls", resource, |event| async move {
            let links = self.page_links.as_ref().ok_or_else(|| {
                Error::FailedPrecondition(
                    "page URLs are not configured on this server (page_links.mode is off): \
                     read pages with ReadPage"
                        .into(),
                )
            })?;
            let policy = self.policy();
            let grant = policy.grant(actor)?;
            grant.require(Permission::ReadPages)?;
            let span = PageSpan::covering(&request.pages);
            let document = self
                .visible_version(&grant, &request.document, request.version, span)
                .await?;
            let pages = chosen_pages(
                &document.pages,
                document.page_count,
                &request.pages,
                &request.document,
            )?;
            let now = Utc::now();
            let expires_at = expiry(now, request.lifetime, links.lifetimes, token_expires_at)?;
            // One lookup for all the pages' renditions, not one per page.
            let renditions = match request.rendition {
                Some(kind) => {
                    let ready: Vec<Sha256Digest> = pages
                        .iter()
                        .filter(|page| page.rendition == RenditionState::Ready)
                        .map(|page| page.sha256)
                        .collect();
                    self.db.renditions(&ready, kind).await?
                }
                None => HashMap::new(),
            };
            let mut linked = Vec::with_capacity(pages.len());
            for page in pages {
                let file_name = |suffix: &str, media_type: MediaType| {
                    format!(
                        "{}-v{}-p{}{suffix}.{}",
                        document.id,
                        document.version,
                        page.number,
                        media_type.extension()
                    )
                };
                let (page, target) = match request.rendition {
                    None => {
                        let target = LinkTarget {
                            sha256: page.sha256,
                            content: LinkedContent::Original,
                            media_type: page.media_type,
                            size_bytes: page.size_bytes,
                            file_name: file_name("", page.media_type),
                            expires_at,
                        };
                        (page, Some(target))
                    }
                    Some(kind) => {
                        let name = format!("-{}", kind.as_str());
                        let file_name = file_name(&name, kind.media_type());
                        let made = renditions.get(&page.sha256);
                        rendition_target(page, made, kind, file_name, expires_at)?
                    }
                };
                let url = match &target {
                    Some(target) => Some(links.signer.sign(target).await?),
                    None => None,
                };
                linked.push(PageLink {
                    page,
                    url,
                    expires_at,
                });
            }
            // Recorded as reads are, with what the links grant and for how long.
            let granted = linked.iter().filter(|link| link.url.is_some());
            let mut details = serde_json::json!({
                "version": document.version,
                "pages": granted.map(|link| link.page.number).collect::<Vec<_>>(),
                "lifetime_secs": (expires_at - now).num_seconds(),
            });
            if let Some(kind) = request.rendition {
                details["rendition"] = kind.as_str().into();
            }
            let event = event.with_details(details);
            self.audit.record(event).await;
            Ok(linked)
        })
        .await
    }
}

/// The rendition of `kind` of `page` (`made`, once recorded) as a link serves it, or `None`
/// (with the page as it stands) while it is not ready.
fn rendition_target(
    page: PageInfo,
    made: Option<&RenditionInfo>,
    kind: RenditionKind,
    file_name: String,
    expires_at: DateTime<Utc>,
) -> Result<(PageInfo, Option<LinkTarget>), Error> {
    if page.rendition != RenditionState::Ready {
        return Ok((page, None));
    }
    let Some(info) = made else {
        return Err(Error::Unexpected(anyhow::anyhow!(
            "the {} of content {} is ready but not recorded",
            kind.as_str(),
            page.sha256.to_hex()
        )));
    };
    let target = LinkTarget {
        sha256: info.sha256,
        content: LinkedContent::Rendition {
            kind,
            source: page.sha256,
        },
        media_type: kind.media_type(),
        size_bytes: info.size_bytes,
        file_name,
        expires_at,
    };
    let described = PageInfo {
        media_type: target.media_type,
        size_bytes: target.size_bytes,
        sha256: target.sha256,
        ..page
    };
    Ok((described, Some(target)))
}

/// Which bytes of a linked content a fetch asks for (an HTTP `Range`), end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl Archive {
    /// The bytes a verified link grants (all of them, or `range`). No actor: the link's
    /// signature is the grant, given when it was issued and recorded then.
    pub async fn linked_content(
        &self,
        target: &LinkTarget,
        range: Option<ByteRange>,
    ) -> Result<PageBytes, Error> {
        let range = range.map(|r| r.start..r.end);
        let bytes = match target.content {
            LinkedContent::Original => self.pages.read_range(&target.sha256, range).await,
            LinkedContent::Rendition { kind, source } => {
                self.pages.read_rendition(kind, &source, range).await
            }
        };
        let bytes = bytes.map_err(|error| match error {
            // Destroyed since the link was issued (links outlive no disposal).
            crate::storage::StorageError::NotFound(_) => {
                Error::NotFound("this page is no longer kept".into())
            }
            other => other.into(),
        })?;
        Ok(bytes.map_err(Error::from).boxed())
    }
}

/// The pages asked for, in the order asked; every page when none is named.
/// The pages asked for among `pages` (every page listed when none is asked); `page_count` is
/// how many the document has, which the lookup may not all have listed.
fn chosen_pages(
    pages: &[PageInfo],
    page_count: u32,
    asked: &[u32],
    document: &DocumentName,
) -> Result<Vec<PageInfo>, Error> {
    if asked.len() > MAX_LINKED_PAGES {
        return Err(Error::invalid(
            "page_numbers",
            format!(
                "at most {MAX_LINKED_PAGES} pages per request, got {}",
                asked.len()
            ),
        ));
    }
    if asked.is_empty() {
        return Ok(pages.to_vec());
    }
    asked
        .iter()
        .map(|number| {
            pages
                .iter()
                .find(|page| page.number == *number)
                .cloned()
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "page {document}/pages/{number} not found: {document} has {page_count} pages"
                    ))
                })
        })
        .collect()
}

/// When links made `now` expire: the lifetime asked (or the default), capped by the maximum
/// and the token's own expiry.
fn expiry(
    now: DateTime<Utc>,
    asked: Option<Duration>,
    lifetimes: LinkLifetimes,
    token_expires_at: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, Error> {
    let lifetime = match asked {
        Some(lifetime) if lifetime <= Duration::zero() => {
            return Err(Error::invalid("lifetime", "must be positive when set"));
        }
        Some(lifetime) => lifetime.min(lifetimes.max),
        None => lifetimes.default.min(lifetimes.max),
    };
    let expires_at = now + lifetime;
    Ok(match token_expires_at {
        Some(token) => expires_at.min(token),
        None => expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIMES: LinkLifetimes = LinkLifetimes {
        default: Duration::minutes(5),
        max: Duration::minutes(15),
    };

    #[test]
    fn a_link_lives_the_default_capped_by_the_maximum_and_the_token() {
        let now = Utc::now();
        assert_eq!(
            expiry(now, None, LIFETIMES, None).unwrap(),
            now + Duration::minutes(5)
        );
        assert_eq!(
            expiry(now, Some(Duration::hours(3)), LIFETIMES, None).unwrap(),
            now + Duration::minutes(15)
        );
        let token = now + Duration::minutes(2);
        assert_eq!(
            expiry(now, Some(Duration::minutes(10)), LIFETIMES, Some(token)).unwrap(),
            token
        );
        assert!(expiry(now, Some(Duration::zero()), LIFETIMES, None).is_err());
    }

    #[test]
    fn pages_are_linked_in_the_order_asked_and_an_unknown_one_is_not_found() {
        let page = |number| PageInfo {
            number,
            media_type: MediaType::Jpeg,
            size_bytes: 10,
            sha256: Sha256Digest([number as u8; 32]),
            rendition: crate::domain::RenditionState::Ready,
            scan: crate::domain::ScanCheck::default(),
        };
        let pages = [page(1), page(2), page(3)];
        let name = DocumentName::parse(
            "name",
            "customers/1234567890/documents/0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e",
        )
        .unwrap();
        let chosen = chosen_pages(&pages, 3, &[3, 1], &name).unwrap();
        assert_eq!(chosen.iter().map(|p| p.number).collect::<Vec<_>>(), [3, 1]);
        assert_eq!(chosen_pages(&pages, 3, &[], &name).unwrap().len(), 3);
        assert!(matches!(
            chosen_pages(&pages, 3, &[4], &name),
            Err(Error::NotFound(_))
        ));
    }
}
