//! Opens the configured object store: S3 (SeaweedFS, MinIO, Ceph RGW, AWS) or a local
//! directory, optionally below a key prefix.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::{Method, SignedUrlOptions, Signer as _};
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::page_store::{content_key, rendition_key};
use crate::domain::{Error, LinkTarget, LinkedContent, PageLinkSigner};

use super::{PageStore, StorageError};

/// Where page objects live. By default, a local directory: the embedded store for trying
/// Custodian out.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ObjectStoreSettings {
    pub kind: ObjectStoreKind,
    /// Keys of every object are put below this prefix, e.g. to share a bucket.
    pub prefix: String,
    pub local: LocalSettings,
    /// Required when `kind` is `s3`.
    pub s3: Option<S3Settings>,
    /// The longest an S3 request may take, from connecting to its last byte, except page
    /// reads, whose length depends on the reader: they have `read_idle_timeout_secs` instead.
    pub request_timeout_secs: u64,
    /// A page read fails when the store sends nothing for this long while the server waits
    /// for its next bytes (or for its answer). Time the reader takes between chunks does not
    /// count, so a slow reader of a large page is never cut off.
    pub read_idle_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectStoreKind {
    /// A directory on the server's disk: the embedded default for trying Custodian out.
    Local,
    /// An S3-compatible service.
    S3,
}

impl ObjectStoreSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    pub fn read_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.read_idle_timeout_secs.max(1))
    }
}

impl Default for ObjectStoreSettings {
    fn default() -> Self {
        Self {
            kind: ObjectStoreKind::Local,
            prefix: String::new(),
            local: LocalSettings::default(),
            s3: None,
            request_timeout_secs: 30,
            read_idle_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LocalSettings {
    pub path: PathBuf,
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/objects"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Settings {
    /// e.g. `http://127.0.0.1:8333`; empty for AWS itself.
    #[serde(default)]
    pub endpoint: String,
    pub bucket: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Allows `http://` endpoints (a local SeaweedFS or MinIO).
    #[serde(default)]
    pub allow_http: bool,
    /// Whether upload signatures cover the body's SHA-256.
    #[serde(default)]
    pub payload_signing: PayloadSigning,
}

/// Whether an upload's request signature covers its body. Signing costs the server and the
/// store one more SHA-256 pass over every page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadSigning {
    /// Unsigned over HTTPS, where TLS already protects the bytes in transit; signed over plain
    /// HTTP (as AWS's own `AWS4UnsignedPayloadSigner` does).
    #[default]
    Auto,
    /// The body's SHA-256 is in every upload's signature.
    Signed,
    /// S3's `UNSIGNED-PAYLOAD`.
    Unsigned,
}

impl S3Settings {
    /// Whether request signatures leave out the body's digest.
    pub fn signs_without_payload(&self) -> bool {
        match self.payload_signing {
            PayloadSigning::Auto => {
                self.endpoint.is_empty() || self.endpoint.starts_with("https://")
            }
            PayloadSigning::Signed => false,
            PayloadSigning::Unsigned => true,
        }
    }
}

fn default_region() -> String {
    "us-east-1".into()
}

/// Builds the store the settings describe.
pub fn open_object_store(
    settings: &ObjectStoreSettings,
) -> Result<Arc<dyn ObjectStore>, StorageError> {
    open(settings, Some(settings.request_timeout()))
}

/// Builds the page store: the settings' store, and for page reads a second client of the same
/// store without a whole-request timeout (a page read lasts as long as its reader takes), whose
/// reads fail instead when the store falls silent for `read_idle_timeout_secs`.
pub fn open_page_store(settings: &ObjectStoreSettings) -> Result<PageStore, StorageError> {
    let store = open(settings, Some(settings.request_timeout()))?;
    let reads = match settings.kind {
        ObjectStoreKind::S3 => open(settings, None)?,
        ObjectStoreKind::Local => Arc::clone(&store),
    };
    Ok(PageStore::with_reads(
        store,
        reads,
        settings.read_idle_timeout(),
    ))
}

/// The store, with each request limited to `request_timeout` from connecting to its last byte
/// (`None`: no limit).
fn open(
    settings: &ObjectStoreSettings,
    request_timeout: Option<Duration>,
) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let unexpected = |error: object_store::Error| StorageError::Unexpected(error.into());
    let store: Arc<dyn ObjectStore> = match (settings.kind, &settings.s3) {
        (ObjectStoreKind::Local, _) => {
            let path = &settings.local.path;
            std::fs::create_dir_all(path).map_err(|error| {
                StorageError::Unexpected(anyhow::anyhow!(
                    "cannot create the object directory {}: {error}",
                    path.display()
                ))
            })?;
            Arc::new(LocalFileSystem::new_with_prefix(path).map_err(unexpected)?)
        }
        (ObjectStoreKind::S3, None) => {
            return Err(StorageError::Unexpected(anyhow::anyhow!(
                "object_store.kind is s3 but the object_store.s3 settings are missing"
            )));
        }
        (ObjectStoreKind::S3, Some(s3)) => Arc::new(s3_store(s3, request_timeout)?),
    };
    let prefix = settings.prefix.trim_matches('/');
    Ok(if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}

/// The S3 client the settings describe.
fn s3_store(s3: &S3Settings, request_timeout: Option<Duration>) -> Result<AmazonS3, StorageError> {
    // One options value: allow_http lives in it too, so it is set here.
    let client = ClientOptions::new()
        .with_allow_http(s3.allow_http)
        .with_connect_timeout(Duration::from_secs(3));
    let client = match request_timeout {
        Some(timeout) => client.with_timeout(timeout),
        None => client.with_timeout_disabled(),
    };
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_access_key_id(&s3.access_key_id)
        .with_secret_access_key(s3.secret_access_key.expose_secret())
        // Path-style: virtual-hosted requests make SeaweedFS create stray buckets.
        .with_virtual_hosted_style_request(false)
        .with_unsigned_payload(s3.signs_without_payload())
        // Fail within seconds when the store is down, rather than retrying for minutes
        // while a caller waits at the counter.
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
            ..RetryConfig::default()
        })
        .with_client_options(client);
    if !s3.endpoint.is_empty() {
        builder = builder.with_endpoint(&s3.endpoint);
    }
    builder
        .build()
        .map_err(|error| StorageError::Unexpected(error.into()))
}

/// Page links presigned by the S3 store itself (`page_links.mode = "presigned"`): the browser
/// fetches from the store, which checks the signature and expiry.
#[derive(Debug)]
pub struct PresignedLinks {
    store: AmazonS3,
    prefix: String,
}

impl PresignedLinks {
    pub fn open(settings: &ObjectStoreSettings) -> Result<Self, StorageError> {
        match (settings.kind, &settings.s3) {
            (ObjectStoreKind::S3, Some(s3)) => Ok(Self {
                store: s3_store(s3, Some(settings.request_timeout()))?,
                prefix: settings.prefix.trim_matches('/').to_owned(),
            }),
            _ => Err(StorageError::Unexpected(anyhow::anyhow!(
                "presigned page links need an S3 store (object_store.kind = s3); with a local \
                 directory use page_links.mode = served"
            ))),
        }
    }
}

impl PageLinkSigner for PresignedLinks {
    fn sign<'a>(&'a self, target: &'a LinkTarget) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let key = match target.content {
                LinkedContent::Original => content_key(&target.sha256),
                LinkedContent::Rendition { kind, source } => rendition_key(kind, &source),
            };
            let path = if self.prefix.is_empty() {
                key
            } else {
                Path::from(format!("{}/{key}", self.prefix))
            };
            let lifetime = (target.expires_at - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_secs(1));
            let options = SignedUrlOptions::new().with_query([
                (
                    "response-content-type",
                    target.media_type.as_mime().to_owned(),
                ),
                (
                    "response-content-disposition",
                    format!("inline; filename=\"{}\"", target.file_name),
                ),
                (
                    "response-cache-control",
                    format!("private, max-age={}, immutable", lifetime.as_secs()),
                ),
            ]);
            let url = self
                .store
                .signed_url_opts(Method::GET, &path, lifetime, &options)
                .await
                .map_err(|error| Error::from(StorageError::from(error)))?;
            Ok(url.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(endpoint: &str, payload_signing: PayloadSigning) -> S3Settings {
        S3Settings {
            endpoint: endpoint.into(),
            bucket: "archive".into(),
            region: default_region(),
            access_key_id: "key".into(),
            secret_access_key: SecretString::from("secret"),
            allow_http: true,
            payload_signing,
        }
    }

    #[test]
    fn payloads_are_signed_over_http_and_not_over_https_unless_set() {
        use PayloadSigning::{Auto, Signed, Unsigned};
        assert!(!s3("http://127.0.0.1:8333", Auto).signs_without_payload());
        assert!(s3("https://rgw.example.net", Auto).signs_without_payload());
        assert!(s3("", Auto).signs_without_payload(), "AWS itself is HTTPS");
        assert!(s3("http://127.0.0.1:8333", Unsigned).signs_without_payload());
        assert!(!s3("https://rgw.example.net", Signed).signs_without_payload());
    }
}
