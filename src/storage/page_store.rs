//! Page objects in the object store, addressed by the SHA-256 of their bytes.
//!
//! A page's key is `pages/sha256/{first two hex digits}/{hex}`, so identical pages are stored
//! once. Pages up to one part are buffered and written with a single PUT under their final key.
//! Larger pages stream as a multipart upload to `staging/{uuid}` (the digest is only known at
//! the end) and are then copied to their key. An interrupted filing can therefore leave an
//! incomplete multipart upload or a `staging/` object behind: both are invisible to callers;
//! operators should let a bucket lifecycle rule expire them (see the README).

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayloadMut, WriteMultipart};
use uuid::Uuid;

use super::StorageError;
use crate::domain::Sha256Digest;

/// Part size of multipart uploads, and so the most one page upload buffers in memory.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// The page objects of the archive.
#[derive(Clone, Debug)]
pub struct PageStore {
    store: Arc<dyn ObjectStore>,
}

impl PageStore {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Starts writing one page.
    pub fn begin_upload(&self) -> PageUpload {
        PageUpload {
            store: Arc::clone(&self.store),
            buffer: PutPayloadMut::new(),
            multipart: None,
        }
    }

    /// Streams the bytes of the page with this digest.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "read"))]
    pub async fn read(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let object = self.store.get(&content_key(sha256)).await?;
        Ok(object.into_stream().map_err(StorageError::from).boxed())
    }

    /// Deletes the object of a destroyed content; one already gone is fine.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "delete"))]
    pub async fn delete(&self, sha256: &Sha256Digest) -> Result<(), StorageError> {
        match self.store.delete(&content_key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Succeeds when the store answers a listing.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.store
            .list_with_delimiter(Some(&Path::from("pages")))
            .await?;
        Ok(())
    }
}

fn content_key(sha256: &Sha256Digest) -> Path {
    let hex = sha256.to_hex();
    Path::from(format!("pages/sha256/{}/{hex}", &hex[..2]))
}

/// One page being written; nothing is under the page's key until [`PageUpload::finish`].
pub struct PageUpload {
    store: Arc<dyn ObjectStore>,
    buffer: PutPayloadMut,
    multipart: Option<(Path, WriteMultipart)>,
}

impl PageUpload {
    /// Adds the next bytes of the page.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), StorageError> {
        if let Some((_, upload)) = self.multipart.as_mut() {
            upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            upload.put(bytes);
            return Ok(());
        }
        self.buffer.push(bytes);
        if self.buffer.content_length() >= PART_SIZE {
            let staging = Path::from(format!("staging/{}", Uuid::new_v4()));
            let mut upload = WriteMultipart::new_with_chunk_size(
                self.store.put_multipart(&staging).await?,
                PART_SIZE,
            );
            for chunk in std::mem::take(&mut self.buffer).freeze() {
                upload.put(chunk);
            }
            self.multipart = Some((staging, upload));
        }
        Ok(())
    }

    /// Whether the page has grown past one part and streams as a multipart upload.
    pub fn is_multipart(&self) -> bool {
        self.multipart.is_some()
    }

    /// Stores the page under the key of `sha256`, which the caller computed over the bytes.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "finish"))]
    pub async fn finish(mut self, sha256: &Sha256Digest) -> Result<(), StorageError> {
        let key = content_key(sha256);
        match self.multipart.take() {
            None => {
                // No HEAD first: the key is the content's digest, so overwriting an object
                // already there writes the same bytes, and a new page (the common case)
                // costs one round trip instead of two.
                let buffer = std::mem::take(&mut self.buffer);
                self.store.put(&key, buffer.freeze()).await?;
            }
            Some((staging, upload)) => {
                upload.finish().await?;
                let copied = match exists(self.store.as_ref(), &key).await {
                    Ok(true) => Ok(()),
                    Ok(false) => self.store.copy(&staging, &key).await.map_err(Into::into),
                    Err(error) => Err(error),
                };
                if let Err(error) = self.store.delete(&staging).await {
                    tracing::warn!(%staging, error = %error, "could not delete a staging object");
                }
                copied?;
            }
        }
        Ok(())
    }

    /// Gives up the page, removing the parts written so far.
    pub async fn abort(mut self) {
        if let Some((staging, upload)) = self.multipart.take() {
            abort_multipart(staging, upload).await;
        }
    }
}

/// A filing whose caller vanished is dropped mid-page, without `abort`: remove its parts in
/// the background rather than leave an incomplete upload behind.
impl Drop for PageUpload {
    fn drop(&mut self) {
        if let Some((staging, upload)) = self.multipart.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            tracing::info!(%staging, "aborting the upload of an abandoned page");
            runtime.spawn(abort_multipart(staging, upload));
        }
    }
}

async fn abort_multipart(staging: Path, upload: WriteMultipart) {
    if let Err(error) = upload.abort().await {
        tracing::warn!(%staging, error = %error, "could not abort a page upload");
    }
}

async fn exists(store: &dyn ObjectStore, key: &Path) -> Result<bool, StorageError> {
    match store.head(key).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(error) => Err(error.into()),
    }
}
