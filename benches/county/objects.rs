//! The page images of the generated county: a few shared small images most pages point at,
//! and a realistic-size set (200 KiB and 1 MiB scans) that the read workloads fetch. All are
//! synthetic JPEGs (right magic bytes, pseudo-random body), content-addressed exactly as the
//! server stores them: `pages/sha256/{xx}/{hex}` below the benchmark's prefix.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use crate::dataset::Rng;

/// Size of the pages the ReadPage and FileDocument workloads move.
pub const PAGE_200K: usize = 200 * 1024;
const SMALL_IMAGES: usize = 64;
const LARGE_200K: usize = 256;
const LARGE_1M: usize = 32;

/// One page image and its content address.
pub struct Image {
    pub bytes: Bytes,
    pub sha256: [u8; 32],
}

impl Image {
    fn new(bytes: Bytes) -> Self {
        let sha256 = Sha256::digest(&bytes).into();
        Self { bytes, sha256 }
    }
}

/// Every page image the generator refers to.
pub struct PagePool {
    /// 16–64 KiB: what most of the millions of pages point at.
    pub small: Vec<Image>,
    /// 200 KiB first, then 1 MiB: the pages reads actually fetch.
    pub large: Vec<Image>,
}

impl PagePool {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x9A6E);
        let small = (0..SMALL_IMAGES)
            .map(|_| {
                let size = 16 * 1024 + rng.below(48 * 1024) as usize;
                Image::new(synthetic_jpeg(&mut rng, size))
            })
            .collect();
        let large = std::iter::repeat_n(PAGE_200K, LARGE_200K)
            .chain(std::iter::repeat_n(1024 * 1024, LARGE_1M))
            .map(|size| Image::new(synthetic_jpeg(&mut rng, size)))
            .collect();
        Self { small, large }
    }
}

/// A buffer a server sniffs as JPEG: SOI and APP0 markers, noise, EOI.
pub fn synthetic_jpeg(rng: &mut Rng, size: usize) -> Bytes {
    let mut bytes = Vec::with_capacity(size);
    bytes
        .extend_from_slice(b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00");
    while bytes.len() + 8 <= size - 2 {
        bytes.extend_from_slice(&rng.next().to_le_bytes());
    }
    bytes.resize(size - 2, 0x5A);
    bytes.extend_from_slice(b"\xFF\xD9");
    Bytes::from(bytes)
}

/// The key the server uses for a page with this digest.
pub fn content_key(sha256: &[u8; 32]) -> Path {
    let hex = hex::encode(sha256);
    Path::from(format!("pages/sha256/{}/{hex}", &hex[..2]))
}

/// Uploads the images the store lacks; returns how many it uploaded.
pub async fn upload(store: &Arc<dyn ObjectStore>, pool: &PagePool) -> anyhow::Result<usize> {
    let uploads = futures::stream::iter(pool.small.iter().chain(&pool.large))
        .map(|image| {
            let store = Arc::clone(store);
            async move {
                let key = content_key(&image.sha256);
                match store.head(&key).await {
                    Ok(meta) if meta.size == image.bytes.len() as u64 => Ok(0),
                    _ => {
                        store.put(&key, image.bytes.clone().into()).await?;
                        anyhow::Ok(1)
                    }
                }
            }
        })
        .buffer_unordered(8);
    Ok(uploads.try_collect::<Vec<usize>>().await?.iter().sum())
}

/// Deletes every object of the prefix that is not one of the pool's images.
pub async fn clean(store: &Arc<dyn ObjectStore>, pool: &PagePool) -> anyhow::Result<usize> {
    let keep: std::collections::HashSet<Path> = pool
        .small
        .iter()
        .chain(&pool.large)
        .map(|image| content_key(&image.sha256))
        .collect();
    let doomed: Vec<Path> = store
        .list(None)
        .map_ok(|meta| meta.location)
        .try_filter(|key| std::future::ready(!keep.contains(key)))
        .try_collect()
        .await?;
    let count = doomed.len();
    futures::stream::iter(doomed)
        .map(|key| {
            let store = Arc::clone(store);
            async move { store.delete(&key).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(count)
}
