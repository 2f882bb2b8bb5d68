//! Storage errors, translated from sqlx and object_store where they arise.

/// What the storage layer fails with. Conflicts the domain cares about (a duplicate key) are
/// not errors here: the operations that can meet them return `Option`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An object the caller named does not exist.
    #[error("object {0} not found")]
    NotFound(String),
    /// A page content this change uses was being deleted (its deletion claimed) while it was
    /// uploaded; retrying uploads it again once the deletion is done.
    #[error("a page content was destroyed during the upload")]
    ContentDestroyed,
    /// The backend could not be reached or is overloaded; a retry may succeed.
    #[error("backend unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The backend answered with something that should not happen.
    #[error("unexpected backend error")]
    Unexpected(#[source] anyhow::Error),
}

impl From<sqlx::Error> for StorageError {
    fn from(error: sqlx::Error) -> Self {
        let transient = match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // Class 08: connection exception; 53: insufficient resources; 57P0x: shutting down.
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0")
            }),
            _ => false,
        };
        if transient {
            Self::Unavailable(error.into())
        } else {
            Self::Unexpected(error.into())
        }
    }
}

impl From<object_store::Error> for StorageError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { path, .. } => Self::NotFound(path),
            // Generic covers the HTTP client's failures: connection refused, timeouts, 5xx.
            error @ object_store::Error::Generic { .. } => Self::Unavailable(error.into()),
            error => Self::Unexpected(error.into()),
        }
    }
}
