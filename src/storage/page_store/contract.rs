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
    LocalSettings, ObjectStoreKind, ObjectStoreSettings, S3Settings, open_object_store,
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
            s3: None,
        };
        let objects = open_object_store(&settings).expect("the local store opens");
        Self::over(objects, Some(directory))
    }

    /// The test environment's bucket, below a prefix of this test's own.
    fn s3() -> Self {
        let settings = ObjectStoreSettings {
            kind: ObjectStoreKind::S3,
            prefix: format!("tests/page-store-contract/{}", uuid::Uuid::new_v4()),
            local: LocalSettings {
                path: "unused".into(),
            },
            s3: Some(s3_settings()),
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
    let environment = starting_environment();
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

/// The environment this test process started with. The settings test sets CUSTODIAN_*
/// variables of its own (bucket `b`, key `007`) in the same process while the others run, so
/// the live environment may no longer be what `make test` set; Linux keeps the original in
/// /proc/self/environ.
fn starting_environment() -> config::Map<String, String> {
    let Ok(bytes) = std::fs::read("/proc/self/environ") else {
        return std::env::vars().collect();
    };
    bytes
        .split(|byte| *byte == 0)
        .filter_map(|entry| {
            let (name, value) = std::str::from_utf8(entry).ok()?.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
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
    a_large_page_with_its_declared_digest_is_stored_under_its_key_alone,
    a_large_page_that_does_not_prove_its_declared_digest_stores_nothing,
    a_large_page_the_store_holds_already_is_not_written_again,
    a_large_page_without_a_declared_digest_is_copied_from_staging_which_is_removed,
);

fn large_page(seed: u8) -> Bytes {
    Bytes::from(vec![seed; PART_SIZE + 1024])
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
