//! Admission: a call takes one of the places for calls in flight, shared by every connection,
//! and keeps it until its reply is sent; with none free it is refused at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::Semaphore;
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use super::is_health_check;

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// Refuses calls beyond the limit of calls in flight; see [`stack`](super::stack).
#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    pub(super) places: Option<Arc<Semaphore>>,
    pub(super) limit: usize,
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Admission {
            inner,
            places: self.places.clone(),
            limit: self.limit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Admission<S> {
    inner: S,
    places: Option<Arc<Semaphore>>,
    limit: usize,
}

impl<S, B, R> Service<http::Request<B>> for Admission<S>
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
        let place = match &self.places {
            Some(places) if !is_health_check(request.uri().path()) => {
                match places.clone().try_acquire_owned() {
                    Ok(place) => Some(place),
                    Err(_) => {
                        // Info, not warn: under overload this line comes once per refused call.
                        tracing::info!(
                            method = request.uri().path(),
                            limit = self.limit,
                            "call refused: too many calls in flight"
                        );
                        let status = Status::resource_exhausted(format!(
                            "the server is at its limit of {} calls in flight; retry with backoff",
                            self.limit
                        ));
                        return Box::pin(std::future::ready(Ok(status.into_http())));
                    }
                }
            }
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

/// A reply body that keeps its call's place (a permit, a caller's place) until it has been sent
/// or dropped.
pub(super) struct Holding<P> {
    body: Body,
    _place: P,
}

impl<P> Holding<P> {
    pub(super) fn new(body: Body, place: P) -> Self {
        Self {
            body,
            _place: place,
        }
    }
}

impl<P: Unpin> http_body::Body for Holding<P> {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
