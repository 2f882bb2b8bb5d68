//! The one place where domain errors become gRPC statuses. Backend failures are logged with
//! their cause chain and answered with an opaque message.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::Error;

/// The most bytes of an invalid argument's reason a caller is sent. Reasons quote the bad
/// value, which can be megabytes long; the status travels in the trailers (twice: message and
/// details), and trailers past the peer's header list limit fail the call without a status.
pub(super) const MAX_REASON_BYTES: usize = 1024;

/// `reason` cut to `MAX_REASON_BYTES` at a character boundary, ending in `…` when cut.
fn bounded(mut reason: String) -> String {
    if reason.len() > MAX_REASON_BYTES {
        let mut end = MAX_REASON_BYTES - '…'.len_utf8();
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument { field, reason } => {
                let reason = bounded(reason);
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("{field}: {reason}"),
                    ErrorDetails::with_bad_request_violation(field, reason),
                )
            }
            Error::NotFound(message) => Status::not_found(message),
            Error::AlreadyExists(message) => Status::already_exists(message),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::Aborted(message) => Status::aborted(message),
            Error::ResourceExhausted(message) => Status::resource_exhausted(message),
            Error::DeadlineExceeded(message) => {
                tracing::info!(%message, "call abandoned");
                Status::deadline_exceeded(message)
            }
            Error::Cancelled(message) => {
                tracing::info!(%message, "call cancelled by the caller");
                Status::cancelled(message)
            }
            Error::Unavailable(source) => {
                tracing::warn!(error = format!("{source:#}"), "backend unavailable");
                Status::unavailable("the archive's storage is unavailable; retry later")
            }
            Error::Unexpected(source) => {
                tracing::error!(error = format!("{source:#}"), "unexpected error");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_argument_names_the_field_in_message_and_details() {
        let status = Status::from(Error::invalid("customer.account_number", "must be digits"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "customer.account_number: must be digits");
        let details = status.get_error_details();
        let violations = &details.bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, "customer.account_number");
    }

    #[test]
    fn an_unexpected_error_hides_its_cause() {
        let status = Status::from(Error::Unexpected(anyhow::anyhow!("password=secret leaked")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn a_backend_outage_is_unavailable() {
        let status = Status::from(Error::Unavailable(anyhow::anyhow!("connection refused")));
        assert_eq!(status.code(), Code::Unavailable);
    }
}
