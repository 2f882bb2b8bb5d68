//! TLS on the listener, terminated here rather than by tonic so that the certificate is re-read
//! when its files change (tonic's own TLS configuration is fixed when the server is built), and
//! so that a caller's client certificate reaches authentication with the connection's details.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use futures::{Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::danger::ClientCertVerifier;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::linger::LingeringClose;
use crate::settings::TlsSettings;

/// The certificate files are looked at again at most this often: a handshake costs one
/// `stat` of each file per interval, not per connection.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// A client that has not finished its handshake by then is dropped, so that silent
/// connections cannot hold places among `server.max_connections`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// Accepts TLS connections with the configured certificate, and client certificates if asked.
pub fn acceptor(settings: &TlsSettings) -> anyhow::Result<TlsAcceptor> {
    anyhow::ensure!(
        !settings.cert_file.is_empty() && !settings.key_file.is_empty(),
        "server.tls needs both cert_file and key_file"
    );
    let resolver = ReloadingCertificate::load(
        PathBuf::from(&settings.cert_file),
        PathBuf::from(&settings.key_file),
    )?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("the TLS protocol versions")?;
    let builder = if settings.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_verifier(client_verifier(&settings.client_ca_file)?)
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn client_verifier(ca_file: &str) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca_file)
        .with_context(|| format!("reading server.tls.client_ca_file {ca_file}"))?
    {
        let certificate =
            certificate.with_context(|| format!("reading server.tls.client_ca_file {ca_file}"))?;
        roots
            .add(certificate)
            .with_context(|| format!("a certificate of server.tls.client_ca_file {ca_file}"))?;
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "server.tls.client_ca_file {ca_file} holds no certificate"
    );
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .context("the client certificate verifier")
}

/// The server's certificate and key, read again when either file's modification time changes.
/// A pair that fails to load (a half-written file, a key that does not match) is logged and the
/// previous pair kept, so a botched rotation never takes the listener down.
#[derive(Debug)]
struct ReloadingCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    modified: (Option<SystemTime>, Option<SystemTime>),
    checked_at: Instant,
}

impl ReloadingCertificate {
    fn load(cert_file: PathBuf, key_file: PathBuf) -> anyhow::Result<Self> {
        let modified = modified(&cert_file, &key_file);
        let key = Arc::new(read_pair(&cert_file, &key_file)?);
        Ok(Self {
            cert_file,
            key_file,
            current: Mutex::new(Loaded {
                key,
                modified,
                checked_at: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().ok()?;
        if current.checked_at.elapsed() >= RELOAD_CHECK_INTERVAL {
            current.checked_at = Instant::now();
            let modified = modified(&self.cert_file, &self.key_file);
            if modified != current.modified {
                match read_pair(&self.cert_file, &self.key_file) {
                    Ok(key) => {
                        tracing::info!(cert_file = %self.cert_file.display(), "tls certificate reloaded");
                        current.key = Arc::new(key);
                        current.modified = modified;
                    }
                    // Retried at the next check: the files may be halfway through a rotation.
                    Err(error) => tracing::error!(
                        error = format!("{error:#}"),
                        "tls certificate not reloaded: keeping the previous one"
                    ),
                }
            }
        }
        Some(current.key.clone())
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

fn modified(cert_file: &PathBuf, key_file: &PathBuf) -> (Option<SystemTime>, Option<SystemTime>) {
    let of = |path: &PathBuf| fs::metadata(path).and_then(|m| m.modified()).ok();
    (of(cert_file), of(key_file))
}

fn read_pair(cert_file: &PathBuf, key_file: &PathBuf) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading server.tls.cert_file {}", cert_file.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "server.tls.cert_file {} holds no certificate",
        cert_file.display()
    );
    let key = PrivateKeyDer::from_pem_file(key_file)
        .with_context(|| format!("reading server.tls.key_file {}", key_file.display()))?;
    CertifiedKey::from_der(chain, key, &provider())
        .context("the tls certificate and key do not make a pair")
}

/// An accepted connection, in clear or over TLS.
#[derive(Debug)]
pub enum Connection {
    Plain(LingeringClose),
    Tls(Box<TlsStream<LingeringClose>>),
}

/// What tonic puts in every request's extensions about its connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub tcp: TcpConnectInfo,
    /// The caller's verified certificate, under mutual TLS.
    pub client_certificate: Option<Arc<CertificateDer<'static>>>,
}

impl ConnectionInfo {
    /// Whether the client certificate names `client_id` as one of its DNS subject alternative
    /// names; true without a client certificate (no mutual TLS on this connection).
    pub fn certificate_names(&self, client_id: &str) -> bool {
        let Some(certificate) = &self.client_certificate else {
            return true;
        };
        let Ok(name) = ServerName::try_from(client_id) else {
            return false;
        };
        let Ok(parsed) =
            tokio_rustls::rustls::server::ParsedCertificate::try_from(certificate.as_ref())
        else {
            return false;
        };
        tokio_rustls::rustls::client::verify_server_name(&parsed, &name).is_ok()
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        match self {
            Connection::Plain(stream) => ConnectionInfo {
                tcp: stream.connect_info(),
                client_certificate: None,
            },
            Connection::Tls(stream) => {
                let (tcp, session) = stream.get_ref();
                ConnectionInfo {
                    tcp: tcp.connect_info(),
                    client_certificate: session
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|leaf| Arc::new(leaf.clone().into_owned())),
                }
            }
        }
    }
}

/// The accepted connections after their TLS handshakes, which run concurrently (one slow
/// client never holds up the others) and end when the server drops the stream.
pub fn handshakes<S>(
    accepted: S,
    acceptor: TlsAcceptor,
) -> impl Stream<Item = io::Result<Connection>> + Send + 'static
where
    S: Stream<Item = io::Result<LingeringClose>> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut accepted = std::pin::pin!(accepted);
        loop {
            let next = tokio::select! {
                next = accepted.next() => next,
                () = sender.closed() => break,
            };
            let Some(next) = next else { break };
            let stream = match next {
                Ok(stream) => stream,
                Err(error) => {
                    if sender.send(Err(error)).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = sender.send(Ok(Connection::Tls(Box::new(tls)))).await;
                    }
                    Ok(Err(error)) => {
                        tracing::info!(error = %error, "tls handshake failed");
                    }
                    Err(_) => tracing::info!("tls handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Connection::Plain(stream) => stream.is_write_vectored(),
            Connection::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}
