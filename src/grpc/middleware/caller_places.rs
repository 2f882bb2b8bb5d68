//! Places per caller: one calling person of one system holds at most a share of the places for
//! calls in flight, so that no caller — a stuck batch job, a stalled client, an attacker with a
//! valid token — can take the whole pool from everyone else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tonic::Status;

use super::checkpoint::{CheckpointLayer, Gatekeeper};
use crate::domain::Actor;

/// The calls each caller has in flight, by (system, person).
#[derive(Debug, Default)]
struct Ledger {
    held: Mutex<HashMap<(String, String), usize>>,
}

/// A caller's place: given back when the reply has been sent or dropped.
pub struct CallerPlace {
    ledger: Arc<Ledger>,
    caller: (String, String),
}

impl Ledger {
    fn take(self: &Arc<Self>, actor: &Actor, limit: usize) -> Option<CallerPlace> {
        let caller = (actor.system.clone(), actor.person.clone());
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = held.entry(caller.clone()).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(CallerPlace {
            ledger: Arc::clone(self),
            caller,
        })
    }
}

impl Drop for CallerPlace {
    fn drop(&mut self) {
        let mut held = self
            .ledger
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = held.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.caller);
            }
        }
    }
}

/// Refuses a call whose caller already holds `server.max_requests_per_caller` places.
pub type CallerPlacesLayer = CheckpointLayer<CallerPlaces>;

#[derive(Debug, Clone)]
pub struct CallerPlaces {
    ledger: Arc<Ledger>,
    limit: usize,
}

impl CallerPlaces {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            ledger: Arc::default(),
            limit,
        }
    }
}

impl Gatekeeper for CallerPlaces {
    type Place = CallerPlace;

    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<Option<CallerPlace>, Status> {
        // Health calls carry no actor: admission spares them, and so does this. 0 is no limit.
        let Some(actor) = request.extensions().get::<Actor>() else {
            return Ok(None);
        };
        if self.limit == 0 {
            return Ok(None);
        }
        match self.ledger.take(actor, self.limit) {
            Some(place) => Ok(Some(place)),
            None => {
                tracing::info!(
                    system = %actor.system,
                    person = %actor.person,
                    limit = self.limit,
                    method = request.uri().path(),
                    "call refused: the caller holds its share of the calls in flight"
                );
                Err(Status::resource_exhausted(format!(
                    "{}/{} already has {} calls in flight, the most one caller may have; let \
                     some finish (or cancel them) before starting more",
                    actor.system, actor.person, self.limit
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(system: &str, person: &str) -> Actor {
        Actor {
            system: system.into(),
            person: person.into(),
            role: "counter-clerk".into(),
            org_unit: None,
            account: None,
            request_id: "r".into(),
        }
    }

    #[test]
    fn a_caller_gets_no_more_places_than_its_share_and_others_still_get_theirs() {
        let ledger = Arc::new(Ledger::default());
        let first = ledger.take(&actor("marketing", "clerk-1"), 2);
        let second = ledger.take(&actor("marketing", "clerk-1"), 2);
        assert!(first.is_some() && second.is_some());
        assert!(ledger.take(&actor("marketing", "clerk-1"), 2).is_none());
        assert!(ledger.take(&actor("marketing", "clerk-2"), 2).is_some());
        assert!(ledger.take(&actor("kiosk", "clerk-1"), 2).is_some());
        drop(first);
        assert!(ledger.take(&actor("marketing", "clerk-1"), 2).is_some());
    }

    #[test]
    fn a_caller_with_no_calls_left_leaves_no_entry_behind() {
        let ledger = Arc::new(Ledger::default());
        drop(ledger.take(&actor("marketing", "clerk-1"), 1));
        assert!(ledger.held.lock().unwrap().is_empty());
    }
}
