//! The server's own document lookup, called in this process: PostgreSQL and the storage layer
//! with no gRPC, token, policy or audit in between. GetDocument compared with it shows what
//! the service adds to the one statement a read needs.

use std::sync::Arc;
use std::time::Duration;

use custodian::domain::{ChainKey, DocumentName};
use custodian::storage::Database;
use secrecy::SecretString;

use crate::Preset;
use crate::common::{Round, closed_loop};

/// The server's default pool size, so both sides have as many connections.
const CONNECTIONS: u32 = 16;

pub struct Lookups {
    database: Database,
    documents: Arc<Vec<DocumentName>>,
}

impl Lookups {
    pub fn open(preset: Preset, documents: &[String]) -> anyhow::Result<Self> {
        let database = Database::connect_lazy(
            &SecretString::from(preset.database_url()?),
            CONNECTIONS,
            Duration::from_secs(10),
            ChainKey::new("bench-county"),
        )?;
        let documents = documents
            .iter()
            .map(|name| DocumentName::parse("name", name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| anyhow::anyhow!("a sampled document name: {error:?}"))?;
        Ok(Self {
            database,
            documents: Arc::new(documents),
        })
    }

    pub async fn round(&self, concurrency: usize, round: Duration) -> Round {
        let database = self.database.clone();
        let documents = Arc::clone(&self.documents);
        closed_loop(concurrency, round, move |_, n| {
            let database = database.clone();
            let documents = Arc::clone(&documents);
            async move {
                let name = &documents[n as usize % documents.len()];
                match database.document(name).await? {
                    Some(_) => Ok(0),
                    None => anyhow::bail!("{name} not found"),
                }
            }
        })
        .await
    }
}
