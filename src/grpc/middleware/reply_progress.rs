//! Progress of replies: a reply its caller stops reading is cut off, so that a caller cannot
//! hold a place among the calls in flight (and a database connection or an open object read
//! behind it) by opening a ReadPage or a report and never reading it.
//!
//! HTTP/2 flow control stops the server from sending once the caller's window is full; the
//! transport then stops asking the reply for more, and nothing inside the reply would ever
//! run again. So a watchdog beside each reply measures how long a message it handed over has
//! waited for the transport to ask for the next one. A reply that waits on its own source (a
//! slow report batch) is the server's time, not the caller's, and is never cut.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use super::{Methods, is_health_check};
use crate::domain::{Actor, Archive, Error};

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// Where the authentication layer leaves the call's actor for this layer, which runs before
/// it and so cannot read the request it authenticated.
#[derive(Clone, Default)]
pub(super) struct CallerSlot(Arc<OnceLock<Actor>>);

impl CallerSlot {
    pub(super) fn fill(&self, actor: &Actor) {
        let _ = self.0.set(actor.clone());
    }
}

/// Cuts off replies that are not read; see [`stack`](super::stack).
#[derive(Clone)]
pub struct ReplyProgressLayer {
    /// `None`: replies may wait for ever.
    pub(super) stall_timeout: Option<Duration>,
    pub(super) methods: Arc<Methods>,
    /// Records the cut-off calls; `None` only without authentication (benchmarks).
    pub(super) archive: Option<Archive>,
}

impl<S> Layer<S> for ReplyProgressLayer {
    type Service = ReplyProgress<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReplyProgress {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ReplyProgress<S> {
    inner: S,
    layer: ReplyProgressLayer,
}

impl<S, B, R> Service<http::Request<B>> for ReplyProgress<S>
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

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        // Health replies are a few bytes and hold no place.
        let Some(stall_timeout) = self.layer.stall_timeout.filter(|_| !is_health_check(&path))
        else {
            let response = self.inner.call(request);
            return Box::pin(async move { Ok(response.await?.map(Body::new)) });
        };
        let caller = CallerSlot::default();
        request.extensions_mut().insert(caller.clone());
        let watch = Watch {
            stall_timeout,
            action: self.layer.methods.action_of(&path).to_owned(),
            caller,
            archive: self.layer.archive.clone(),
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Body::new(Watched::new(Body::new(body), watch))))
        })
    }
}

/// What the watchdog of one reply needs.
struct Watch {
    stall_timeout: Duration,
    action: String,
    caller: CallerSlot,
    archive: Option<Archive>,
}

/// The state a reply shares with its watchdog.
struct Shared {
    /// The reply; taken (and so dropped, with every place it holds) when it is cut off.
    body: Mutex<Option<Body>>,
    /// When the reply last handed the transport a frame that the transport has not yet come
    /// back from; `None` while the reply is being polled or waits on its own source.
    waiting_since: Mutex<Option<Instant>>,
}

/// A reply body under a watchdog.
struct Watched {
    shared: Arc<Shared>,
    /// The watchdog's settings until its task is started, at the first frame handed over.
    watch: Option<Watch>,
    /// Dropped with the reply, which ends its watchdog at once rather than at its next wake:
    /// every call has a reply, and a sleeping task per finished call would pile up.
    _watched: Option<tokio::sync::oneshot::Sender<()>>,
    /// Whether the cut-off status has been sent.
    ended: bool,
}

impl Watched {
    fn new(body: Body, watch: Watch) -> Self {
        Self {
            shared: Arc::new(Shared {
                body: Mutex::new(Some(body)),
                waiting_since: Mutex::new(None),
            }),
            watch: Some(watch),
            _watched: None,
            ended: false,
        }
    }
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        set(&this.shared.waiting_since, None);
        let polled = {
            let mut body = lock(&this.shared.body);
            body.as_mut().map(|body| Pin::new(body).poll_frame(cx))
        };
        match polled {
            Some(Poll::Ready(Some(Ok(frame)))) => {
                set(&this.shared.waiting_since, Some(Instant::now()));
                if let Some(watch) = this.watch.take() {
                    let (watched, gone) = tokio::sync::oneshot::channel();
                    this._watched = Some(watched);
                    tokio::spawn(watchdog(Arc::downgrade(&this.shared), watch, gone));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(polled) => polled,
            // Cut off: the caller, if it ever reads again, learns why.
            None if !this.ended => {
                this.ended = true;
                let status = Status::deadline_exceeded(
                    "the reply was not read in time and was cut off; read replies as they come",
                );
                let mut trailers = http::HeaderMap::new();
                match status.add_header(&mut trailers) {
                    Ok(()) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                    Err(status) => Poll::Ready(Some(Err(status))),
                }
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match lock(&self.shared.body).as_ref() {
            Some(body) => body.is_end_stream(),
            None => self.ended,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match lock(&self.shared.body).as_ref() {
            Some(body) => body.size_hint(),
            None => SizeHint::default(),
        }
    }
}

/// Watches one reply until it is gone (`gone` resolves), and cuts it off once a frame it handed
/// over has waited `stall_timeout` for the transport. Detection takes one to two timeouts.
async fn watchdog(
    shared: Weak<Shared>,
    watch: Watch,
    mut gone: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(watch.stall_timeout) => {}
            _ = &mut gone => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let stalled =
            lock(&shared.waiting_since).is_some_and(|since| since.elapsed() >= watch.stall_timeout);
        if !stalled {
            continue;
        }
        let Some(body) = lock(&shared.body).take() else {
            return;
        };
        drop(body);
        tracing::warn!(
            action = %watch.action,
            stall_secs = watch.stall_timeout.as_secs_f64(),
            "reply cut off: its caller stopped reading"
        );
        if let (Some(archive), Some(actor)) = (&watch.archive, watch.caller.0.get()) {
            let error = Error::DeadlineExceeded(format!(
                "the caller read none of the reply for {} s; it was cut off",
                watch.stall_timeout.as_secs()
            ));
            archive
                .record_failed_call(actor, &watch.action, &error)
                .await;
        }
        return;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still guards whole data.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set(slot: &Mutex<Option<Instant>>, value: Option<Instant>) {
    *lock(slot) = value;
}
