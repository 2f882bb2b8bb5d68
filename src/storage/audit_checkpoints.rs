//! Signed checkpoints of the audit chain's head in the object store, under
//! `audit-checkpoints/{seq, 20 digits}.json`, apart from the page objects and out of the
//! database administrators' reach. Keys sort by sequence number, so the newest checkpoint is
//! the last key listed.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::StorageError;
use crate::domain::SignedCheckpoint;

const PREFIX: &str = "audit-checkpoints";

/// Where the last verification that found the chain intact stopped (a signed checkpoint
/// too), apart from the head's checkpoints so that it is never taken for the newest one.
const VERIFIED: &str = "audit-verified/mark.json";

#[derive(Clone, Debug)]
pub struct AuditCheckpoints {
    store: Arc<dyn ObjectStore>,
}

impl AuditCheckpoints {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Stores a checkpoint; one of the same sequence number is replaced.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "put_checkpoint"))]
    pub async fn write(&self, signed: &SignedCheckpoint) -> Result<(), StorageError> {
        let key = Path::from(format!("{PREFIX}/{:020}.json", signed.checkpoint.seq));
        self.store
            .put(&key, PutPayload::from(signed.to_json().into_bytes()))
            .await?;
        Ok(())
    }

    /// The checkpoint of the highest sequence number, if any was written.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "latest_checkpoint"))]
    pub async fn latest(&self) -> Result<Option<SignedCheckpoint>, StorageError> {
        let newest = self
            .store
            .list(Some(&Path::from(PREFIX)))
            .try_fold(None::<Path>, |newest, meta| async move {
                Ok(match newest {
                    Some(newest) if newest.as_ref() >= meta.location.as_ref() => Some(newest),
                    _ => Some(meta.location),
                })
            })
            .await?;
        let Some(key) = newest else {
            return Ok(None);
        };
        let bytes = self.store.get(&key).await?.bytes().await?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            StorageError::Unexpected(anyhow::anyhow!("checkpoint {key} is not UTF-8"))
        })?;
        SignedCheckpoint::from_json(text)
            .map(Some)
            .map_err(|reason| {
                StorageError::Unexpected(anyhow::anyhow!("checkpoint {key}: {reason}"))
            })
    }

    /// Records where a verification found the chain intact, for the next one to resume at.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "put_verified_mark"))]
    pub async fn write_verified(&self, signed: &SignedCheckpoint) -> Result<(), StorageError> {
        self.store
            .put(
                &Path::from(VERIFIED),
                PutPayload::from(signed.to_json().into_bytes()),
            )
            .await?;
        Ok(())
    }

    /// Where the last verification found the chain intact, if one did.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "get_verified_mark"))]
    pub async fn verified(&self) -> Result<Option<SignedCheckpoint>, StorageError> {
        let bytes = match self.store.get(&Path::from(VERIFIED)).await {
            Ok(object) => object.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            StorageError::Unexpected(anyhow::anyhow!("the verified mark is not UTF-8"))
        })?;
        SignedCheckpoint::from_json(text)
            .map(Some)
            .map_err(|reason| {
                StorageError::Unexpected(anyhow::anyhow!("the verified mark: {reason}"))
            })
    }
}
