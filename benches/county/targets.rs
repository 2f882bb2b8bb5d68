//! The servers under test with what the workloads call on them: names sampled from the
//! database the server uses, callers holding a token, and pages that are new to the store.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sqlx::{Connection, PgConnection};
use tonic::metadata::MetadataValue;

use crate::calls::Caller;
use crate::common::channels;
use crate::dataset::Rng;
use crate::objects::{PAGE_200K, content_key, synthetic_jpeg};
use crate::server::{Launch, Server};
use crate::workloads::RunArgs;
use crate::{Preset, repository_file};

/// Names to call, sampled from the database the server uses.
pub struct Samples {
    pub documents: Vec<String>,
    pub archives: Vec<String>,
    /// Active accounts, to file into.
    pub open_archives: Vec<String>,
    /// 200 KiB pages: (page name, object key).
    pub pages_200k: Vec<(String, Path)>,
    /// Every realistic-size page (200 KiB and 1 MiB), for the mixed workload.
    pub large_pages: Vec<String>,
}

impl Samples {
    async fn load(preset: Preset) -> anyhow::Result<Self> {
        let mut db = PgConnection::connect(&preset.database_url()?).await?;
        // Generated rows only (not what earlier runs filed), in a fixed pseudo-random order.
        let documents: Vec<(String, uuid::Uuid)> = sqlx::query_as(
            "SELECT account_number, document_id FROM documents
             WHERE client_request_id LIKE 'gen-%' ORDER BY md5(document_id::text) LIMIT 5000",
        )
        .fetch_all(&mut db)
        .await?;
        let open_archives: Vec<(String,)> = sqlx::query_as(
            "SELECT account_number FROM customers WHERE status = 'active'
             ORDER BY md5(account_number) LIMIT 2000",
        )
        .fetch_all(&mut db)
        .await?;
        let pages: Vec<(String, uuid::Uuid, i32, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT d.account_number, d.document_id, p.page_number, c.sha256, c.size_bytes
             FROM page_contents c
             JOIN pages p ON p.sha256 = c.sha256
             JOIN documents d ON d.document_id = p.document_id AND p.version = d.current_version
             WHERE c.size_bytes >= 204800 AND d.client_request_id LIKE 'gen-%'
             ORDER BY md5(d.document_id::text) LIMIT 3000",
        )
        .fetch_all(&mut db)
        .await?;
        anyhow::ensure!(
            !documents.is_empty() && !pages.is_empty(),
            "the {} preset has no documents: run `generate --preset {}` first",
            preset.name(),
            preset.name()
        );
        let page_name = |(account, id, number, _, _): &(String, uuid::Uuid, i32, Vec<u8>, i64)| {
            format!("customers/{account}/documents/{id}/pages/{number}")
        };
        Ok(Self {
            archives: documents
                .iter()
                .map(|(account, _)| format!("customers/{account}"))
                .collect(),
            documents: documents
                .iter()
                .map(|(account, id)| format!("customers/{account}/documents/{id}"))
                .collect(),
            open_archives: open_archives
                .into_iter()
                .map(|(account,)| format!("customers/{account}"))
                .collect(),
            pages_200k: pages
                .iter()
                .filter(|page| page.4 == PAGE_200K as i64)
                .map(|page| {
                    let digest: [u8; 32] = page.3.as_slice().try_into().unwrap_or([0; 32]);
                    (page_name(page), content_key(&digest))
                })
                .collect(),
            large_pages: pages.iter().map(page_name).collect(),
        })
    }
}

/// One server with its callers and samples.
pub struct Target {
    pub server: Server,
    pub callers: Vec<Caller>,
    pub samples: Arc<Samples>,
}

impl Target {
    pub async fn open(args: &RunArgs, preset: Preset, launch: &Launch) -> anyhow::Result<Self> {
        let server = match args.address {
            Some(address) if preset == args.preset => {
                Server::existing(address, args.server_pid).await?
            }
            _ => Server::start(launch, preset).await?,
        };
        let key = signing_key(args);
        let bearer =
            MetadataValue::try_from(format!("Bearer {}", mint_token(&key, &args.issuer)?))?;
        let callers = channels(server.address, args.connections)
            .await?
            .into_iter()
            .map(|channel| Caller {
                channel,
                bearer: bearer.clone(),
            })
            .collect();
        let samples = Arc::new(Samples::load(preset).await?);
        Ok(Self {
            server,
            callers,
            samples,
        })
    }

    pub fn open_archive(&self) -> String {
        self.samples.open_archives[0].clone()
    }
}

/// Pages unique to one call at almost no cost: a shared body and a 16-byte tail naming the
/// call, so content addressing never finds them already stored.
#[derive(Clone)]
pub struct UniquePages {
    body: Bytes,
    tag: u64,
}

impl UniquePages {
    pub fn new(size: usize, tag: &str) -> Self {
        let mut rng = Rng::new(0xF11E);
        Self {
            body: synthetic_jpeg(&mut rng, size - 16),
            tag: tag.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01B3)
            }),
        }
    }

    /// `count` pages for call `n`, each as chunks of at most 1 MiB.
    pub fn pages(&self, n: u64, count: usize) -> Vec<Vec<Bytes>> {
        (0..count)
            .map(|page| {
                let mut chunks: Vec<Bytes> = (0..self.body.len())
                    .step_by(1 << 20)
                    .map(|at| self.body.slice(at..(at + (1 << 20)).min(self.body.len())))
                    .collect();
                let mut tail = [0u8; 16];
                tail[..8].copy_from_slice(&self.tag.to_le_bytes());
                tail[8..].copy_from_slice(&(n << 8 | page as u64).to_le_bytes());
                chunks.push(Bytes::copy_from_slice(&tail));
                chunks
            })
            .collect()
    }
}

/// What a run wrote to the store, removed at its end.
#[derive(Default, Clone)]
pub struct Cleanup(Arc<Mutex<Vec<Path>>>);

impl Cleanup {
    pub fn filed(&self, document: &custodian::proto::v1::Document) {
        let mut keys = self.0.lock().unwrap();
        for page in &document.pages {
            let mut digest = [0u8; 32];
            if hex::decode_to_slice(&page.sha256, &mut digest).is_ok() {
                keys.push(content_key(&digest));
            }
        }
    }

    pub fn put(&self, key: Path) {
        self.0.lock().unwrap().push(key);
    }

    /// Deletes the run's objects. The rows of the filed documents stay in the bench database
    /// (their pages are never read again: samples take generated rows only).
    pub async fn run(&self, store: &Arc<dyn ObjectStore>) -> usize {
        use futures::StreamExt;
        let keys = std::mem::take(&mut *self.0.lock().unwrap());
        futures::stream::iter(keys)
            .map(|key| {
                let store = Arc::clone(store);
                async move { store.delete(&key).await.is_ok() }
            })
            .buffer_unordered(16)
            .filter(|deleted| std::future::ready(*deleted))
            .count()
            .await
    }
}

/// The key the run's tokens are signed with.
pub fn signing_key(args: &RunArgs) -> std::path::PathBuf {
    args.signing_key
        .clone()
        .unwrap_or_else(|| repository_file("tests/fixtures/issuer-ed25519.pem"))
}

fn mint_token(key: &std::path::Path, issuer: &str) -> anyhow::Result<String> {
    mint_token_as(key, issuer, "province-custodian")
}

/// A token of the archive-desk system in `role` for province 12.
pub fn mint_token_as(key: &std::path::Path, issuer: &str, role: &str) -> anyhow::Result<String> {
    mint_token_for(key, issuer, role, "12", "bench-county")
}

/// A token of the archive-desk system for `subject` in `role` at `org_unit`.
pub fn mint_token_for(
    key: &std::path::Path,
    issuer: &str,
    role: &str,
    org_unit: &str,
    subject: &str,
) -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = serde_json::json!({
        "iss": issuer, "aud": "custodian", "sub": subject,
        "client_id": "archive-desk", "role": role, "org_unit": org_unit,
        "iat": now, "nbf": now, "exp": now + 6 * 3600,
    });
    let key = jsonwebtoken::EncodingKey::from_ed_pem(&std::fs::read(key)?)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &key,
    )?)
}
