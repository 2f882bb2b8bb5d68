//! Page objects in the object store, addressed by the SHA-256 of their bytes.
//!
//! A page's key is `pages/sha256/{first two hex digits}/{hex}`, so identical pages are stored
//! once. Pages up to one part are buffered and written with a single PUT under their final key.
//! Larger pages stream as a multipart upload. When the caller declared the page's SHA-256, the
//! upload goes straight to that key and completes only once the bytes proved to have that
//! digest (a multipart upload is invisible until completed); if the key already holds an object,
//! the bytes are only hashed, not stored again. Without a declared digest the upload goes to
//! `staging/{uuid}` (the digest is only known at the end) and is then copied to its key. An
//! interrupted filing can therefore leave a page object no row refers to, a `staging/` object
//! or an incomplete multipart upload behind, all invisible to callers. The orphan collector
//! (`Archive::collect_orphans`) removes the first two; object_store cannot list incomplete
//! multipart uploads, so a bucket lifecycle rule must abort those (see the README).
//!
//! Renditions (a page's thumbnail and preview) live under `renditions/{kind}/`, keyed by the
//! content address of the page they show: a content is rendered once however many pages carry
//! it, and its renditions are deleted with it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayloadMut, WriteMultipart};
use uuid::Uuid;

use super::StorageError;
use crate::domain::{RenditionKind, Sha256Digest};

/// Part size of multipart uploads, and so the most one page upload buffers in memory.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// How long a page read may wait for the store's next bytes, unless the settings say.
const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The page objects of the archive.
#[derive(Clone, Debug)]
pub struct PageStore {
    store: Arc<dyn ObjectStore>,
    /// The same objects through a client without a whole-request timeout, for page reads.
    reads: Arc<dyn ObjectStore>,
    read_idle_timeout: Duration,
}

impl PageStore {
    /// A page store that reads through the same client it writes with.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self::with_reads(Arc::clone(&store), store, READ_IDLE_TIMEOUT)
    }

    /// A page store that reads pages through `reads`, failing a read when the store sends
    /// nothing for `read_idle_timeout` while it is waited for.
    pub fn with_reads(
        store: Arc<dyn ObjectStore>,
        reads: Arc<dyn ObjectStore>,
        read_idle_timeout: Duration,
    ) -> Self {
        Self {
            store,
            reads,
            read_idle_timeout,
        }
    }

    /// Starts writing one page, with the digest the caller declared for it if any.
    pub fn begin_upload(&self, declared: Option<&Sha256Digest>) -> PageUpload {
        PageUpload {
            store: Arc::clone(&self.store),
            declared_key: declared.map(content_key),
            buffer: PutPayloadMut::new(),
            large: None,
        }
    }

    /// Streams the bytes of the page with this digest. The stream waits for the store at most
    /// the idle timeout each time it is polled; how long the reader takes between polls does
    /// not count.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "read"))]
    pub async fn read(
        &self,
        sha256: &Sha256Digest,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        self.stream(&content_key(sha256), None).await
    }

    /// Streams `range` (all when `None`) of the content with this digest, for a page link.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "read_range"))]
    pub async fn read_range(
        &self,
        sha256: &Sha256Digest,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        self.stream(&content_key(sha256), range).await
    }

    /// Streams `range` (all when `None`) of the rendition of `kind` made of the content
    /// `source`, as [`PageStore::read`] streams a page.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "read_rendition"))]
    pub async fn read_rendition(
        &self,
        kind: RenditionKind,
        source: &Sha256Digest,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        self.stream(&rendition_key(kind, source), range).await
    }

    /// Stores the rendition of `kind` made of the content `source`. The same content always
    /// renders to the same bytes, so a second worker's write of it changes nothing.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "put_rendition"))]
    pub async fn put_rendition(
        &self,
        kind: RenditionKind,
        source: &Sha256Digest,
        bytes: Bytes,
    ) -> Result<(), StorageError> {
        self.store
            .put(&rendition_key(kind, source), bytes.into())
            .await?;
        Ok(())
    }

    /// Deletes every rendition of the content `source`; those never made are fine.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "delete_renditions"))]
    pub async fn delete_renditions(&self, source: &Sha256Digest) -> Result<(), StorageError> {
        for kind in RenditionKind::ALL {
            match self.store.delete(&rendition_key(kind, source)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// The bytes of `range` of an object, each wait for the store bounded by the idle timeout.
    async fn stream(
        &self,
        key: &Path,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let idle = self.read_idle_timeout;
        let options = object_store::GetOptions {
            range: range.map(object_store::GetRange::Bounded),
            ..Default::default()
        };
        let object = tokio::time::timeout(idle, self.reads.get_opts(key, options))
            .await
            .map_err(|_| silent_store(idle))??;
        let bytes = object.into_stream().map_err(StorageError::from).boxed();
        Ok(idle_limited(bytes, idle))
    }

    /// Deletes the object of a destroyed content; one already gone is fine.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "delete"))]
    pub async fn delete(&self, sha256: &Sha256Digest) -> Result<(), StorageError> {
        match self.store.delete(&content_key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Every page object with when it was last written, in no particular order. Keys that are
    /// not a content address are skipped.
    pub fn list_contents(
        &self,
    ) -> BoxStream<'static, Result<(Sha256Digest, DateTime<Utc>), StorageError>> {
        self.store
            .list(Some(&Path::from(CONTENTS)))
            .map_err(StorageError::from)
            .try_filter_map(|meta| async move {
                let parsed = meta
                    .location
                    .filename()
                    .and_then(|name| Sha256Digest::parse_hex(name).ok());
                if parsed.is_none() {
                    tracing::warn!(key = %meta.location, "an object among the pages is not a content address");
                }
                Ok(parsed.map(|sha256| (sha256, meta.last_modified)))
            })
            .boxed()
    }

    /// Every `staging/` object (a large page without a declared digest, before it is copied
    /// to its content key) with when it was written.
    pub fn list_staging(
        &self,
    ) -> BoxStream<'static, Result<(String, DateTime<Utc>), StorageError>> {
        self.store
            .list(Some(&Path::from(STAGING)))
            .map_ok(|meta| (meta.location.to_string(), meta.last_modified))
            .map_err(StorageError::from)
            .boxed()
    }

    /// Deletes a `staging/` object; one already gone is fine.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "delete_staging"))]
    pub async fn delete_staging(&self, key: &str) -> Result<(), StorageError> {
        let path = Path::from(key);
        if path.prefix_match(&Path::from(STAGING)).is_none() {
            return Err(StorageError::Unexpected(anyhow::anyhow!(
                "{key} is not a staging object"
            )));
        }
        match self.store.delete(&path).await {
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

/// Fails the stream when its source yields nothing for `idle` while polled. The timer starts
/// when the reader asks for the next bytes, not when it got the last: a reader's own pauses
/// never count.
fn idle_limited(
    bytes: BoxStream<'static, Result<Bytes, StorageError>>,
    idle: Duration,
) -> BoxStream<'static, Result<Bytes, StorageError>> {
    futures::stream::unfold(Some(bytes), move |bytes| async move {
        let mut bytes = bytes?;
        match tokio::time::timeout(idle, bytes.next()).await {
            Ok(Some(next)) => Some((next, Some(bytes))),
            Ok(None) => None,
            Err(_) => Some((Err(silent_store(idle)), None)),
        }
    })
    .boxed()
}

fn silent_store(idle: Duration) -> StorageError {
    StorageError::Unavailable(anyhow::anyhow!(
        "the object store sent nothing for {} s",
        idle.as_secs()
    ))
}

/// Where page objects live, below their content address.
const CONTENTS: &str = "pages/sha256";
/// Where large pages without a declared digest are written before they are copied.
const STAGING: &str = "staging";

pub(super) fn content_key(sha256: &Sha256Digest) -> Path {
    let hex = sha256.to_hex();
    Path::from(format!("{CONTENTS}/{}/{hex}", &hex[..2]))
}

/// Where renditions live: apart from the pages, so that the orphan collector, which lists
/// `pages/`, never mistakes one for a page.
const RENDITIONS: &str = "renditions";

/// A rendition's key, by its kind and the content address of its source page.
pub(super) fn rendition_key(kind: RenditionKind, source: &Sha256Digest) -> Path {
    let hex = source.to_hex();
    Path::from(format!(
        "{RENDITIONS}/{}/{}/{hex}.jpg",
        kind.as_str(),
        &hex[..2]
    ))
}

/// One page being written; nothing is under the page's key until [`PageUpload::finish`].
pub struct PageUpload {
    store: Arc<dyn ObjectStore>,
    /// The key of the digest the caller declared, which the bytes must prove at the end.
    declared_key: Option<Path>,
    buffer: PutPayloadMut,
    large: Option<LargePage>,
}

/// Where the bytes of a page larger than one part go.
enum LargePage {
    /// A multipart upload: straight to the declared content key, completed only if the digest
    /// proves right; without a declared digest to `staging/{uuid}`, copied to its key at the end.
    Uploading(Path, WriteMultipart),
    /// The declared content is stored already: the bytes are hashed by the caller, not stored.
    Present,
}

impl PageUpload {
    /// Adds the next bytes of the page.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), StorageError> {
        match self.large.as_mut() {
            Some(LargePage::Uploading(_, upload)) => {
                upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                upload.put(bytes);
                return Ok(());
            }
            Some(LargePage::Present) => return Ok(()),
            None => {}
        }
        self.buffer.push(bytes);
        if self.buffer.content_length() >= PART_SIZE {
            let buffered = std::mem::take(&mut self.buffer).freeze();
            let large = begin_large(&self.store, self.declared_key.as_ref()).await?;
            if let LargePage::Uploading(_, upload) = self.large.insert(large) {
                for chunk in buffered {
                    upload.put(chunk);
                }
            }
        }
        Ok(())
    }

    /// Whether the page has grown past one part: it streams as a multipart upload, or is
    /// only hashed because the store holds it already.
    pub fn is_multipart(&self) -> bool {
        self.large.is_some()
    }

    /// Stores the page under the key of `sha256`, which the caller computed over the bytes and
    /// compared with the declared digest, if any.
    #[tracing::instrument(name = "object_store", skip_all, err, fields(object_store.operation = "finish"))]
    pub async fn finish(mut self, sha256: &Sha256Digest) -> Result<(), StorageError> {
        let key = content_key(sha256);
        if self
            .declared_key
            .as_ref()
            .is_some_and(|declared| *declared != key)
        {
            // The caller must refuse a page whose digest differs from the declared one before
            // it gets here; completing it would put wrong bytes under another content's key.
            return Err(StorageError::Unexpected(anyhow::anyhow!(
                "a page upload finished with a digest other than the declared one"
            )));
        }
        match self.large.take() {
            None => {
                // No HEAD first: the key is the content's digest, so overwriting an object
                // already there writes the same bytes, and a new page (the common case)
                // costs one round trip instead of two.
                let buffer = std::mem::take(&mut self.buffer);
                self.store.put(&key, buffer.freeze()).await?;
            }
            Some(LargePage::Present) => {}
            // Uploaded under the declared key, which is `key` (checked above).
            Some(LargePage::Uploading(_, upload)) if self.declared_key.is_some() => {
                upload.finish().await?;
            }
            Some(LargePage::Uploading(staging, upload)) => {
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
        if let Some(LargePage::Uploading(key, upload)) = self.large.take() {
            abort_multipart(key, upload).await;
        }
    }
}

/// A filing whose caller vanished is dropped mid-page, without `abort`: remove its parts in
/// the background rather than leave an incomplete upload behind.
impl Drop for PageUpload {
    fn drop(&mut self) {
        if let Some(LargePage::Uploading(key, upload)) = self.large.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            tracing::info!(%key, "aborting the upload of an abandoned page");
            runtime.spawn(abort_multipart(key, upload));
        }
    }
}

/// Starts the multipart upload (or not) of a page that outgrew one part. Free of `PageUpload`,
/// whose `WriteMultipart` is not `Sync`, so the future stays `Send`.
async fn begin_large(
    store: &Arc<dyn ObjectStore>,
    declared_key: Option<&Path>,
) -> Result<LargePage, StorageError> {
    match declared_key {
        // One HEAD saves uploading a large page the archive holds already; overwriting it
        // would also disturb callers reading it meanwhile.
        Some(key) if exists(store.as_ref(), key).await? => Ok(LargePage::Present),
        Some(key) => multipart(store, key.clone()).await,
        None => multipart(store, Path::from(format!("{STAGING}/{}", Uuid::new_v4()))).await,
    }
}

async fn multipart(store: &Arc<dyn ObjectStore>, key: Path) -> Result<LargePage, StorageError> {
    let upload = store.put_multipart(&key).await?;
    Ok(LargePage::Uploading(
        key,
        WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
    ))
}

async fn abort_multipart(key: Path, upload: WriteMultipart) {
    if let Err(error) = upload.abort().await {
        tracing::warn!(%key, error = %error, "could not abort a page upload");
    }
}

async fn exists(store: &dyn ObjectStore, key: &Path) -> Result<bool, StorageError> {
    match store.head(key).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod contract;

#[cfg(test)]
impl PageStore {
    /// A page store over memory, for the tests of layers that may not name object_store.
    pub fn in_memory() -> Self {
        Self::new(Arc::new(object_store::memory::InMemory::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn a_reader_pausing_longer_than_the_idle_timeout_gets_every_chunk() {
        let source = futures::stream::iter([Ok(Bytes::from("a")), Ok(Bytes::from("b"))]).boxed();
        let mut bytes = idle_limited(source, IDLE);
        assert_eq!(bytes.next().await.unwrap().unwrap(), "a");
        tokio::time::sleep(IDLE * 10).await;
        assert_eq!(bytes.next().await.unwrap().unwrap(), "b");
        assert!(bytes.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_silent_for_the_idle_timeout_fails_the_read() {
        let source = futures::stream::iter([Ok(Bytes::from("a"))])
            .chain(futures::stream::pending())
            .boxed();
        let mut bytes = idle_limited(source, IDLE);
        assert_eq!(bytes.next().await.unwrap().unwrap(), "a");
        let started = tokio::time::Instant::now();
        let silent = bytes.next().await.unwrap().unwrap_err();
        assert!(matches!(silent, StorageError::Unavailable(_)), "{silent:?}");
        assert_eq!(started.elapsed(), IDLE);
        assert!(bytes.next().await.is_none(), "nothing after the failure");
    }
}
