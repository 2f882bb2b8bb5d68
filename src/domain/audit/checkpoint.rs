//! Checkpoints of the chain's head, kept outside the database: the rows alone cannot show that
//! the newest events (or all of them) were deleted, since what remains is a valid shorter
//! chain. A checkpoint, signed with the chain key and written to the object store, says how
//! far the chain reached at a moment; verification then requires the chain to reach at least
//! that far, through the same event.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Mutex;

use super::event::ChainKey;
use crate::domain::Error;
use crate::storage::{AuditCheckpoints, Database};

/// Where the chain's head stood at `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: [u8; 32],
    pub time: DateTime<Utc>,
}

/// A checkpoint with its HMAC under the chain key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub signature: [u8; 32],
}

/// Keeps the HMAC of a checkpoint apart from any event's (whose first field is 32 bytes).
const CHECKPOINT_DOMAIN: &[u8] = b"custodian-audit-checkpoint-v1";

impl ChainKey {
    fn checkpoint_mac(&self, checkpoint: &Checkpoint) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new(&self.block().into());
        let mut field = |bytes: &[u8]| {
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        };
        field(CHECKPOINT_DOMAIN);
        field(&checkpoint.seq.to_be_bytes());
        field(&checkpoint.hash);
        field(&checkpoint.time.timestamp_micros().to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Signs where the chain's head stands now.
    pub fn sign(&self, seq: i64, hash: [u8; 32]) -> SignedCheckpoint {
        let checkpoint = Checkpoint {
            seq,
            hash,
            time: Utc::now().trunc_subsecs(6),
        };
        SignedCheckpoint {
            signature: self.checkpoint_mac(&checkpoint),
            checkpoint,
        }
    }
}

impl SignedCheckpoint {
    /// Whether `key` signed it.
    pub fn verifies(&self, key: &ChainKey) -> bool {
        subtle_eq(&key.checkpoint_mac(&self.checkpoint), &self.signature)
    }

    /// Its stored form: one JSON object, `{"seq":…,"hash":"<hex>","time":"<RFC 3339>",
    /// "signature":"<hex>"}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "seq": self.checkpoint.seq,
            "hash": hex::encode(self.checkpoint.hash),
            "time": self.checkpoint.time.to_rfc3339_opts(SecondsFormat::Micros, true),
            "signature": hex::encode(self.signature),
        })
        .to_string()
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
        let digest = |field: &str| -> Result<[u8; 32], String> {
            let text = value[field]
                .as_str()
                .ok_or_else(|| format!("{field} is missing"))?;
            hex::decode(text)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| format!("{field} is not 32 bytes of hex"))
        };
        let seq = value["seq"].as_i64().ok_or("seq is missing")?;
        let time = value["time"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or("time is not RFC 3339")?
            .with_timezone(&Utc);
        Ok(Self {
            checkpoint: Checkpoint {
                seq,
                hash: digest("hash")?,
                time,
            },
            signature: digest("signature")?,
        })
    }
}

/// Compares two MACs in time independent of where they differ.
fn subtle_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes checkpoints of the chain's head to the object store, each time the head has moved
/// since the last one, and never one that contradicts the last: a head behind it, or one whose
/// chain no longer holds the last checkpoint's event, means events were deleted, and
/// checkpointing that head would make the deletion verify. Cheap to clone; clones share the
/// last checkpoint.
#[derive(Clone)]
pub struct AuditCheckpointer {
    db: Database,
    checkpoints: AuditCheckpoints,
    /// The newest checkpoint known (read from the store on first use).
    last: Arc<Mutex<Option<Option<Checkpoint>>>>,
}

impl AuditCheckpointer {
    pub fn new(db: Database, checkpoints: AuditCheckpoints) -> Self {
        Self {
            db,
            checkpoints,
            last: Arc::default(),
        }
    }

    /// Writes a checkpoint of the head if it moved; returns the one written.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, Error> {
        let mut last = self.last.lock().await;
        if last.is_none() {
            let stored = self.checkpoints.latest().await?;
            *last = Some(stored.map(|signed| signed.checkpoint));
        }
        let previous = (*last).flatten();
        let Some((seq, hash)) = self.db.audit_head().await? else {
            return match previous {
                Some(previous) => Err(deleted(&previous, 0)),
                None => Ok(None),
            };
        };
        if let Some(previous) = previous {
            if seq == previous.seq && hash == previous.hash {
                return Ok(None);
            }
            if seq < previous.seq {
                return Err(deleted(&previous, seq));
            }
            if self.db.audit_hash_at(previous.seq).await? != Some(previous.hash) {
                return Err(Error::Unexpected(anyhow::anyhow!(
                    "the audit chain no longer holds event {} as checkpointed at {}: it was \
                     rewritten; not checkpointing it",
                    previous.seq,
                    previous.time
                )));
            }
        }
        let signed = self.db.chain_key().sign(seq, hash);
        self.checkpoints.write(&signed).await?;
        *last = Some(Some(signed.checkpoint));
        Ok(Some(signed.checkpoint))
    }
}

fn deleted(previous: &Checkpoint, head: i64) -> Error {
    Error::Unexpected(anyhow::anyhow!(
        "the audit chain ends at event {head}, before event {} checkpointed at {}: events were \
         deleted; not checkpointing it",
        previous.seq,
        previous.time
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_verifies_only_with_its_key() {
        let key = ChainKey::new("k".repeat(32));
        let signed = key.sign(42, [7; 32]);
        let parsed = SignedCheckpoint::from_json(&signed.to_json()).unwrap();
        assert_eq!(parsed, signed);
        assert!(parsed.verifies(&key));
        assert!(!parsed.verifies(&ChainKey::new("x".repeat(32))));
        let mut moved = parsed;
        moved.checkpoint.seq = 41;
        assert!(!moved.verifies(&key), "the seq is signed");
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        assert!(SignedCheckpoint::from_json("{}").is_err());
        assert!(SignedCheckpoint::from_json("nonsense").is_err());
    }
}
