//! Places per caller: one calling person of one system holds at most a share of the places for
//! calls in flight, so that no caller — a stuck batch job, a stalled client, an attacker with a
//! valid token — can take the whole pool from everyone else.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use super::admission::Holding;
use crate::domain::Actor;

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// The calls each caller has in flight, by (system, person).
#[derive(Debug, Default)]
struct Ledger {
    held: Mutex<HashMap<(String, String), usize>>,
}

/// A caller's place: given back when the reply has been sent or dropped.
pub(super) struct CallerPlace {
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
#[derive(Debug, Clone)]
pub struct CallerPlacesLayer {
    ledger: Arc<Ledger>,
    limit: Option<usize>,
}

impl CallerPlacesLayer {
    /// `None` leaves callers unlimited (beyond the global limit of admission).
    pub(super) fn new(limit: Option<usize>) -> Self {
        Self {
            ledger: Arc::default(),
            limit,
        }
    }
}

impl<S> Layer<S> for CallerPlacesLayer {
    type Service = CallerPlaces<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallerPlaces {
            inner,
            ledger: Arc::clone(&self.ledger),
            limit: self.limit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CallerPlaces<S> {
    inner: S,
    ledger: Arc<Ledger>,
    limit: Option<usize>,
}

impl<S, B, R> Service<http::Request<B>> for CallerPlaces<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: http_body::Body<Data = Bytes> + Send + 'static,
    R::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Health calls carry no actor: admission spares them, and so does this.
        let place = match (self.limit, request.extensions().get::<Actor>()) {
            (Some(limit), Some(actor)) => match self.ledger.take(actor, limit) {
                Some(place) => Some(place),
                None => {
                    tracing::info!(
                        system = %actor.system,
                        person = %actor.person,
                        limit,
                        method = request.uri().path(),
                        "call refused: the caller holds its share of the calls in flight"
                    );
                    let status = Status::resource_exhausted(format!(
                        "{}/{} already has {limit} calls in flight, the most one caller may \
                         have; let some finish (or cancel them) before starting more",
                        actor.system, actor.person
                    ));
                    return Box::pin(std::future::ready(Ok(status.into_http())));
                }
            },
            _ => None,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| match place {
                Some(place) => Body::new(Holding::new(Body::new(body), place)),
                None => Body::new(body),
            }))
        })
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
