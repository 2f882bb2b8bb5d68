//! Verifying the stored audit chain: the events are read in order, in batches, and checked by
//! the domain's [`ChainVerifier`]. Shared by the VerifyAuditChain RPC and the CLI.

use crate::domain::{ChainVerifier, Checkpoint, SignedCheckpoint, Verification};

use super::{Database, StorageError};

/// Events verified per database round trip.
const VERIFY_BATCH: usize = 5_000;

impl Database {
    /// Reads the chain in order — from the start, or from `mark` where an earlier verification
    /// found it intact — and checks it, stopping at the first break; with the newest
    /// checkpoint of the head, the chain must also reach it (see [`ChainVerifier`]). Returns
    /// the verification and, if intact, the last event checked.
    pub async fn verify_audit_chain(
        &self,
        checkpoint: Option<SignedCheckpoint>,
        mark: Option<Checkpoint>,
    ) -> Result<(Verification, Option<(i64, [u8; 32])>), StorageError> {
        let mut verifier = ChainVerifier::new(self.chain_key().clone()).against(checkpoint);
        let mut after = 0;
        if let Some(mark) = mark {
            after = mark.seq - 1;
            verifier = verifier.resuming_at(mark);
        }
        loop {
            let events = self.audit_events_in_order(after, VERIFY_BATCH).await?;
            let Some(last) = events.last() else { break };
            after = last.seq;
            if !verifier.check(&events) {
                break;
            }
        }
        let head = verifier.head();
        let verification = verifier.finish();
        let head = head.filter(|_| verification.broken_at.is_none());
        Ok((verification, head))
    }
}
