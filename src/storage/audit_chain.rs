//! Verifying the stored audit chain: the events are read in order, in batches, and checked by
//! the domain's [`ChainVerifier`]. Shared by the VerifyAuditChain RPC and the CLI.

use crate::domain::{ChainVerifier, SignedCheckpoint, Verification};

use super::{Database, StorageError};

/// Events verified per database round trip.
const VERIFY_BATCH: usize = 5_000;

impl Database {
    /// Reads the whole chain in order and checks it, stopping at the first break; with the
    /// newest checkpoint of the head, the chain must also reach it (see [`ChainVerifier`]).
    pub async fn verify_audit_chain(
        &self,
        checkpoint: Option<SignedCheckpoint>,
    ) -> Result<Verification, StorageError> {
        let mut verifier = ChainVerifier::new(self.chain_key().clone()).against(checkpoint);
        let mut after = 0;
        loop {
            let events = self.audit_events_in_order(after, VERIFY_BATCH).await?;
            let Some(last) = events.last() else { break };
            after = last.seq;
            if !verifier.check(&events) {
                break;
            }
        }
        Ok(verifier.finish())
    }
}
