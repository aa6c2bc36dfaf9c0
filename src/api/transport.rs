//! The connection layer under the protocol: TLS (optionally with client certificates), the
//! rule that keeps plain HTTP on loopback, a cap on connections and the timeouts that stop a
//! slow or silent client from holding one.
//!
//! Timeouts. hyper's own `header_read_timeout` starts when a connection begins to wait for a
//! request, so on a kept-alive connection it also bounds the wait between requests: with it,
//! an idle timeout longer than the header timeout could never take effect. Each connection
//! therefore runs a small watchdog that follows three phases, like the idle and read-header
//! timeouts of Go's `net/http` and Envoy:
//!
//! - waiting for headers: from the end of the TLS handshake (or the TCP accept), or from the
//!   first byte of a later request, the headers must be complete within
//!   `server.header_timeout_seconds`;
//! - busy: a request is being handled, its body read included; no deadline, so a body that
//!   trickles in is not cut off;
//! - idle: after a response, the next request must start within
//!   `server.idle_timeout_seconds`.
//!
//! When a deadline passes the connection is dropped, which closes it; no request is in flight
//! then. The connection over the cap is answered by hyper alone, and there hyper's
//! `header_read_timeout` is exactly right: one request, then close.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use uuid::Uuid;

use super::ApiError;
use crate::config::{ServerSettings, TlsSettings};

/// Connections over the cap that are answered at once (each needs a TLS handshake and a
/// request read); past this the connection is closed without an answer.
const MAX_REFUSALS: usize = 64;
/// What a connection over the cap is told, in AWS's throttling shape, so SDKs back off.
const TOO_MANY_CONNECTIONS: &str = "Too many connections; retry later.";
/// Longest timeout accepted in settings (a day), so deadlines never overflow.
const MAX_TIMEOUT_SECONDS: u64 = 86_400;
/// Pause after a failed accept (out of file descriptors, say) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// At most one warning about refused connections in this time, so a flood does not flood
/// the log as well.
const REFUSAL_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Why the listener cannot be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Plain HTTP on an address that other hosts can reach, not allowed explicitly.
    #[error(
        "server.listen {0} is not a loopback address: set server.tls (certificate and \
         private_key) to serve HTTPS there, or server.allow_plaintext = true to accept \
         plain HTTP on it"
    )]
    Plaintext(SocketAddr),
    /// A PEM file named in settings is missing, unreadable or unusable.
    #[error("{setting} ({}): {reason}", path.display())]
    File {
        /// The setting that names the file.
        setting: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A limit out of range, or TLS settings rustls refuses.
    #[error("invalid settings: {0}")]
    Invalid(String),
}

/// How connections are accepted: with or without TLS, how many at once, and how long a
/// client may take. Built once at start-up from `[server]`.
pub struct Transport {
    /// The TLS acceptor when `server.tls` is set; plain HTTP otherwise.
    tls: Option<TlsAcceptor>,
    /// Whether every client must present a certificate from `server.tls.client_ca`.
    client_certificates: bool,
    /// Connections served at once; the next one is answered 503 and closed.
    max_connections: usize,
    /// Bound on the TLS handshake and on receiving a request's headers.
    header_timeout: Duration,
    /// Bound on the wait for the next request on a kept-alive connection.
    idle_timeout: Duration,
    /// Bound on the wait for requests in flight once shutdown begins.
    shutdown_grace: Duration,
}

impl Transport {
    /// Checks the settings for a listener on `listen` (the configured address or its
    /// command-line override) and reads the TLS files.
    pub fn new(settings: &ServerSettings, listen: SocketAddr) -> Result<Transport, TransportError> {
        if settings.max_connections == 0 || settings.max_connections > Semaphore::MAX_PERMITS {
            return Err(TransportError::Invalid(format!(
                "server.max_connections must be between 1 and {}",
                Semaphore::MAX_PERMITS
            )));
        }
        let header_timeout = timeout(
            "server.header_timeout_seconds",
            settings.header_timeout_seconds,
        )?;
        let idle_timeout = timeout("server.idle_timeout_seconds", settings.idle_timeout_seconds)?;
        let shutdown_grace = timeout(
            "server.shutdown_grace_seconds",
            settings.shutdown_grace_seconds,
        )?;
        let tls = match &settings.tls {
            Some(tls) => Some(TlsAcceptor::from(Arc::new(server_config(tls)?))),
            None => {
                if !listen.ip().to_canonical().is_loopback() {
                    if !settings.allow_plaintext {
                        return Err(TransportError::Plaintext(listen));
                    }
                    tracing::warn!(
                        %listen,
                        "plain HTTP on an address other hosts can reach (server.allow_plaintext): \
                         requests and key material cross the network unencrypted"
                    );
                }
                None
            }
        };
        Ok(Transport {
            tls,
            client_certificates: settings.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
            max_connections: settings.max_connections,
            header_timeout,
            idle_timeout,
            shutdown_grace,
        })
    }

    /// `https` with TLS, `http` without.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Accepts connections from `listener` and answers their requests with `handler` until
    /// `shutdown` completes, then lets open requests finish.
    ///
    /// Unlike a server that waits for a free slot before accepting, this accepts and then
    /// looks for a slot: a client over the cap gets a 503 it can act on instead of hanging
    /// in the listen backlog.
    pub(crate) async fn run<H, F>(
        self,
        listener: TcpListener,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
    {
        match listener.local_addr() {
            Ok(address) => tracing::info!(
                scheme = self.scheme(),
                %address,
                client_certificates = self.client_certificates,
                max_connections = self.max_connections,
                header_timeout_seconds = self.header_timeout.as_secs(),
                idle_timeout_seconds = self.idle_timeout.as_secs(),
                "listening"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot read the listening address"),
        }
        let transport = Arc::new(self);
        let connections = Arc::new(Semaphore::new(transport.max_connections));
        let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
        let graceful = GracefulShutdown::new();
        let mut refused = Refused::default();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Small request/response pairs: do not wait for Nagle.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            if let Ok(permit) = connections.clone().try_acquire_owned() {
                let watcher = graceful.watcher();
                let transport = transport.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    transport.serve(stream, peer, watcher, handler).await;
                    drop(permit);
                });
                continue;
            }
            refused.count(transport.max_connections);
            match refusals.clone().try_acquire_owned() {
                Ok(permit) => {
                    tracing::debug!(%peer, "too many connections: refusing");
                    tokio::spawn(transport.clone().refuse(stream, peer, permit));
                }
                Err(_) => tracing::debug!(%peer, "too many connections: closing unanswered"),
            }
        }
        drop(listener); // new connections are refused now, not left in the backlog
        tracing::info!("no longer accepting connections; letting requests in flight finish");
        if tokio::time::timeout(transport.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                grace_seconds = transport.shutdown_grace.as_secs(),
                "requests still in flight when the shutdown grace ran out are cut off"
            );
        }
    }

    /// One admitted connection: the TLS handshake if any, then HTTP/1.1 under the watchdog.
    async fn serve<H, F>(&self, stream: TcpStream, peer: SocketAddr, watcher: Watcher, handler: H)
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
    {
        let Some(acceptor) = &self.tls else {
            return self.http(stream, peer, watcher, handler).await;
        };
        match tokio::time::timeout(self.header_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.http(stream, peer, watcher, handler).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    async fn http<S, H, F>(&self, io: S, peer: SocketAddr, watcher: Watcher, handler: H)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
    {
        let phases = Arc::new(Phases::new(self.header_timeout, self.idle_timeout));
        let expiry = expiry(phases.sender.subscribe());
        let io = Watched {
            inner: io,
            phases: phases.clone(),
        };
        let service = service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(peer); // the audit record's source
            let in_flight = InFlight::start(phases.clone());
            let response = handler(req);
            async move {
                let response = response.await;
                drop(in_flight);
                response
            }
        });
        // The watchdog bounds header reads; hyper's own timer would also cut idle waits.
        let conn = http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(io), service);
        let conn = watcher.watch(conn);
        tokio::select! {
            ended = conn => if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            },
            reason = expiry => tracing::debug!(%peer, reason, "connection closed"),
        }
    }

    /// A connection over the cap: completes the TLS handshake, reads one request and answers
    /// 503 ThrottlingException, then closes; all within twice the header timeout.
    async fn refuse(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
    ) {
        let answer = async {
            match &self.tls {
                None => self.answer_throttled(stream).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => self.answer_throttled(stream).await,
                    Err(e) => Err(e.to_string()),
                },
            }
        };
        match tokio::time::timeout(self.header_timeout.saturating_mul(2), answer).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "refused connection ended with an error")
            }
            Err(_) => tracing::debug!(%peer, "refused connection timed out"),
        }
        drop(permit);
    }

    async fn answer_throttled<S>(&self, io: S) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(|req: Request<Incoming>| async move {
            // Read what the client sent: closing with unread data would reset the
            // connection, and the client could lose the answer.
            let _ = Limited::new(req.into_body(), super::MAX_BODY)
                .collect()
                .await;
            let error = ApiError {
                type_name: "ThrottlingException",
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: TOO_MANY_CONNECTIONS.to_owned(),
            };
            Ok::<_, Infallible>(super::error_reply(&error, &Uuid::new_v4().to_string()))
        });
        http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .keep_alive(false)
            .serve_connection(TokioIo::new(io), service)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Connections refused at the cap since the last warning about them.
#[derive(Default)]
struct Refused {
    /// Refusals not yet reported.
    since_warning: u64,
    /// When the last warning was logged; `None` before the first.
    warned_at: Option<Instant>,
}

impl Refused {
    /// Counts one refusal and warns when none was logged for a while.
    fn count(&mut self, max_connections: usize) {
        self.since_warning += 1;
        if self
            .warned_at
            .is_some_and(|at| at.elapsed() < REFUSAL_WARNING_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            max_connections,
            refused = self.since_warning,
            "connection limit reached (server.max_connections): answering 503"
        );
        self.since_warning = 0;
        self.warned_at = Some(Instant::now());
    }
}

/// A timeout setting in seconds, 1 to a day.
fn timeout(setting: &str, seconds: u64) -> Result<Duration, TransportError> {
    if seconds == 0 || seconds > MAX_TIMEOUT_SECONDS {
        return Err(TransportError::Invalid(format!(
            "{setting} must be between 1 and {MAX_TIMEOUT_SECONDS}, got {seconds}"
        )));
    }
    Ok(Duration::from_secs(seconds))
}

/// The rustls server configuration: ring as the crypto provider, TLS 1.2 and 1.3, HTTP/1.1
/// by ALPN, and client certificates required when `client_ca` is set.
fn server_config(tls: &TlsSettings) -> Result<rustls::ServerConfig, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates("server.tls.certificate", &tls.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&tls.private_key).map_err(|e| {
        pem_error(
            "server.tls.private_key",
            &tls.private_key,
            "no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in it",
            e,
        )
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Invalid(format!("TLS: {e}")))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let setting = "server.tls.client_ca";
            let mut roots = rustls::RootCertStore::empty();
            for certificate in certificates(setting, path)? {
                roots
                    .add(certificate)
                    .map_err(|e| file_error(setting, path, e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| file_error(setting, path, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        file_error(
            "server.tls.certificate",
            &tls.certificate,
            format!(
                "cannot be used with server.tls.private_key ({}): {e}",
                tls.private_key.display()
            ),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Every certificate in the PEM file `path`; at least one.
fn certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let missing = "no PEM certificate (BEGIN CERTIFICATE) in it";
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error(setting, path, missing, e))?;
    if chain.is_empty() {
        return Err(file_error(setting, path, missing));
    }
    Ok(chain)
}

fn pem_error(
    setting: &'static str,
    path: &Path,
    missing: &str,
    error: pem::Error,
) -> TransportError {
    match error {
        pem::Error::NoItemsFound => file_error(setting, path, missing),
        pem::Error::Io(e) => file_error(setting, path, format!("cannot read: {e}")),
        e => file_error(setting, path, format!("not valid PEM: {e}")),
    }
}

fn file_error(
    setting: &'static str,
    path: &Path,
    reason: impl std::fmt::Display,
) -> TransportError {
    TransportError::File {
        setting,
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Where a connection is in its request cycle, and until when it may stay there.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request's headers to be complete.
    Headers { until: Instant },
    /// A request is being handled: no deadline.
    Busy,
    /// Between requests, waiting for the first byte of the next one.
    Idle { until: Instant },
}

/// A connection's phase, shared by its reader (first byte of a request), its service (a
/// request starts and ends) and its watchdog (which sleeps until the deadline).
struct Phases {
    /// The current phase; the watchdog is woken when it changes.
    sender: watch::Sender<Phase>,
    /// How long headers may take.
    header_timeout: Duration,
    /// How long a kept-alive connection may wait for a request.
    idle_timeout: Duration,
}

impl Phases {
    fn new(header_timeout: Duration, idle_timeout: Duration) -> Phases {
        let until = Instant::now() + header_timeout;
        Phases {
            sender: watch::Sender::new(Phase::Headers { until }),
            header_timeout,
            idle_timeout,
        }
    }

    /// Bytes arrived: on an idle connection they start a request, whose headers are due.
    fn bytes_arrived(&self) {
        if !matches!(*self.sender.borrow(), Phase::Idle { .. }) {
            return;
        }
        let until = Instant::now() + self.header_timeout;
        self.sender.send_if_modified(|phase| match phase {
            Phase::Idle { .. } => {
                *phase = Phase::Headers { until };
                true
            }
            Phase::Headers { .. } | Phase::Busy => false,
        });
    }
}

/// A request being handled; the connection turns idle when it is dropped, answered or not.
struct InFlight(Arc<Phases>);

impl InFlight {
    fn start(phases: Arc<Phases>) -> InFlight {
        phases.sender.send_replace(Phase::Busy);
        InFlight(phases)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let until = Instant::now() + self.0.idle_timeout;
        self.0.sender.send_replace(Phase::Idle { until });
    }
}

/// Completes when the connection has stayed in a phase past its deadline; names which.
async fn expiry(mut phase: watch::Receiver<Phase>) -> &'static str {
    loop {
        let current = *phase.borrow_and_update();
        let (until, reason) = match current {
            Phase::Headers { until } => (until, "header timeout"),
            Phase::Idle { until } => (until, "idle timeout"),
            Phase::Busy => {
                if phase.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                continue;
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(until) => {
                if !phase.has_changed().unwrap_or(false) {
                    return reason;
                }
            }
            changed = phase.changed() => {
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// A connection's byte stream, telling `Phases` when bytes arrive.
struct Watched<S> {
    /// The TCP or TLS stream.
    inner: S,
    /// The phase to move to `Headers` when an idle connection receives bytes.
    phases: Arc<Phases>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.phases.bytes_arrived();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
