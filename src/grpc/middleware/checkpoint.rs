//! The shape the admitting layers share (admission, authentication, places per caller): each
//! looks at a call and refuses it with a status or lets it in, possibly holding something — a
//! place — until the call's reply has been sent in full or dropped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// Decides, for each call, whether it may go on.
pub trait Gatekeeper: Clone + Send + 'static {
    /// What an admitted call holds until its reply is gone (`()` when nothing).
    type Place: Send + Unpin + 'static;

    /// Lets the call in (optionally with its place; it may add to the request's extensions)
    /// or refuses it with the status its caller gets at once.
    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<Option<Self::Place>, Status>;
}

/// A layer that puts a [`Gatekeeper`] in front of the services.
#[derive(Debug, Clone)]
pub struct CheckpointLayer<K> {
    keeper: K,
}

impl<K> CheckpointLayer<K> {
    pub(super) fn new(keeper: K) -> Self {
        Self { keeper }
    }
}

impl<S, K: Clone> Layer<S> for CheckpointLayer<K> {
    type Service = Checkpoint<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        Checkpoint {
            inner,
            keeper: self.keeper.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Checkpoint<S, K> {
    inner: S,
    keeper: K,
}

impl<S, K, B, R> Service<http::Request<B>> for Checkpoint<S, K>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: http_body::Body<Data = Bytes> + Send + 'static,
    R::Error: Into<tonic::codegen::StdError>,
    K: Gatekeeper,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let place = match self.keeper.admit(&mut request) {
            Ok(place) => place,
            Err(status) => return Box::pin(std::future::ready(Ok(status.into_http()))),
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| match place {
                Some(place) => Body::new(Holding {
                    body: Body::new(body),
                    _place: place,
                }),
                None => Body::new(body),
            }))
        })
    }
}

/// A reply body that keeps its call's place until it has been sent or dropped.
struct Holding<P> {
    body: Body,
    _place: P,
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
