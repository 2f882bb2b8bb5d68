//! The framing of client-streaming uploads (a filing, a correction): a header first, then the
//! parts; a broken stream and an oversized message are mapped to statuses once, here.

use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::domain::Error;

/// Splits a streamed upload (a filing or a correction) into the header that must open it and
/// the parts after it. `header_of` answers `None` for a first message that is not a header.
pub(super) async fn split_upload<M, H, P>(
    mut stream: tonic::Streaming<M>,
    what: &'static str,
    header_of: impl FnOnce(M) -> Option<Result<H, Error>>,
    part_of: fn(M) -> Result<P, Error>,
) -> Result<(H, BoxStream<'static, Result<P, Error>>), tonic::Status>
where
    M: Send + 'static,
    P: Send + 'static,
{
    let header = match stream.message().await? {
        Some(first) => header_of(first).unwrap_or_else(|| {
            Err(Error::invalid(
                "header",
                "the first message of the stream must be the header",
            ))
        })?,
        None => return Err(Error::invalid("header", "the stream is empty").into()),
    };
    let parts = stream.map(move |message| match message {
        Ok(message) => part_of(message),
        // tonic's decoder refuses a message over `server.max_message_bytes` with OUT_OF_RANGE;
        // for an upload that is a limit passed, like a page too large.
        Err(status) if status.code() == tonic::Code::OutOfRange => {
            Err(Error::ResourceExhausted(format!(
                "a message of the {what} is too large; send smaller chunks ({})",
                status.message()
            )))
        }
        Err(status) => Err(Error::Cancelled(format!(
            "the {what} stream broke off before it ended: {}",
            status.message()
        ))),
    });
    Ok((header, parts.boxed()))
}
