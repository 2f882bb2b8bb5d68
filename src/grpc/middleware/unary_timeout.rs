//! The unary timeout: a unary call still running after the server's limit is dropped and
//! answered DEADLINE_EXCEEDED; streaming calls are spared.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use super::Methods;

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// Ends unary calls that run too long; see [`stack`](super::stack).
#[derive(Debug, Clone)]
pub struct UnaryTimeoutLayer {
    pub(super) timeout: Option<Duration>,
    pub(super) methods: Arc<Methods>,
}

impl<S> Layer<S> for UnaryTimeoutLayer {
    type Service = UnaryTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UnaryTimeout {
            inner,
            timeout: self.timeout,
            methods: self.methods.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UnaryTimeout<S> {
    inner: S,
    timeout: Option<Duration>,
    methods: Arc<Methods>,
}

impl<S, B, R> Service<http::Request<B>> for UnaryTimeout<S>
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
        let path = request.uri().path();
        let Some(limit) = self
            .timeout
            .filter(|_| !self.methods.streaming.contains(path))
        else {
            let response = self.inner.call(request);
            return Box::pin(async move { Ok(response.await?.map(Body::new)) });
        };
        let method = path.to_owned();
        let response = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(limit, response).await {
                Ok(response) => Ok(response?.map(Body::new)),
                Err(_) => {
                    // The handler's future is dropped here: its transaction, if any, rolls back
                    // unless it had already committed.
                    tracing::warn!(
                        %method,
                        limit_secs = limit.as_secs_f64(),
                        "unary call cut off at the server's time limit"
                    );
                    let status = Status::deadline_exceeded(format!(
                        "the call did not finish within the server's limit of {} s",
                        limit.as_secs_f64()
                    ));
                    Ok(status.into_http())
                }
            }
        })
    }
}
