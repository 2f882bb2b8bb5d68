//! The errors of the archive's rules and use cases: the ones a caller can act on, plus two
//! opaque buckets for backend trouble whose cause is logged, not returned.

use crate::storage::StorageError;

/// Everything a domain operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is malformed; `field` names it as the caller spelled it.
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// The named resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A resource with the same key exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The caller's role or scope does not allow the operation.
    #[error("{0}")]
    PermissionDenied(String),
    /// The request is well-formed but the archive's state does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A concurrent change got in the way: retrying is safe, or (a stale expected version)
    /// the caller must read again and decide.
    #[error("{0}")]
    Aborted(String),
    /// A size or count limit was exceeded; the message says which.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The caller's stream stalled for longer than the server waits.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The caller broke off its stream before it was complete.
    #[error("{0}")]
    Cancelled(String),
    /// A backend (PostgreSQL or the object store) is not reachable right now.
    #[error("a backend is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else: a bug or a backend answer that makes no sense.
    #[error("unexpected error")]
    Unexpected(#[source] anyhow::Error),
}

impl Error {
    /// Builds an `InvalidArgument` for `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }

    /// The gRPC status code name, as the audit trail records it.
    pub fn code_name(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } => "invalid_argument",
            Self::NotFound(_) => "not_found",
            Self::AlreadyExists(_) => "already_exists",
            Self::PermissionDenied(_) => "permission_denied",
            Self::FailedPrecondition(_) => "failed_precondition",
            Self::Aborted(_) => "aborted",
            Self::ResourceExhausted(_) => "resource_exhausted",
            Self::DeadlineExceeded(_) => "deadline_exceeded",
            Self::Cancelled(_) => "cancelled",
            Self::Unavailable(_) => "unavailable",
            Self::Unexpected(_) => "internal",
        }
    }
}

impl From<StorageError> for Error {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable(source) => Self::Unavailable(source),
            StorageError::TimedOut(_) => Self::DeadlineExceeded(
                "the database did not finish within its time limit \
                 (database.statement_timeout_secs); retry, or narrow the request"
                    .into(),
            ),
            StorageError::ContentDestroyed => Self::Aborted(
                "a page's content was being deleted while this call uploaded it; retry the call \
                 in a few seconds"
                    .into(),
            ),
            StorageError::Conflicted(_) => Self::Aborted(
                "a concurrent change to the same records aborted this one; retry the call".into(),
            ),
            other => Self::Unexpected(other.into()),
        }
    }
}
