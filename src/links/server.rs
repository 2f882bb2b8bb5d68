//! `GET /v1/pages/{sha256}?type=…&size=…&name=…&expires=…&signature=…` (and HEAD).

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::domain::{Archive, ByteRange, Error, LinkQuery, LinkTarget, ServedLinks};

#[derive(Clone)]
struct Links {
    archive: Archive,
    signer: Arc<ServedLinks>,
}

/// The query of a link; a missing field is empty, and refused as malformed by the check.
#[derive(Debug, Default, Deserialize)]
struct RawQuery {
    #[serde(rename = "type", default)]
    media_type: String,
    #[serde(default)]
    size: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    signature: String,
    rendition: Option<String>,
    source: Option<String>,
}

/// The routes of the link listener.
pub fn router(archive: Archive, signer: ServedLinks) -> Router {
    Router::new()
        .route("/v1/pages/{content}", get(fetch))
        .with_state(Links {
            archive,
            signer: Arc::new(signer),
        })
}

/// Serves the link routes on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    archive: Archive,
    signer: ServedLinks,
) -> anyhow::Result<()> {
    axum::serve(listener, router(archive, signer))
        .await
        .context("the page link listener failed")
}

async fn fetch(
    State(links): State<Links>,
    Path(content): Path<String>,
    Query(query): Query<RawQuery>,
    headers: HeaderMap,
) -> Response {
    let query = LinkQuery {
        media_type: query.media_type,
        size: query.size,
        file_name: query.name,
        expires: query.expires,
        signature: query.signature,
        rendition: query.rendition,
        source: query.source,
    };
    let now = Utc::now();
    let target = match links.signer.verify(&content, &query, now) {
        Ok(target) => target,
        Err(refusal) => return plain(StatusCode::FORBIDDEN, refusal.to_string()),
    };
    let etag = format!("\"{}\"", target.sha256.to_hex());
    let mut response_headers = HeaderMap::new();
    let remaining = (target.expires_at - now).num_seconds().max(0);
    insert(&mut response_headers, header::ETAG, &etag);
    insert(
        &mut response_headers,
        header::CACHE_CONTROL,
        &format!("private, max-age={remaining}, immutable"),
    );
    insert(&mut response_headers, header::ACCEPT_RANGES, "bytes");

    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        })
    {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(value) => match parse_range(value, target.size_bytes) {
            RangeAsked::Whole => None,
            RangeAsked::Part(range) => Some(range),
            RangeAsked::Unsatisfiable => {
                insert(
                    &mut response_headers,
                    header::CONTENT_RANGE,
                    &format!("bytes */{}", target.size_bytes),
                );
                return (StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response();
            }
        },
    };
    let bytes = match links.archive.linked_content(&target, range).await {
        Ok(bytes) => bytes,
        Err(Error::NotFound(message)) => return plain(StatusCode::NOT_FOUND, message),
        Err(error) => {
            tracing::warn!(%error, content = %target.sha256.to_hex(), "a page link could not be served");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the archive's store cannot be read just now; retry in a moment".into(),
            );
        }
    };
    content_headers(&mut response_headers, &target);
    let status = match range {
        Some(range) => {
            insert(
                &mut response_headers,
                header::CONTENT_RANGE,
                &format!(
                    "bytes {}-{}/{}",
                    range.start,
                    range.end - 1,
                    target.size_bytes
                ),
            );
            insert(
                &mut response_headers,
                header::CONTENT_LENGTH,
                &(range.end - range.start).to_string(),
            );
            StatusCode::PARTIAL_CONTENT
        }
        None => {
            insert(
                &mut response_headers,
                header::CONTENT_LENGTH,
                &target.size_bytes.to_string(),
            );
            StatusCode::OK
        }
    };
    (status, response_headers, Body::from_stream(bytes)).into_response()
}

fn content_headers(headers: &mut HeaderMap, target: &LinkTarget) {
    insert(headers, header::CONTENT_TYPE, target.media_type.as_mime());
    insert(
        headers,
        header::CONTENT_DISPOSITION,
        &format!("inline; filename=\"{}\"", target.file_name),
    );
    // The type is the sniffed one; a browser must not guess another.
    insert(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    // Every value here is ASCII built from checked parts.
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn plain(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAsked {
    /// No range that can be honoured as one (several ranges, another unit): the whole body.
    Whole,
    Part(ByteRange),
    Unsatisfiable,
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` of a body of `size` bytes (RFC 9110 §14.1.2).
fn parse_range(value: &str, size: u64) -> RangeAsked {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAsked::Whole;
    };
    if spec.contains(',') {
        return RangeAsked::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsked::Whole;
    };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    let range = match (first.trim().is_empty(), number(first), number(last)) {
        // The last n bytes.
        (true, _, Some(suffix)) if suffix > 0 => ByteRange {
            start: size.saturating_sub(suffix),
            end: size,
        },
        (false, Some(start), None) if last.trim().is_empty() => ByteRange { start, end: size },
        (false, Some(start), Some(end)) if end >= start => ByteRange {
            start,
            end: end.saturating_add(1).min(size),
        },
        _ => return RangeAsked::Whole,
    };
    if range.start >= size || range.start >= range.end {
        return RangeAsked::Unsatisfiable;
    }
    RangeAsked::Part(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_of_each_form_are_read_and_clamped_to_the_body() {
        let part = |start, end| RangeAsked::Part(ByteRange { start, end });
        assert_eq!(parse_range("bytes=0-99", 1000), part(0, 100));
        assert_eq!(parse_range("bytes=900-", 1000), part(900, 1000));
        assert_eq!(parse_range("bytes=-100", 1000), part(900, 1000));
        assert_eq!(parse_range("bytes=990-2000", 1000), part(990, 1000));
        assert_eq!(parse_range("bytes=-5000", 1000), part(0, 1000));
    }

    #[test]
    fn a_range_past_the_end_is_unsatisfiable_and_other_forms_get_the_whole_body() {
        assert_eq!(parse_range("bytes=1000-", 1000), RangeAsked::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-9", 1000), RangeAsked::Whole);
        assert_eq!(parse_range("items=0-1", 1000), RangeAsked::Whole);
        assert_eq!(parse_range("bytes=9-1", 1000), RangeAsked::Whole);
        assert_eq!(parse_range("bytes=-0", 1000), RangeAsked::Whole);
        assert_eq!(parse_range("bytes=x-", 1000), RangeAsked::Whole);
    }
}
