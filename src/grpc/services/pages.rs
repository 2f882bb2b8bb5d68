//! PageService: streaming page images (or their renditions) back to callers.

use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use tonic::{Request, Response, Status};

use crate::domain::{Archive, DocumentName, Error, PageLinkRequest, PageName};
use crate::grpc::convert::{page_to_proto, parse_rendition, parse_version, timestamp};
use crate::grpc::middleware::{actor, token_expiry};
use crate::proto::v1 as pb;

/// The most page bytes one response message carries.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;

pub struct Pages {
    archive: Archive,
}

impl Pages {
    pub fn new(archive: Archive) -> Self {
        Self { archive }
    }
}

#[tonic::async_trait]
impl pb::page_service_server::PageService for Pages {
    type ReadPageStream = BoxStream<'static, Result<pb::ReadPageResponse, Status>>;

    async fn sign_page_urls(
        &self,
        request: Request<pb::SignPageUrlsRequest>,
    ) -> Result<Response<pb::SignPageUrlsResponse>, Status> {
        let actor = actor(&request)?;
        let token_expires_at = token_expiry(&request);
        let request = request.into_inner();
        let document = DocumentName::parse("name", &request.name)?;
        let pages = request
            .page_numbers
            .iter()
            .map(|&number| {
                u32::try_from(number)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        Error::invalid(
                            "page_numbers",
                            format!("page numbers start at 1, got {number}"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let lifetime = match request.lifetime_seconds {
            0 => None,
            secs if secs < 0 => {
                return Err(Error::invalid(
                    "lifetime_seconds",
                    format!("must be positive, or 0 for the default; got {secs}"),
                )
                .into());
            }
            secs => Some(chrono::Duration::seconds(secs.into())),
        };
        let links = self
            .archive
            .page_links(
                &actor,
                token_expires_at,
                PageLinkRequest {
                    version: parse_version("version", request.version)?,
                    document: document.clone(),
                    pages,
                    lifetime,
                    rendition: parse_rendition("rendition", request.rendition)?,
                },
            )
            .await?;
        Ok(Response::new(pb::SignPageUrlsResponse {
            urls: links
                .into_iter()
                .map(|link| pb::PageUrl {
                    page: Some(page_to_proto(&document, &link.page)),
                    url: link.url.unwrap_or_default(),
                    expire_time: Some(timestamp(link.expires_at)),
                })
                .collect(),
        }))
    }

    async fn read_page(
        &self,
        request: Request<pb::ReadPageRequest>,
    ) -> Result<Response<Self::ReadPageStream>, Status> {
        let actor = actor(&request)?;
        let request = request.into_inner();
        let name = PageName::parse("name", &request.name)?;
        let version = parse_version("version", request.version)?;
        let rendition = parse_rendition("rendition", request.rendition)?;
        let (page, bytes) = self
            .archive
            .read_page(&actor, &name, version, rendition)
            .await?;
        let first = pb::ReadPageResponse {
            page: Some(page_to_proto(&name.document, &page)),
            chunk: Bytes::new(),
        };
        let chunks = bytes
            .map_ok(|bytes| stream::iter(split(bytes).map(Ok::<_, crate::domain::Error>)))
            .try_flatten()
            .map(|chunk| match chunk {
                Ok(chunk) => {
                    crate::metrics::page_bytes_read(chunk.len() as u64);
                    Ok(pb::ReadPageResponse { page: None, chunk })
                }
                Err(error) => Err(Status::from(error)),
            });
        Ok(Response::new(
            stream::once(async { Ok(first) }).chain(chunks).boxed(),
        ))
    }
}

/// Splits a buffer into views of at most [`MAX_CHUNK_BYTES`], without copying.
fn split(mut bytes: Bytes) -> impl Iterator<Item = Bytes> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            None
        } else {
            Some(bytes.split_to(bytes.len().min(MAX_CHUNK_BYTES)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_buffer_is_split_into_chunks_of_at_most_one_mebibyte() {
        let sizes: Vec<usize> = split(Bytes::from(vec![0u8; 2 * MAX_CHUNK_BYTES + 5]))
            .map(|chunk| chunk.len())
            .collect();
        assert_eq!(sizes, vec![MAX_CHUNK_BYTES, MAX_CHUNK_BYTES, 5]);
    }

    #[test]
    fn an_empty_buffer_yields_no_chunk() {
        assert_eq!(split(Bytes::new()).count(), 0);
    }
}
