//! Links that Custodian serves itself (`page_links.mode = "served"`): the URL names the content
//! by its digest and carries what may be fetched and until when, signed with HMAC-SHA256 under
//! the deployment's key. Any change — another page, another type or size, a later expiry, a
//! forged signature — fails the check, so a link cannot be widened.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::page_links::{LinkTarget, LinkedContent, PageLinkSigner};
use super::pages::{MediaType, Sha256Digest};
use super::rendering::RenditionKind;
use crate::domain::Error;

/// The shortest signing key accepted, as for the audit chain's.
pub const MIN_LINK_KEY_BYTES: usize = 32;

/// Signs links to Custodian's own HTTP listener at `base_url` (what browsers reach, e.g.
/// `https://archive.example.net/files`).
#[derive(Clone)]
pub struct ServedLinks {
    base_url: String,
    key: SecretString,
}

impl std::fmt::Debug for ServedLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedLinks")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A link's query as it arrived, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct LinkQuery {
    pub media_type: String,
    pub size: String,
    pub file_name: String,
    pub expires: String,
    pub signature: String,
    /// For a rendition: its kind and the digest of the page content it was made of.
    pub rendition: Option<String>,
    pub source: Option<String>,
}

/// Why a link was refused; each is a 403 with its own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    #[error("this page link is malformed ({0}): use the URL exactly as SignPageUrls returned it")]
    Malformed(String),
    #[error("this page link is not valid: its signature does not match what it names")]
    Forged,
    #[error("this page link expired at {0}: ask the system that showed it for a new one")]
    Expired(String),
}

impl ServedLinks {
    pub fn new(base_url: &str, key: SecretString) -> Result<Self, String> {
        if key.expose_secret().len() < MIN_LINK_KEY_BYTES {
            return Err(format!(
                "page_links.signing_key must be at least {MIN_LINK_KEY_BYTES} bytes"
            ));
        }
        let base_url = base_url.trim_end_matches('/');
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(format!(
                "page_links.public_base_url must be an http(s) URL, got {base_url:?}"
            ));
        }
        Ok(Self {
            base_url: base_url.to_owned(),
            key,
        })
    }

    /// The URL of `target`.
    pub fn url(&self, target: &LinkTarget) -> String {
        let expires = target.expires_at.timestamp();
        let rendition = match target.content {
            LinkedContent::Original => String::new(),
            LinkedContent::Rendition { kind, source } => {
                format!("&rendition={}&source={}", kind.as_str(), source.to_hex())
            }
        };
        format!(
            "{}/v1/pages/{}?type={}&size={}&name={}{rendition}&expires={expires}&signature={}",
            self.base_url,
            target.sha256.to_hex(),
            target.media_type.as_mime().replace('/', "%2F"),
            target.size_bytes,
            target.file_name,
            self.signature(target),
        )
    }

    /// What a link to `content` with `query` grants, if its signature holds and it has not
    /// expired by `now`.
    pub fn verify(
        &self,
        content: &str,
        query: &LinkQuery,
        now: DateTime<Utc>,
    ) -> Result<LinkTarget, LinkRefusal> {
        let malformed = |what: &str| LinkRefusal::Malformed(what.to_owned());
        let sha256 = Sha256Digest::parse_hex(content).map_err(|_| malformed("content"))?;
        let media_type =
            MediaType::from_mime(&query.media_type).ok_or_else(|| malformed("type"))?;
        let size_bytes = query.size.parse().map_err(|_| malformed("size"))?;
        let expires_at = query
            .expires
            .parse()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or_else(|| malformed("expires"))?;
        if !is_file_name(&query.file_name) {
            return Err(malformed("name"));
        }
        let content = match (&query.rendition, &query.source) {
            (None, None) => LinkedContent::Original,
            (Some(kind), Some(source)) => LinkedContent::Rendition {
                kind: RenditionKind::parse(kind).ok_or_else(|| malformed("rendition"))?,
                source: Sha256Digest::parse_hex(source).map_err(|_| malformed("source"))?,
            },
            _ => return Err(malformed("rendition")),
        };
        let target = LinkTarget {
            sha256,
            content,
            media_type,
            size_bytes,
            file_name: query.file_name.clone(),
            expires_at,
        };
        let signature = base64_decode(&query.signature).ok_or_else(|| malformed("signature"))?;
        // Checked before the expiry, so an expired link says so only when it was genuine.
        self.mac(&target)
            .verify_slice(&signature)
            .map_err(|_| LinkRefusal::Forged)?;
        if now >= expires_at {
            return Err(LinkRefusal::Expired(
                expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ));
        }
        Ok(target)
    }

    fn signature(&self, target: &LinkTarget) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(target).finalize().into_bytes())
    }

    /// Every field the link grants, each on its own line so none can run into the next.
    fn mac(&self, target: &LinkTarget) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        let content = match target.content {
            LinkedContent::Original => "original".to_owned(),
            LinkedContent::Rendition { kind, source } => {
                format!("{} of {}", kind.as_str(), source.to_hex())
            }
        };
        let signed = format!(
            "custodian-page-link-v2\n{}\n{content}\n{}\n{}\n{}\n{}",
            target.sha256.to_hex(),
            target.media_type.as_mime(),
            target.size_bytes,
            target.file_name,
            target.expires_at.timestamp()
        );
        mac.update(signed.as_bytes());
        mac
    }
}

impl PageLinkSigner for ServedLinks {
    fn sign<'a>(&'a self, target: &'a LinkTarget) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move { Ok(self.url(target)) })
    }
}

/// The file names links carry (`{uuid}-v{n}-p{n}.{ext}`): safe in a URL and a header as they are.
fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> ServedLinks {
        ServedLinks::new("http://127.0.0.1:8080/", SecretString::from("k".repeat(32))).unwrap()
    }

    fn target(expires_at: DateTime<Utc>) -> LinkTarget {
        LinkTarget {
            sha256: Sha256Digest([7; 32]),
            content: LinkedContent::Original,
            media_type: MediaType::Jpeg,
            size_bytes: 1234,
            file_name: "0192f0c1-3c4e-7d2a-9b1e-5f6a7b8c9d0e-v1-p1.jpg".into(),
            expires_at,
        }
    }

    /// Splits a URL into its content and query as the listener receives them.
    fn parts(url: &str) -> (String, LinkQuery) {
        let rest = url.strip_prefix("http://127.0.0.1:8080/v1/pages/").unwrap();
        let (content, query) = rest.split_once('?').unwrap();
        let mut parsed = LinkQuery::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap();
            let value = value.replace("%2F", "/");
            match key {
                "type" => parsed.media_type = value,
                "size" => parsed.size = value,
                "name" => parsed.file_name = value,
                "expires" => parsed.expires = value,
                "signature" => parsed.signature = value,
                "rendition" => parsed.rendition = Some(value),
                "source" => parsed.source = Some(value),
                _ => panic!("{key}"),
            }
        }
        (content.to_owned(), parsed)
    }

    #[test]
    fn a_link_grants_what_it_names_until_it_expires() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let link = target(now + chrono::Duration::minutes(5));
        let (content, query) = parts(&links().url(&link));
        assert_eq!(links().verify(&content, &query, now), Ok(link.clone()));
        assert!(matches!(
            links().verify(&content, &query, link.expires_at),
            Err(LinkRefusal::Expired(_))
        ));
    }

    #[test]
    fn a_rendition_link_names_its_kind_and_source_and_neither_can_change() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let link = LinkTarget {
            content: LinkedContent::Rendition {
                kind: RenditionKind::Preview,
                source: Sha256Digest([9; 32]),
            },
            ..target(now + chrono::Duration::minutes(5))
        };
        let (content, query) = parts(&links().url(&link));
        assert_eq!(links().verify(&content, &query, now), Ok(link));
        let forged = [
            LinkQuery {
                rendition: Some("thumbnail".into()),
                ..query.clone()
            },
            LinkQuery {
                source: Some("0a".repeat(32)),
                ..query.clone()
            },
            LinkQuery {
                rendition: None,
                source: None,
                ..query.clone()
            },
        ];
        for forged in forged {
            assert_eq!(
                links().verify(&content, &forged, now),
                Err(LinkRefusal::Forged)
            );
        }
        let half = LinkQuery {
            source: None,
            ..query
        };
        assert!(matches!(
            links().verify(&content, &half, now),
            Err(LinkRefusal::Malformed(_))
        ));
    }

    #[test]
    fn a_changed_page_size_type_expiry_or_signature_is_refused() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (content, query) = parts(&links().url(&target(now + chrono::Duration::minutes(5))));
        let other_page = "08".repeat(32);
        assert_eq!(
            links().verify(&other_page, &query, now),
            Err(LinkRefusal::Forged)
        );
        for changed in [
            LinkQuery {
                size: "999999".into(),
                ..query.clone()
            },
            LinkQuery {
                media_type: "application/pdf".into(),
                ..query.clone()
            },
            LinkQuery {
                expires: (now.timestamp() + 86_400).to_string(),
                ..query.clone()
            },
            LinkQuery {
                signature: "AAAA".into(),
                ..query.clone()
            },
        ] {
            assert_eq!(
                links().verify(&content, &changed, now),
                Err(LinkRefusal::Forged)
            );
        }
        let other_key =
            ServedLinks::new("http://127.0.0.1:8080", SecretString::from("j".repeat(32))).unwrap();
        assert_eq!(
            other_key.verify(&content, &query, now),
            Err(LinkRefusal::Forged)
        );
        assert!(matches!(
            links().verify(
                &content,
                &LinkQuery {
                    file_name: "../x".into(),
                    ..query
                },
                now
            ),
            Err(LinkRefusal::Malformed(_))
        ));
    }

    #[test]
    fn a_short_key_or_a_base_url_without_scheme_is_refused() {
        assert!(ServedLinks::new("http://x", SecretString::from("short")).is_err());
        assert!(ServedLinks::new("x.example", SecretString::from("k".repeat(32))).is_err());
    }
}
