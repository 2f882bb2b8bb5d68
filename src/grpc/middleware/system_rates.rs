//! Calls per second per system: a system the policy gives a rate (payment channels, the
//! self-service portal, which call for the public at the public's pace) is held to it, all its
//! persons together, so that a runaway channel cannot take the capacity the counter needs.
//! Searches may have a lower rate of their own (`max_searches_per_second`): one scans an
//! index where a lookup reads a row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tonic::Status;

use super::Methods;
use super::authentication::peer_of;
use super::checkpoint::{CheckpointLayer, Gatekeeper};
use crate::domain::{Actor, Archive, Refusal};

/// A token bucket: `rate` calls per second, bursts of up to one second's worth.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    fn full(rate: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(rate),
            refilled_at: now,
        }
    }

    /// Takes one call's token, if the system has one left at `now`.
    fn take(&mut self, rate: u32, now: Instant) -> bool {
        let rate = f64::from(rate);
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The path prefix of the searches, which `max_searches_per_second` holds to a rate of their
/// own.
const SEARCH_SERVICE: &str = "/custodian.v1.SearchService/";

/// Refuses a call of a system over its `max_calls_per_second`, or a search over its
/// `max_searches_per_second`; see [`stack`](super::stack).
pub type SystemRatesLayer = CheckpointLayer<SystemRates>;

#[derive(Clone)]
pub struct SystemRates {
    /// The policy in force names the rates; `None` without tokens (benchmarks).
    archive: Option<Archive>,
    methods: Arc<Methods>,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl SystemRates {
    pub(super) fn new(archive: Option<Archive>, methods: Arc<Methods>) -> Self {
        Self {
            archive,
            methods,
            buckets: Arc::default(),
        }
    }

    /// Takes a token from the bucket `key` (a system, or a system's searches).
    fn admits(&self, key: String, rate: u32, now: Instant) -> bool {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now)
    }
}

impl Gatekeeper for SystemRates {
    type Place = ();

    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<Option<()>, Status> {
        let (Some(archive), Some(actor)) = (&self.archive, request.extensions().get::<Actor>())
        else {
            return Ok(None);
        };
        let policy = archive.policy();
        let Some(system) = policy.systems.get(&actor.system) else {
            return Ok(None);
        };
        let now = Instant::now();
        // A search spends a token of the system's searches, then one of all its calls.
        let search_rate = system
            .max_searches_per_second
            .filter(|_| request.uri().path().starts_with(SEARCH_SERVICE));
        let refused = match (search_rate, system.max_calls_per_second) {
            (Some(rate), _) if !self.admits(format!("{}/search", actor.system), rate, now) => {
                Some(format!("{rate} searches per second"))
            }
            (_, Some(rate)) if !self.admits(actor.system.clone(), rate, now) => {
                Some(format!("{rate} calls per second"))
            }
            _ => None,
        };
        let Some(limit) = refused else {
            return Ok(None);
        };
        let reason = format!(
            "system {:?} is over its rate of {limit}; retry with backoff",
            actor.system
        );
        // Coalesced per peer and kind, so a flood of refusals is one event with a count.
        archive.record_refusal(
            Refusal::new(
                peer_of(request),
                self.methods.action_of(request.uri().path()),
                &reason,
                actor.request_id.clone(),
            )
            .over_rate(&actor.system),
        );
        Err(Status::resource_exhausted(reason))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_a_second_of_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::full(10, start);
        let burst = (0..20).filter(|_| bucket.take(10, start)).count();
        assert_eq!(burst, 10, "one second's worth at once");
        assert!(!bucket.take(10, start));
        // A tenth of a second later, one more call's worth has come back.
        assert!(bucket.take(10, start + Duration::from_millis(100)));
        assert!(!bucket.take(10, start + Duration::from_millis(100)));
        // A long pause refills it to one second's worth, never more.
        let later = start + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| bucket.take(10, later)).count(), 10);
    }
}
