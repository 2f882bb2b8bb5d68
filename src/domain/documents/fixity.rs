//! Fixity: stored pages are re-read now and then and re-hashed against their content address,
//! so a page the store lost or corrupted is found by a scrub rather than by the reader who
//! needed it. Each check is recorded on its content; the failures are listed by
//! `custodian fixity-failures`.

use futures::StreamExt as _;
use sha2::{Digest, Sha256};

use crate::domain::{Archive, Error, Sha256Digest};
use crate::storage::StorageError;

/// What re-reading one page content found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixityOutcome {
    /// The bytes hash to the content's address.
    Intact,
    /// The bytes hash to another digest.
    Mismatch(Sha256Digest),
    /// The store has no object under the content's key.
    Missing,
}

impl FixityOutcome {
    /// What is recorded on the content: nothing when it is intact.
    pub fn failure(&self) -> Option<String> {
        match self {
            Self::Intact => None,
            Self::Mismatch(actual) => {
                Some(format!("mismatch: the bytes hash to {}", actual.to_hex()))
            }
            Self::Missing => Some("missing: the store has no object".into()),
        }
    }

    /// The outcome's name, for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Intact => "intact",
            Self::Mismatch(_) => "mismatch",
            Self::Missing => "missing",
        }
    }
}

/// What one scrub checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixityScrub {
    /// Each content checked and what was found.
    pub checked: Vec<(Sha256Digest, FixityOutcome)>,
    /// Contents the store could not be asked about (down, timing out): checked again later.
    pub unreachable: usize,
}

impl Archive {
    /// Re-reads the `count` contents checked longest ago, re-hashes them and records what each
    /// check found.
    pub async fn scrub_pages(&self, count: u32) -> Result<FixityScrub, Error> {
        let mut scrub = FixityScrub::default();
        for sha256 in self.db.claim_fixity_checks(count).await? {
            let outcome = match self.check_fixity(&sha256).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    tracing::warn!(content = %sha256.to_hex(), error = %error, "fixity not checked: the store did not answer");
                    scrub.unreachable += 1;
                    continue;
                }
            };
            self.db
                .record_fixity_check(&sha256, outcome.failure().as_deref())
                .await?;
            scrub.checked.push((sha256, outcome));
        }
        Ok(scrub)
    }

    async fn check_fixity(&self, sha256: &Sha256Digest) -> Result<FixityOutcome, StorageError> {
        let mut bytes = match self.pages.read(sha256).await {
            Ok(bytes) => bytes,
            Err(StorageError::NotFound(_)) => return Ok(FixityOutcome::Missing),
            Err(error) => return Err(error),
        };
        let mut hasher = Sha256::new();
        while let Some(chunk) = bytes.next().await {
            hasher.update(chunk?);
        }
        let actual = Sha256Digest(hasher.finalize().into());
        Ok(if actual == *sha256 {
            FixityOutcome::Intact
        } else {
            FixityOutcome::Mismatch(actual)
        })
    }
}
