//! The framing of client-streaming uploads (a filing, a correction): a header first, then the
//! parts; a stalled or broken stream and an oversized message are mapped to statuses once,
//! here, and an upload that fails before its header is read is recorded here too.

use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::domain::{Actor, Archive, Error};

/// Splits a streamed upload (a filing or a correction) into the header that must open it and
/// the parts after it. `header_of` answers `None` for a first message that is not a header.
///
/// The header must arrive within the filing idle timeout (`limits.filing_idle_timeout_secs`),
/// like every later message: a caller that opens the stream and sends nothing would otherwise
/// hold its place among the calls in flight for ever. An upload refused here never reaches its
/// use case, so its refusal is recorded here as `action` by `actor`.
pub(super) async fn split_upload<M, H, P>(
    archive: &Archive,
    actor: &Actor,
    action: &'static str,
    mut stream: tonic::Streaming<M>,
    what: &'static str,
    header_of: impl FnOnce(M) -> Option<Result<H, Error>>,
    part_of: fn(M) -> Result<P, Error>,
) -> Result<(H, BoxStream<'static, Result<P, Error>>), tonic::Status>
where
    M: Send + 'static,
    P: Send + 'static,
{
    let idle_timeout = archive.filing_idle_timeout();
    let header = match read_header(&mut stream, what, idle_timeout, header_of).await {
        Ok(header) => header,
        Err(error) => {
            archive.record_failed_call(actor, action, &error).await;
            return Err(error.into());
        }
    };
    let parts = stream.map(move |message| match message {
        Ok(message) => part_of(message),
        Err(status) => Err(stream_error(what, status)),
    });
    Ok((header, parts.boxed()))
}

async fn read_header<M, H>(
    stream: &mut tonic::Streaming<M>,
    what: &'static str,
    idle_timeout: Duration,
    header_of: impl FnOnce(M) -> Option<Result<H, Error>>,
) -> Result<H, Error> {
    let first = tokio::time::timeout(idle_timeout, stream.message())
        .await
        .map_err(|_| {
            Error::DeadlineExceeded(format!(
                "no message of the {what} arrived within {} s; send the header first",
                idle_timeout.as_secs()
            ))
        })?
        .map_err(|status| stream_error(what, status))?;
    match first {
        Some(first) => header_of(first).unwrap_or_else(|| {
            Err(Error::invalid(
                "header",
                "the first message of the stream must be the header",
            ))
        }),
        None => Err(Error::invalid("header", "the stream is empty")),
    }
}

/// What a failed read of an upload's stream means to the caller.
fn stream_error(what: &str, status: tonic::Status) -> Error {
    match status.code() {
        // tonic's decoder refuses a message over `server.max_message_bytes` with OUT_OF_RANGE;
        // for an upload that is a limit passed, like a page too large.
        tonic::Code::OutOfRange => Error::ResourceExhausted(format!(
            "a message of the {what} is too large; send smaller chunks ({})",
            status.message()
        )),
        _ => Error::Cancelled(format!(
            "the {what} stream broke off before it ended: {}",
            status.message()
        )),
    }
}
