//! The middleware every call passes through, built in [`stack`], and the protective limits of
//! `server.*` it enforces: how many calls may be in flight, how long a unary call may run, how
//! large a message may be and how a connection is kept in check. A call over a limit is
//! answered at once with a status the caller can act on; nothing waits in an unbounded queue.

mod admission;
mod authentication;
mod caller_places;
mod checkpoint;
mod linger;
mod reply_progress;
mod rpc_span;
mod system_rates;
pub mod tls;
mod unary_timeout;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use prost::Message as _;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tonic::server::NamedService;
use tonic_health::pb::health_server::HealthServer;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};

pub use admission::{Admission, AdmissionLayer};
pub use authentication::{
    Authentication, AuthenticationLayer, Authenticator, Gate, TokenExpiry, TrustedKey, actor,
    token_expiry,
};
pub use caller_places::{CallerPlaces, CallerPlacesLayer};
pub use checkpoint::{Checkpoint, CheckpointLayer, Gatekeeper};
pub use linger::LingeringClose;
pub use reply_progress::{ReplyProgress, ReplyProgressLayer};
pub use rpc_span::{RpcSpan, RpcSpanLayer};
pub use system_rates::{SystemRates, SystemRatesLayer};
pub use unary_timeout::{UnaryTimeout, UnaryTimeoutLayer};

use crate::grpc::services::MAX_CHUNK_BYTES;
use crate::settings::ServerSettings;

/// The smallest message limit that still lets a ReadPage reply through: one chunk of page plus
/// the message's own fields.
const MIN_MESSAGE_BYTES: usize = MAX_CHUNK_BYTES + 1024;

/// See [`Protection::max_health_message_bytes`].
const HEALTH_MESSAGE_BYTES: usize = 1024;

/// The layers [`stack`] builds, outermost first.
pub type Middleware = Stack<
    UnaryTimeoutLayer,
    Stack<
        CallerPlacesLayer,
        Stack<
            SystemRatesLayer,
            Stack<
                AuthenticationLayer,
                Stack<AdmissionLayer, Stack<ReplyProgressLayer, Stack<RpcSpanLayer, Identity>>>,
            >,
        >,
    >,
>;

/// The middleware, in the order a call meets it:
///
/// 1. RPC span: every call, admitted or not, gets its span and its metrics, so refusals are
///    seen too.
/// 2. Reply progress: a reply its caller stops reading for `server.reply_stall_timeout_secs`
///    is cut off and recorded, which gives back every place below it (and the database
///    connection or object read behind it). It wraps admission so that cutting the reply
///    frees the places; it learns the actor from authentication through the request.
/// 3. Admission: a call takes one of `server.max_concurrent_requests` places, shared by all
///    connections, and keeps it until its reply has been sent in full (a ReadPage stream holds
///    its place while it streams). With no place free the call is answered RESOURCE_EXHAUSTED
///    at once: no queue, so overload costs callers a fast retry rather than growing latency
///    and memory. Health checks need no place: probes and load balancers must see a saturated
///    server as alive and ready (it is, and a restart would only drop the calls it is serving),
///    and a health call costs next to nothing. It comes before authentication so that a flood
///    of calls cannot make the server verify signatures beyond its limit.
/// 4. Authentication: the bearer token becomes the call's actor, or the call is refused
///    UNAUTHENTICATED (and recorded) before any service decodes it. Health needs no token.
/// 5. Rates per system: a system the policy gives `max_calls_per_second` (the channels that
///    call for the public) is held to it, all its persons together; a call over it is refused
///    RESOURCE_EXHAUSTED and recorded (coalesced). It needs the actor.
/// 6. Places per caller: one person of one system (the token's `client_id` and `sub`) holds at
///    most `server.max_requests_per_caller` of the places, so a caller that stalls its streams
///    or floods the server with calls cannot take the pool from everyone else. It needs the
///    actor, so it comes after authentication.
/// 7. Unary timeout: a unary call still running after `server.unary_timeout_secs` is dropped
///    and answered DEADLINE_EXCEEDED. Streaming calls (FileDocument, ReadPage, health Watch,
///    reflection) are spared: a large page takes minutes, and a filing has its own idle
///    timeout. It comes last so that only admitted, authenticated calls are timed.
///
/// A caller's own `grpc-timeout` is enforced by tonic around this stack, on every call.
pub fn stack(protection: &Protection, gate: Gate) -> Middleware {
    let archive = gate.archive().cloned();
    ServiceBuilder::new()
        .layer(RpcSpanLayer)
        .layer(ReplyProgressLayer {
            stall_timeout: protection.reply_stall_timeout,
            methods: protection.methods.clone(),
            archive: archive.clone(),
        })
        .layer(protection.admission_layer())
        .layer(AuthenticationLayer::new(Authentication {
            gate,
            methods: protection.methods.clone(),
        }))
        .layer(SystemRatesLayer::new(SystemRates::new(
            archive,
            protection.methods.clone(),
        )))
        .layer(protection.caller_places.clone())
        .layer(protection.unary_timeout_layer())
        .into_inner()
}

/// The protective settings of `server.*`, checked, and the state the layers share.
#[derive(Debug, Clone)]
pub struct Protection {
    /// The places for calls in flight, shared by every connection; `None` without a limit.
    places: Option<Arc<Semaphore>>,
    max_concurrent_requests: usize,
    /// Each caller's places, shared by every connection.
    caller_places: CallerPlacesLayer,
    unary_timeout: Option<Duration>,
    reply_stall_timeout: Option<Duration>,
    /// The methods the server offers, by path (`/package.Service/Method`).
    methods: Arc<Methods>,
    max_message_bytes: usize,
    /// The places for connections; `None` without a limit.
    connections: Option<Arc<Semaphore>>,
    max_connections: usize,
    max_concurrent_streams: Option<u32>,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Duration,
}

/// The paths (`/package.Service/Method`) of the methods the server offers.
#[derive(Debug, Default)]
pub struct Methods {
    all: HashSet<String>,
    /// The streaming ones, which the unary timeout spares.
    streaming: HashSet<String>,
}

impl Methods {
    /// The method's name for the audit trail: its own for a method the server offers,
    /// `unknown-method` for any other path, which the caller chose and which is not recorded.
    pub fn action_of<'a>(&self, path: &'a str) -> &'a str {
        match path.rsplit_once('/') {
            Some((_, method)) if self.all.contains(path) => method,
            _ => "unknown-method",
        }
    }
}

impl Protection {
    /// Checks the settings. A message limit below one ReadPage chunk would make every page
    /// unreadable, so it is refused here rather than discovered by callers.
    pub fn new(server: &ServerSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            server.max_message_bytes >= MIN_MESSAGE_BYTES,
            "server.max_message_bytes must be at least {MIN_MESSAGE_BYTES}: a ReadPage reply \
             carries up to {MAX_CHUNK_BYTES} bytes of page"
        );
        anyhow::ensure!(
            server.http2_keepalive_timeout_secs >= 1,
            "server.http2_keepalive_timeout_secs must be at least 1"
        );
        let seconds = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        let limit = server.max_concurrent_requests.min(Semaphore::MAX_PERMITS);
        Ok(Self {
            places: (limit > 0).then(|| Arc::new(Semaphore::new(limit))),
            max_concurrent_requests: limit,
            caller_places: CallerPlacesLayer::new(CallerPlaces::new(
                server.max_requests_per_caller,
            )),
            unary_timeout: seconds(server.unary_timeout_secs),
            reply_stall_timeout: seconds(server.reply_stall_timeout_secs),
            methods: Arc::new(methods()?),
            max_message_bytes: server.max_message_bytes,
            connections: (server.max_connections > 0)
                .then(|| Arc::new(Semaphore::new(server.max_connections))),
            max_connections: server.max_connections,
            max_concurrent_streams: (server.max_concurrent_streams_per_connection > 0)
                .then_some(server.max_concurrent_streams_per_connection),
            keepalive_interval: seconds(server.http2_keepalive_interval_secs),
            keepalive_timeout: Duration::from_secs(server.http2_keepalive_timeout_secs),
        })
    }

    /// The largest message every service decodes and encodes. tonic refuses a larger request
    /// message with OUT_OF_RANGE.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// The largest health message decoded or encoded: a service name and a status, nothing
    /// more. Health needs no token, so nothing it accepts may be large.
    pub fn max_health_message_bytes(&self) -> usize {
        HEALTH_MESSAGE_BYTES
    }

    /// Admits an accepted connection, or refuses it (it is closed at once) when
    /// `server.max_connections` are open: what connections can hold in memory stays bounded
    /// however many a peer opens, with or without a token.
    pub fn admit_connection(&self, stream: TcpStream) -> Option<LingeringClose> {
        let Some(places) = &self.connections else {
            return Some(LingeringClose::new(stream));
        };
        match places.clone().try_acquire_owned() {
            Ok(place) => Some(LingeringClose::holding(stream, place)),
            Err(_) => {
                tracing::warn!(
                    peer = ?stream.peer_addr().ok(),
                    limit = self.max_connections,
                    "connection refused: too many connections open"
                );
                None
            }
        }
    }

    /// HTTP/2 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS); `None` is unlimited.
    /// Well-behaved clients wait for a free stream on their side; admission's global limit is
    /// what refuses calls.
    pub fn max_concurrent_streams(&self) -> Option<u32> {
        self.max_concurrent_streams
    }

    pub fn http2_keepalive_interval(&self) -> Option<Duration> {
        self.keepalive_interval
    }

    pub fn http2_keepalive_timeout(&self) -> Option<Duration> {
        Some(self.keepalive_timeout)
    }

    fn admission_layer(&self) -> AdmissionLayer {
        AdmissionLayer::new(Admission {
            places: self.places.clone(),
            limit: self.max_concurrent_requests,
        })
    }

    fn unary_timeout_layer(&self) -> UnaryTimeoutLayer {
        UnaryTimeoutLayer {
            timeout: self.unary_timeout,
            methods: self.methods.clone(),
        }
    }
}

/// The paths of every method the server offers, and of the streaming ones, read from the
/// descriptors of its services: a streaming RPC added later is spared by the unary timeout,
/// and a refused call to a method that does not exist is recorded as such, without a list to
/// keep up to date.
fn methods() -> anyhow::Result<Methods> {
    let sets = [
        crate::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = Methods::default();
    for set in sets {
        let set = prost_types::FileDescriptorSet::decode(set)
            .context("the embedded service descriptors do not decode")?;
        for file in &set.file {
            for service in &file.service {
                let service_name = match file.package() {
                    "" => service.name().to_owned(),
                    package => format!("{package}.{}", service.name()),
                };
                for method in &service.method {
                    let path = format!("/{service_name}/{}", method.name());
                    if method.client_streaming() || method.server_streaming() {
                        methods.streaming.insert(path.clone());
                    }
                    methods.all.insert(path);
                }
            }
        }
    }
    Ok(methods)
}

/// Whether `path` is a call of the health service.
fn is_health_check(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|path| path.strip_prefix(<HealthServer<()> as NamedService>::NAME))
        .is_some_and(|method| method.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tokio::sync::watch;
    use tonic::Code;
    use tower::ServiceExt as _;
    use tower::util::BoxCloneService;

    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body::Frame;
    use tonic::Status;
    use tonic::body::Body;
    use tower::{Layer, Service};

    use super::*;

    impl Protection {
        /// Admission and the unary timeout, without authentication (its own tests cover it).
        fn layer(&self) -> Stack<UnaryTimeoutLayer, Stack<AdmissionLayer, Identity>> {
            ServiceBuilder::new()
                .layer(self.admission_layer())
                .layer(self.unary_timeout_layer())
                .into_inner()
        }
    }

    const GET_CUSTOMER: &str = "/custodian.v1.CustomerService/GetCustomer";
    const READ_PAGE: &str = "/custodian.v1.PageService/ReadPage";
    const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

    type Inner = BoxCloneService<http::Request<()>, http::Response<Body>, Infallible>;

    fn server_settings() -> ServerSettings {
        ServerSettings {
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            ..ServerSettings::default()
        }
    }

    fn protection(change: impl FnOnce(&mut ServerSettings)) -> Protection {
        let mut settings = server_settings();
        change(&mut settings);
        Protection::new(&settings).unwrap()
    }

    fn request(path: &str) -> http::Request<()> {
        http::Request::builder().uri(path).body(()).unwrap()
    }

    /// The status of a reply: an error status is in its headers; none means OK.
    fn code(response: &http::Response<Body>) -> Code {
        Status::from_header_map(response.headers()).map_or(Code::Ok, |status| status.code())
    }

    /// A service whose calls wait until `gate` turns true, then answer OK.
    fn gated(gate: watch::Receiver<bool>) -> Inner {
        BoxCloneService::new(tower::service_fn(move |_request: http::Request<()>| {
            let mut gate = gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok(http::Response::new(Body::empty()))
            }
        }))
    }

    /// A service whose calls take `duration`, then answer OK.
    fn taking(duration: Duration) -> Inner {
        BoxCloneService::new(tower::service_fn(
            move |_request: http::Request<()>| async move {
                tokio::time::sleep(duration).await;
                Ok(http::Response::new(Body::empty()))
            },
        ))
    }

    #[tokio::test]
    async fn a_call_beyond_the_limit_is_refused_at_once_with_resource_exhausted() {
        let (open, gate) = watch::channel(false);
        let mut service = protection(|s| s.max_concurrent_requests = 1)
            .layer()
            .layer(gated(gate));

        // The call takes its place when it is made and keeps it until it is answered.
        let held = service.ready().await.unwrap().call(request(GET_CUSTOMER));
        let refused = service
            .clone()
            .oneshot(request(GET_CUSTOMER))
            .await
            .unwrap();
        assert_eq!(code(&refused), Code::ResourceExhausted);
        let status = Status::from_header_map(refused.headers()).unwrap();
        assert!(status.message().contains("limit of 1 calls in flight"));

        open.send_replace(true);
        assert_eq!(code(&held.await.unwrap()), Code::Ok);
        let next = service.oneshot(request(GET_CUSTOMER)).await.unwrap();
        assert_eq!(code(&next), Code::Ok, "the place is free again");
    }

    #[tokio::test]
    async fn health_checks_are_answered_when_every_place_is_taken() {
        let (open, gate) = watch::channel(false);
        let mut service = protection(|s| s.max_concurrent_requests = 1)
            .layer()
            .layer(gated(gate));
        let _held = service.ready().await.unwrap().call(request(GET_CUSTOMER));
        open.send_replace(true);

        let probe = service
            .clone()
            .oneshot(request(HEALTH_CHECK))
            .await
            .unwrap();
        assert_eq!(code(&probe), Code::Ok);
        let call = service.oneshot(request(GET_CUSTOMER)).await.unwrap();
        assert_eq!(
            code(&call),
            Code::ResourceExhausted,
            "the place is still held"
        );
    }

    #[tokio::test]
    async fn a_reply_keeps_its_place_until_its_body_is_gone() {
        let service =
            protection(|s| s.max_concurrent_requests = 1)
                .layer()
                .layer(tower::service_fn(|_request: http::Request<()>| async {
                    // A body that never ends, as a ReadPage stream has not ended while it streams.
                    Ok::<_, Infallible>(http::Response::new(Body::new(Endless)))
                }));

        let streaming = service.clone().oneshot(request(READ_PAGE)).await.unwrap();
        assert_eq!(code(&streaming), Code::Ok);
        let refused = service.clone().oneshot(request(READ_PAGE)).await.unwrap();
        assert_eq!(code(&refused), Code::ResourceExhausted);
        drop(streaming);
        let next = service.oneshot(request(READ_PAGE)).await.unwrap();
        assert_eq!(code(&next), Code::Ok);
    }

    /// A body that never yields a frame nor ends.
    struct Endless;

    impl http_body::Body for Endless {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn without_a_limit_every_call_is_admitted() {
        let (open, gate) = watch::channel(false);
        let mut service = protection(|s| s.max_concurrent_requests = 0)
            .layer()
            .layer(gated(gate));
        let mut calls = Vec::new();
        for _ in 0..10 {
            calls.push(service.ready().await.unwrap().call(request(GET_CUSTOMER)));
        }
        open.send_replace(true);
        for call in calls {
            assert_eq!(code(&call.await.unwrap()), Code::Ok);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_unary_call_over_the_time_limit_is_answered_deadline_exceeded() {
        let service = protection(|s| s.unary_timeout_secs = 30)
            .layer()
            .layer(taking(Duration::from_secs(600)));
        let started = tokio::time::Instant::now();
        let response = service.oneshot(request(GET_CUSTOMER)).await.unwrap();
        assert_eq!(code(&response), Code::DeadlineExceeded);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_streaming_call_is_not_cut_by_the_unary_time_limit() {
        let service = protection(|s| s.unary_timeout_secs = 30)
            .layer()
            .layer(taking(Duration::from_secs(600)));
        for path in [READ_PAGE, "/custodian.v1.DocumentService/FileDocument"] {
            let response = service.clone().oneshot(request(path)).await.unwrap();
            assert_eq!(code(&response), Code::Ok, "{path}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_unary_time_limit_of_zero_is_no_limit() {
        let service = protection(|s| s.unary_timeout_secs = 0)
            .layer()
            .layer(taking(Duration::from_secs(600)));
        let response = service.oneshot(request(GET_CUSTOMER)).await.unwrap();
        assert_eq!(code(&response), Code::Ok);
    }

    #[test]
    fn the_streaming_methods_are_read_from_the_service_descriptors() {
        let streaming = methods().unwrap().streaming;
        for path in [
            "/custodian.v1.DocumentService/FileDocument",
            READ_PAGE,
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(streaming.contains(path), "{path} is streaming");
        }
        assert!(!streaming.contains(GET_CUSTOMER));
        assert!(!streaming.contains("/custodian.v1.DocumentService/GetDocument"));
    }

    #[test]
    fn only_the_health_service_counts_as_a_health_check() {
        assert!(is_health_check(HEALTH_CHECK));
        assert!(is_health_check("/grpc.health.v1.Health/Watch"));
        assert!(!is_health_check("/grpc.health.v1.HealthX/Check"));
        assert!(!is_health_check(GET_CUSTOMER));
    }

    #[test]
    fn a_message_limit_below_one_page_chunk_is_refused() {
        let mut settings = server_settings();
        settings.max_message_bytes = 64 * 1024;
        let error = Protection::new(&settings).unwrap_err();
        assert!(error.to_string().contains("server.max_message_bytes"));
        settings.max_message_bytes = MIN_MESSAGE_BYTES;
        assert!(Protection::new(&settings).is_ok());
    }

    #[test]
    fn zero_turns_the_stream_limit_and_the_pings_off() {
        let protection = protection(|s| {
            s.max_concurrent_streams_per_connection = 0;
            s.http2_keepalive_interval_secs = 0;
        });
        assert_eq!(protection.max_concurrent_streams(), None);
        assert_eq!(protection.http2_keepalive_interval(), None);
    }
}
