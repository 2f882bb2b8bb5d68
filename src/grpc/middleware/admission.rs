//! Admission: a call takes one of the places for calls in flight, shared by every connection,
//! and keeps it until its reply is sent; with none free it is refused at once.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use super::checkpoint::{CheckpointLayer, Gatekeeper};
use super::is_health_check;

/// Refuses calls beyond the limit of calls in flight; see [`stack`](super::stack).
pub type AdmissionLayer = CheckpointLayer<Admission>;

#[derive(Debug, Clone)]
pub struct Admission {
    /// `None` without a limit.
    pub(super) places: Option<Arc<Semaphore>>,
    pub(super) limit: usize,
}

impl Gatekeeper for Admission {
    type Place = OwnedSemaphorePermit;

    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<Option<Self::Place>, Status> {
        let Some(places) = &self.places else {
            return Ok(None);
        };
        if is_health_check(request.uri().path()) {
            return Ok(None);
        }
        match places.clone().try_acquire_owned() {
            Ok(place) => Ok(Some(place)),
            Err(_) => {
                // Info, not warn: under overload this line comes once per refused call.
                tracing::info!(
                    method = request.uri().path(),
                    limit = self.limit,
                    "call refused: too many calls in flight"
                );
                Err(Status::resource_exhausted(format!(
                    "the server is at its limit of {} calls in flight; retry with backoff",
                    self.limit
                )))
            }
        }
    }
}
