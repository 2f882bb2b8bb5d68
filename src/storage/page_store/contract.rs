//! The page store's contract, written once and run over every backend it is deployed on, as
//! object_store does for its own: in memory, a local directory (the default
//! `object_store.kind = local` a newcomer runs first) and S3 on the SeaweedFS that `make test`
//! starts. Each case is a function of a [`Backend`]; `contract!` runs it on each.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::{PART_SIZE, PageStore, PageUpload, content_key};
use crate::domain::Sha256Digest;
use crate::storage::{
    LocalSettings, ObjectStoreKind, ObjectStoreSettings, S3Settings, StorageError,
    open_object_store,
};

/// What the S3 arm needs from the environment (`scripts/services.sh env` sets them).
const S3_VARIABLES: [&str; 4] = [
    "CUSTODIAN_OBJECT_STORE__S3__ENDPOINT",
    "CUSTODIAN_OBJECT_STORE__S3__BUCKET",
    "CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID",
    "CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY",
];

/// One backend under test: its objects (below its own prefix, for S3) and the page store over
/// them.
struct Backend {
    objects: Arc<dyn ObjectStore>,
    pages: PageStore,
    /// The local backend's directory, removed when the test ends.
    _directory: Option<TempDir>,
}

impl Backend {
    fn over(objects: Arc<dyn ObjectStore>, directory: Option<TempDir>) -> Self {
        Self {
            pages: PageStore::new(Arc::clone(&objects)),
            objects,
            _directory: directory,
        }
    }

    fn in_memory() -> Self {
        Self::over(Arc::new(InMemory::new()), None)
    }

    /// A directory that does not exist yet, opened as the server opens its default store.
    fn local_directory() -> Self {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let settings = ObjectStoreSettings {
            kind: ObjectStoreKind::Local,
            prefix: String::new(),
            local: LocalSettings {
                path: directory.path().join("objects"),
            },
            ..ObjectStoreSettings::default()
        };
        let objects = open_object_store(&settings).expect("the local store opens");
        Self::over(objects, Some(directory))
    }

    /// The test environment's bucket, below a prefix of this test's own.
    fn s3() -> Self {
        let settings = ObjectStoreSettings {
            kind: ObjectStoreKind::S3,
            prefix: format!("tests/page-store-contract/{}", uuid::Uuid::new_v4()),
            s3: Some(s3_settings()),
            ..ObjectStoreSettings::default()
        };
        let objects = open_object_store(&settings).expect("the S3 store opens");
        Self::over(objects, None)
    }

    /// Removes what the case stored, so S3 runs do not pile up pages in the shared bucket.
    async fn clear(&self) {
        let keys: Vec<_> = self
            .objects
            .list(None)
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .unwrap();
        for key in keys {
            self.objects.delete(&key).await.unwrap();
        }
    }
}

/// The S3 settings of the environment, read as the server reads them; a missing one fails
/// the test rather than skipping S3 unnoticed.
fn s3_settings() -> S3Settings {
    let environment: config::Map<String, String> = std::env::vars().collect();
    for name in S3_VARIABLES {
        assert!(
            environment.contains_key(name),
            "{name} is not set: the S3 arm of the page store contract runs against the \
             SeaweedFS that `make test` starts (or `scripts/with-services.sh -- cargo test`)"
        );
    }
    config::Config::builder()
        .add_source(
            config::Environment::with_prefix("CUSTODIAN")
                .prefix_separator("_")
                .separator("__")
                .source(Some(environment)),
        )
        .build()
        .and_then(|settings| settings.get::<S3Settings>("object_store.s3"))
        .expect("the CUSTODIAN_OBJECT_STORE__S3__* settings are valid")
}

/// Runs each case on every backend, as `{backend}::{case}` tests.
macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        contract!(@backend in_memory, $($case),+);
        contract!(@backend local_directory, $($case),+);
        contract!(@backend s3, $($case),+);
    };
    (@backend $backend:ident, $($case:ident),+) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = super::Backend::$backend();
                    super::$case(&backend).await;
                    backend.clear().await;
                }
            )+
        }
    };
}

contract!(
    a_small_page_reads_back_byte_for_byte_from_its_content_address,
    a_large_page_reads_back_byte_for_byte,
    the_same_bytes_are_stored_once,
    a_large_page_with_its_declared_digest_is_stored_under_its_key_alone,
    a_large_page_that_does_not_prove_its_declared_digest_stores_nothing,
    an_aborted_large_page_stores_nothing,
    a_large_page_the_store_holds_already_is_not_written_again,
    a_large_page_without_a_declared_digest_is_copied_from_staging_which_is_removed,
    a_missing_page_is_the_stores_not_found,
    a_deleted_page_is_gone_and_deleting_it_again_is_fine,
    ping_answers_on_an_empty_store_and_on_one_with_pages,
    the_listings_name_each_page_object_and_each_staging_object,
);

fn large_page(seed: u8) -> Bytes {
    Bytes::from(vec![seed; PART_SIZE + 1024])
}

/// A page whose bytes differ along its length, so a part stored out of order would show.
fn page_of(seed: u8, length: usize) -> Bytes {
    (0..length)
        .map(|at| ((at as u32).wrapping_mul(2_654_435_761) >> 24) as u8 ^ seed)
        .collect::<Vec<u8>>()
        .into()
}

fn digest(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest(Sha256::digest(bytes).into())
}

async fn upload(store: &PageStore, bytes: &Bytes, declared: Option<&Sha256Digest>) -> PageUpload {
    let mut upload = store.begin_upload(declared);
    for at in (0..bytes.len()).step_by(1 << 20) {
        let end = (at + (1 << 20)).min(bytes.len());
        upload.write(bytes.slice(at..end)).await.unwrap();
    }
    upload
}

async fn stored(objects: &Arc<dyn ObjectStore>, sha256: &Sha256Digest) -> Bytes {
    let object = objects.get(&content_key(sha256)).await.unwrap();
    object.bytes().await.unwrap()
}

/// Stores a whole page and finishes it under its digest, which it returns.
async fn store_page(store: &PageStore, bytes: &Bytes, declare: bool) -> Sha256Digest {
    let sha256 = digest(bytes);
    upload(store, bytes, declare.then_some(&sha256))
        .await
        .finish(&sha256)
        .await
        .unwrap();
    sha256
}

/// The page's bytes as [`PageStore::read`] streams them.
async fn read_back(store: &PageStore, sha256: &Sha256Digest) -> Bytes {
    let chunks: Vec<Bytes> = store
        .read(sha256)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat().into()
}

async fn assert_not_found(store: &PageStore, sha256: &Sha256Digest) {
    match store.read(sha256).await {
        Err(StorageError::NotFound(_)) => {}
        Err(error) => panic!("expected the store's not-found error, got {error:?}"),
        Ok(_) => panic!("page {sha256:?} was found"),
    }
}

async fn keys(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    let mut keys: Vec<String> = store
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

async fn a_small_page_reads_back_byte_for_byte_from_its_content_address(backend: &Backend) {
    let page = page_of(5, 100_000);
    let sha256 = digest(&page);

    let upload = upload(&backend.pages, &page, None).await;
    assert!(!upload.is_multipart());
    upload.finish(&sha256).await.unwrap();

    let hex = sha256.to_hex();
    assert_eq!(
        keys(&backend.objects).await,
        [format!("pages/sha256/{}/{hex}", &hex[..2])]
    );
    assert_eq!(read_back(&backend.pages, &sha256).await, page);
}

async fn a_large_page_reads_back_byte_for_byte(backend: &Backend) {
    // Three parts, one more than may be in flight; and a second part of one byte.
    let declared = page_of(6, 2 * PART_SIZE + 12_345);
    let undeclared = page_of(7, PART_SIZE + 1);

    let declared_sha256 = store_page(&backend.pages, &declared, true).await;
    let undeclared_sha256 = store_page(&backend.pages, &undeclared, false).await;

    assert_eq!(read_back(&backend.pages, &declared_sha256).await, declared);
    assert_eq!(
        read_back(&backend.pages, &undeclared_sha256).await,
        undeclared
    );
}

async fn the_same_bytes_are_stored_once(backend: &Backend) {
    let small = page_of(8, 4096);
    let large = page_of(9, PART_SIZE + 4096);

    let small_sha256 = store_page(&backend.pages, &small, false).await;
    store_page(&backend.pages, &small, false).await;
    // Declared twice (the second finds it stored), then staged and found stored.
    let large_sha256 = store_page(&backend.pages, &large, true).await;
    store_page(&backend.pages, &large, true).await;
    store_page(&backend.pages, &large, false).await;

    let mut expected = vec![
        content_key(&small_sha256).to_string(),
        content_key(&large_sha256).to_string(),
    ];
    expected.sort();
    assert_eq!(keys(&backend.objects).await, expected);
    assert_eq!(read_back(&backend.pages, &small_sha256).await, small);
    assert_eq!(read_back(&backend.pages, &large_sha256).await, large);
}

async fn a_large_page_with_its_declared_digest_is_stored_under_its_key_alone(backend: &Backend) {
    let (objects, store) = (&backend.objects, &backend.pages);
    let page = large_page(1);
    let sha256 = digest(&page);

    let upload = upload(store, &page, Some(&sha256)).await;
    assert!(upload.is_multipart());
    upload.finish(&sha256).await.unwrap();

    assert_eq!(keys(objects).await, [content_key(&sha256).to_string()]);
    assert_eq!(stored(objects, &sha256).await, page);
}

async fn a_large_page_that_does_not_prove_its_declared_digest_stores_nothing(backend: &Backend) {
    let (objects, store) = (&backend.objects, &backend.pages);
    let page = large_page(2);
    let declared = digest(b"another page");

    let upload = upload(store, &page, Some(&declared)).await;
    assert!(upload.finish(&digest(&page)).await.is_err());

    assert!(keys(objects).await.is_empty(), "{:?}", keys(objects).await);
}

/// What filing does with a page whose bytes do not prove its declared digest.
async fn an_aborted_large_page_stores_nothing(backend: &Backend) {
    let page = page_of(10, PART_SIZE + 1);
    let declared = digest(b"another page");

    upload(&backend.pages, &page, Some(&declared))
        .await
        .abort()
        .await;
    upload(&backend.pages, &page, None).await.abort().await;

    assert!(
        keys(&backend.objects).await.is_empty(),
        "{:?}",
        keys(&backend.objects).await
    );
    assert_not_found(&backend.pages, &declared).await;
    assert_not_found(&backend.pages, &digest(&page)).await;
}

async fn a_large_page_the_store_holds_already_is_not_written_again(backend: &Backend) {
    let (objects, store) = (&backend.objects, &backend.pages);
    let page = large_page(3);
    let sha256 = digest(&page);
    // A marker instead of the real bytes: it survives only if nothing is written.
    objects
        .put(&content_key(&sha256), Bytes::from_static(b"marker").into())
        .await
        .unwrap();

    upload(store, &page, Some(&sha256))
        .await
        .finish(&sha256)
        .await
        .unwrap();

    assert_eq!(
        stored(objects, &sha256).await,
        Bytes::from_static(b"marker")
    );
}

async fn a_large_page_without_a_declared_digest_is_copied_from_staging_which_is_removed(
    backend: &Backend,
) {
    let (objects, store) = (&backend.objects, &backend.pages);
    let page = large_page(4);
    let sha256 = digest(&page);

    upload(store, &page, None)
        .await
        .finish(&sha256)
        .await
        .unwrap();

    assert_eq!(keys(objects).await, [content_key(&sha256).to_string()]);
    assert_eq!(stored(objects, &sha256).await, page);
}

async fn a_missing_page_is_the_stores_not_found(backend: &Backend) {
    assert_not_found(&backend.pages, &digest(b"never stored")).await;
}

async fn a_deleted_page_is_gone_and_deleting_it_again_is_fine(backend: &Backend) {
    let small = store_page(&backend.pages, &page_of(11, 4096), false).await;
    let large = store_page(&backend.pages, &page_of(12, PART_SIZE + 1), true).await;

    for sha256 in [small, large] {
        backend.pages.delete(&sha256).await.unwrap();
        assert_not_found(&backend.pages, &sha256).await;
        backend.pages.delete(&sha256).await.unwrap();
    }
    assert!(
        keys(&backend.objects).await.is_empty(),
        "{:?}",
        keys(&backend.objects).await
    );
}

/// What the orphan collector lists and deletes.
async fn the_listings_name_each_page_object_and_each_staging_object(backend: &Backend) {
    let empty: Vec<_> = backend.pages.list_contents().try_collect().await.unwrap();
    assert!(empty.is_empty(), "an empty store lists nothing");
    let small = store_page(&backend.pages, &page_of(21, 4096), false).await;
    let large = store_page(&backend.pages, &page_of(22, PART_SIZE + 1), true).await;
    let staging = object_store::path::Path::from("staging/left-behind");
    backend
        .objects
        .put(&staging, Bytes::from_static(b"part").into())
        .await
        .unwrap();

    let mut listed: Vec<Sha256Digest> = backend
        .pages
        .list_contents()
        .map_ok(|(sha256, _)| sha256)
        .try_collect()
        .await
        .unwrap();
    listed.sort_by_key(|sha256| sha256.to_hex());
    let mut stored = vec![small, large];
    stored.sort_by_key(|sha256| sha256.to_hex());
    assert_eq!(listed, stored, "the page objects, and not the staging one");
    let staged: Vec<(String, _)> = backend.pages.list_staging().try_collect().await.unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].0, "staging/left-behind");
    assert!(staged[0].1 <= chrono::Utc::now() + chrono::TimeDelta::minutes(1));

    assert!(
        backend
            .pages
            .delete_staging(content_key(&small).as_ref())
            .await
            .is_err(),
        "only staging objects are deleted as such"
    );
    backend
        .pages
        .delete_staging("staging/left-behind")
        .await
        .unwrap();
    backend
        .pages
        .delete_staging("staging/left-behind")
        .await
        .unwrap();
    let staged: Vec<(String, _)> = backend.pages.list_staging().try_collect().await.unwrap();
    assert!(staged.is_empty());
}

async fn ping_answers_on_an_empty_store_and_on_one_with_pages(backend: &Backend) {
    backend.pages.ping().await.unwrap();
    store_page(&backend.pages, &page_of(13, 4096), false).await;
    backend.pages.ping().await.unwrap();
}
