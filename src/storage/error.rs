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
    /// PostgreSQL cancelled a statement that ran past its `statement_timeout`.
    #[error("the database statement ran past its time limit")]
    TimedOut(#[source] anyhow::Error),
    /// PostgreSQL aborted the transaction for a concurrent one (SQLSTATE class 40: a deadlock
    /// or a serialization failure); the same call retried may succeed.
    #[error("the transaction was aborted for a concurrent one")]
    Conflicted(#[source] anyhow::Error),
    /// The backend could not be reached or is overloaded; a retry may succeed.
    #[error("backend unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The backend answered with something that should not happen.
    #[error("unexpected backend error")]
    Unexpected(#[source] anyhow::Error),
}

impl StorageError {
    /// The SQLSTATE PostgreSQL answered with, if this is its refusal of a statement.
    pub fn sqlstate(&self) -> Option<String> {
        let (Self::Unavailable(source) | Self::Unexpected(source) | Self::Conflicted(source)) =
            self
        else {
            return None;
        };
        match source.downcast_ref::<sqlx::Error>()? {
            sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
            _ => None,
        }
    }

    /// Whether the database refused the values a statement carries, so that the same values
    /// fail the same way however often they are retried: SQLSTATE class 22 (data exception,
    /// e.g. a NUL byte in text), 23 (integrity constraint violation) or 54 (program limit
    /// exceeded, e.g. an index row too large), or values the driver could not encode. Anything
    /// else (the database down, overloaded, out of privileges, a failing trigger of its own)
    /// is not the data's fault.
    pub fn rejects_data(&self) -> bool {
        if let Some(code) = self.sqlstate() {
            return ["22", "23", "54"]
                .iter()
                .any(|class| code.starts_with(class));
        }
        let (Self::Unavailable(source) | Self::Unexpected(source)) = self else {
            return false;
        };
        matches!(
            source.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Encode(_))
        )
    }
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
        // 57014: query_canceled, what statement_timeout answers.
        let timed_out =
            matches!(&error, sqlx::Error::Database(db) if db.code().as_deref() == Some("57014"));
        let conflicted = matches!(&error,
            sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("40")));
        if timed_out {
            Self::TimedOut(error.into())
        } else if conflicted {
            Self::Conflicted(error.into())
        } else if transient {
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A database refusal with only a SQLSTATE, as PostgreSQL's would carry.
    #[derive(Debug)]
    struct Refusal(&'static str);

    impl std::fmt::Display for Refusal {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "refused with {}", self.0)
        }
    }

    impl std::error::Error for Refusal {}

    impl sqlx::error::DatabaseError for Refusal {
        fn message(&self) -> &str {
            "refused"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn refused(code: &'static str) -> StorageError {
        sqlx::Error::Database(Box::new(Refusal(code))).into()
    }

    #[test]
    fn deadlocks_and_serialization_failures_are_conflicts_a_retry_may_clear() {
        for code in ["40P01", "40001"] {
            let error = refused(code);
            assert!(matches!(error, StorageError::Conflicted(_)), "{code}");
            assert_eq!(error.sqlstate().as_deref(), Some(code));
            assert!(!error.rejects_data());
        }
        assert!(matches!(refused("57014"), StorageError::TimedOut(_)));
        assert!(matches!(refused("08006"), StorageError::Unavailable(_)));
        assert!(matches!(refused("23505"), StorageError::Unexpected(_)));
        assert!(refused("23505").rejects_data());
    }
}
