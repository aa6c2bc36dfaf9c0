//! The transport under the protocol: HTTPS with the AWS SDK, mutual TLS, plain HTTP kept on
//! loopback, the connection cap and the header and idle timeouts, against the real daemon
//! with certificates made here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::Client;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use common::{start_refused, Daemon};
use hsmkms::api::Transport;
use hsmkms::config::ServerSettings;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use tokio_rustls::TlsConnector;

/// The longest any read here waits for the daemon.
const READ_LIMIT: Duration = Duration::from_secs(10);
const THROTTLED_BODY: &str =
    r#"{"__type":"ThrottlingException","message":"Too many connections; retry later."}"#;

/// A certificate and its key, PEM and DER.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// Test certificates: a CA, a server certificate for 127.0.0.1 and localhost and a client
/// certificate from it, and a second CA with a client certificate of its own.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    other_ca_pem: String,
    client: Leaf,
    other_client: Leaf,
}

impl Pki {
    fn new() -> Pki {
        let test_ca = ca("hsmkms test CA");
        let other_ca = ca("another test CA");
        let server = leaf(
            &test_ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(
            &test_ca,
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let other_client = leaf(
            &other_ca,
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), test_ca.pem()).expect("ca.pem");
        std::fs::write(dir.path().join("server.crt"), &server.cert_pem).expect("server.crt");
        std::fs::write(dir.path().join("server.key"), &server.key_pem).expect("server.key");
        Pki {
            dir,
            ca_pem: test_ca.pem(),
            ca_der: test_ca.der().clone(),
            other_ca_pem: other_ca.pem(),
            client,
            other_client,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `[server]` lines for HTTPS, with client certificates required when `mutual`.
    fn server_settings(&self, mutual: bool) -> String {
        let client_ca = if mutual {
            format!(", client_ca = \"{}\"", self.path("ca.pem").display())
        } else {
            String::new()
        };
        format!(
            "tls = {{ certificate = \"{}\", private_key = \"{}\"{client_ca} }}",
            self.path("server.crt").display(),
            self.path("server.key").display()
        )
    }
}

type Ca = CertifiedIssuer<'static, KeyPair>;

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

fn leaf(ca: &Ca, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, &**ca).expect("sign leaf");
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

/// An SDK client for `daemon` over HTTPS that trusts only the CA in `ca_pem`.
fn https_client(daemon: &Daemon, ca_pem: &str) -> Client {
    let tls = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(ca_pem.as_bytes()))
        .build()
        .expect("TLS context");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls)
        .build_https();
    let config = daemon
        .client()
        .config()
        .to_builder()
        .http_client(http)
        .build();
    Client::from_conf(config)
}

/// The daemon's `host:port`.
fn address(daemon: &Daemon) -> String {
    let (_, address) = daemon.endpoint.split_once("://").expect("scheme");
    address.to_owned()
}

/// A TLS connection to the daemon trusting `ca`, presenting `identity` when given.
async fn tls_connect(
    daemon: &Daemon,
    ca: &CertificateDer<'static>,
    identity: Option<&Leaf>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots);
    let config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.cert_der.clone()],
                PrivateKeyDer::from(PrivatePkcs8KeyDer::from(leaf.key_der.clone())),
            )
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(address(daemon)).await?;
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// A SigV4-signed GenerateRandom request for `host`, as an SDK sends it (kept alive).
fn generate_random_request(host: &str) -> Vec<u8> {
    let body = r#"{"NumberOfBytes":16}"#;
    let target = Some("TrentService.GenerateRandom");
    common::signed_request(host, target, body, common::DEV_KEY, SystemTime::now(), "").into_bytes()
}

/// Reads one response with a Content-Length: its status and body.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> (u16, String) {
    let mut bytes = Vec::new();
    let head_end = loop {
        if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, &mut bytes).await;
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_lowercase();
    let status = head[9..12].parse().expect("status");
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("content-length"))
        .unwrap_or(0);
    while bytes.len() < head_end + length {
        read_more(stream, &mut bytes).await;
    }
    let body = String::from_utf8_lossy(&bytes[head_end..head_end + length]).into_owned();
    (status, body)
}

/// Appends what the next read brings to `bytes`; the connection must not close.
async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, bytes: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = tokio::time::timeout(READ_LIMIT, stream.read(&mut chunk))
        .await
        .expect("a response in time")
        .expect("read");
    assert!(n > 0, "closed before a whole response: {bytes:?}");
    bytes.extend_from_slice(&chunk[..n]);
}

/// Waits at most `limit` for the daemon to close `stream` without sending anything; how long
/// that took.
async fn closed_within<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    match tokio::time::timeout(limit, stream.read(&mut chunk)).await {
        Ok(Ok(0)) | Ok(Err(_)) => started.elapsed(),
        Ok(Ok(n)) => panic!("data instead of a close: {:?}", &chunk[..n]),
        Err(_) => panic!("still open after {limit:?}"),
    }
}

/// Asserts that a TLS connection was refused by the daemon during or right after the
/// handshake, with a TLS alert and no HTTP answer.
async fn assert_refused_by_tls(
    connected: std::io::Result<tokio_rustls::client::TlsStream<TcpStream>>,
) {
    let mut stream = match connected {
        Ok(stream) => stream,
        Err(e) => return assert!(e.to_string().contains("alert"), "{e}"),
    };
    // TLS 1.3: the client finishes first, and the server's verdict arrives as an alert.
    let mut chunk = [0u8; 1024];
    match tokio::time::timeout(READ_LIMIT, stream.read(&mut chunk)).await {
        Ok(Err(e)) => assert!(e.to_string().contains("alert"), "{e}"),
        Ok(Ok(n)) => panic!("no TLS alert, read {n} bytes: {:?}", &chunk[..n]),
        Err(_) => panic!("neither refused nor answered"),
    }
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write");
    stream.flush().await.expect("flush");
}

#[tokio::test]
async fn the_sdk_works_over_https_trusting_the_test_ca() {
    let pki = Pki::new();
    let daemon = Daemon::start_with_server_settings(&pki.server_settings(false));
    assert!(
        daemon.endpoint.starts_with("https://127.0.0.1:"),
        "banner: {}",
        daemon.endpoint
    );
    let client = https_client(&daemon, &pki.ca_pem);
    let key = common::new_key(&client).await;
    let blob = common::encrypt(&client, &key, b"over TLS".to_vec()).await;
    assert_eq!(common::decrypt(&client, blob).await, b"over TLS");
    let random = client
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateRandom");
    assert_eq!(random.plaintext().map(|p| p.as_ref().len()), Some(32));
    let log = daemon.log();
    assert!(
        log.contains("listening") && log.contains("scheme=\"https\""),
        "{log}"
    );

    // A client that does not trust the daemon's CA stops at the handshake.
    let stranger = https_client(&daemon, &pki.other_ca_pem);
    let error = stranger
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect_err("untrusted server certificate");
    assert!(error.raw_response().is_none(), "{error:?}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    // (The daemon may close before the whole request is written.)
    let mut plain = TcpStream::connect(address(&daemon)).await.expect("connect");
    let request = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n";
    let _ = plain.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(READ_LIMIT, plain.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
}

#[tokio::test]
async fn mutual_tls_accepts_a_client_certificate_from_the_client_ca() {
    let pki = Pki::new();
    let daemon = Daemon::start_with_server_settings(&pki.server_settings(true));
    let mut stream = tls_connect(&daemon, &pki.ca_der, Some(&pki.client))
        .await
        .expect("TLS with a client certificate");
    for _ in 0..2 {
        write(&mut stream, &generate_random_request(&address(&daemon))).await;
        let (status, body) = read_response(&mut stream).await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert!(json["Plaintext"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_client_ca() {
    let pki = Pki::new();
    let daemon = Daemon::start_with_server_settings(&pki.server_settings(true));
    assert_refused_by_tls(tls_connect(&daemon, &pki.ca_der, None).await).await;
    assert_refused_by_tls(tls_connect(&daemon, &pki.ca_der, Some(&pki.other_client)).await).await;

    // The SDK (which presents no client certificate) gets no HTTP response either.
    let error = https_client(&daemon, &pki.ca_pem)
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect_err("no client certificate");
    assert!(error.raw_response().is_none(), "{error:?}");

    // The daemon is still serving the right client.
    let mut stream = tls_connect(&daemon, &pki.ca_der, Some(&pki.client))
        .await
        .expect("TLS with a client certificate");
    write(&mut stream, &generate_random_request(&address(&daemon))).await;
    assert_eq!(read_response(&mut stream).await.0, 200);
}

#[test]
fn plain_http_off_loopback_is_refused_at_start_up() {
    let (status, log) = start_refused("", &[("HSMKMS__SERVER__LISTEN", "0.0.0.0:0")]);
    assert!(!status.success(), "{status:?}");
    assert!(
        log.contains("server.listen 0.0.0.0:0 is not a loopback address")
            && log.contains("server.tls")
            && log.contains("server.allow_plaintext = true"),
        "{log}"
    );
}

#[test]
fn plain_http_off_loopback_starts_when_allowed_explicitly() {
    let mut daemon = Daemon::start_with_server_settings("allow_plaintext = true");
    daemon.set_env("HSMKMS__SERVER__LISTEN", "0.0.0.0:0");
    daemon.restart();
    assert!(
        daemon.endpoint.starts_with("http://0.0.0.0:"),
        "{}",
        daemon.endpoint
    );
    assert!(
        daemon.log().contains("server.allow_plaintext"),
        "{}",
        daemon.log()
    );
}

#[test]
fn an_unreadable_tls_file_is_a_start_up_error_naming_setting_and_path() {
    let pki = Pki::new();
    let missing = pki.path("missing.key");
    let settings = format!(
        "tls = {{ certificate = \"{}\", private_key = \"{}\" }}",
        pki.path("server.crt").display(),
        missing.display()
    );
    let (status, log) = start_refused(&settings, &[]);
    assert!(!status.success(), "{status:?}");
    let expected = format!(
        "server.tls.private_key ({}): cannot read",
        missing.display()
    );
    assert!(log.contains(&expected), "{log}");
}

#[tokio::test]
async fn connections_over_the_cap_get_503_throttling_and_are_closed() {
    let daemon = Daemon::start_with_server_settings("max_connections = 2");
    let host = address(&daemon);
    let mut first = TcpStream::connect(&host).await.expect("first");
    let mut second = TcpStream::connect(&host).await.expect("second");

    let mut third = TcpStream::connect(&host).await.expect("third");
    write(&mut third, &generate_random_request(&host)).await;
    assert_eq!(
        read_response(&mut third).await,
        (503, THROTTLED_BODY.to_owned())
    );
    closed_within(&mut third, READ_LIMIT).await;

    let error = daemon
        .client()
        .generate_random()
        .number_of_bytes(8)
        .send()
        .await
        .expect_err("over the cap");
    assert_eq!(
        (error.code(), error.message()),
        (
            Some("ThrottlingException"),
            Some("Too many connections; retry later.")
        ),
        "{error:?}"
    );
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(503));

    // The admitted connections are served as usual.
    write(&mut second, &generate_random_request(&host)).await;
    assert_eq!(read_response(&mut second).await.0, 200);

    // Closing one frees its place (the daemon notices the close on its own time).
    first.shutdown().await.expect("close");
    drop(first);
    let mut status = 503;
    for _ in 0..100 {
        let mut next = TcpStream::connect(&host).await.expect("next");
        write(&mut next, &generate_random_request(&host)).await;
        status = read_response(&mut next).await.0;
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200);
}

#[tokio::test]
async fn header_timeout_closes_a_connection_whose_request_line_stalls() {
    let daemon = Daemon::start_with_server_settings("header_timeout_seconds = 1");
    let mut stream = TcpStream::connect(address(&daemon)).await.expect("connect");
    write(&mut stream, b"POST / HT").await;
    let waited = closed_within(&mut stream, READ_LIMIT).await;
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(4),
        "{waited:?}"
    );

    // A connection that sends nothing at all is closed as well.
    let mut silent = TcpStream::connect(address(&daemon)).await.expect("connect");
    let waited = closed_within(&mut silent, READ_LIMIT).await;
    assert!(waited < Duration::from_secs(4), "{waited:?}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_request_timeout() {
    let daemon = Daemon::start_with_server_settings("header_timeout_seconds = 1");
    let mut stream = TcpStream::connect(address(&daemon)).await.expect("connect");
    let head = "POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: TrentService.ListKeys\r\ncontent-length: 50\r\n\r\n{\"Li";
    write(&mut stream, head.as_bytes()).await;
    let (status, body) = tokio::time::timeout(READ_LIMIT, read_response(&mut stream))
        .await
        .expect("an answer, not a hang");
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["__type"], "RequestTimeoutException");
    assert_eq!(
        body["message"],
        "The request body did not arrive in time (limit: 1 s)."
    );
}

#[tokio::test]
async fn header_timeout_bounds_the_tls_handshake() {
    let pki = Pki::new();
    let settings = format!("{}\nheader_timeout_seconds = 1", pki.server_settings(false));
    let daemon = Daemon::start_with_server_settings(&settings);
    let mut stream = TcpStream::connect(address(&daemon)).await.expect("connect");
    let waited = closed_within(&mut stream, READ_LIMIT).await;
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[tokio::test]
async fn idle_timeout_closes_a_kept_alive_connection_between_requests() {
    // Idle connections outlive the 1 s header timeout, and close after 3 s without a request.
    let daemon =
        Daemon::start_with_server_settings("header_timeout_seconds = 1\nidle_timeout_seconds = 3");
    let host = address(&daemon);
    let mut stream = TcpStream::connect(&host).await.expect("connect");
    write(&mut stream, &generate_random_request(&host)).await;
    assert_eq!(read_response(&mut stream).await.0, 200);

    let mut chunk = [0u8; 64];
    let quiet = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut chunk)).await;
    assert!(quiet.is_err(), "closed or answered while idle: {quiet:?}");
    write(&mut stream, &generate_random_request(&host)).await;
    assert_eq!(read_response(&mut stream).await.0, 200);

    let waited = closed_within(&mut stream, READ_LIMIT).await;
    assert!(
        waited >= Duration::from_millis(2_500) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
}

/// `[server]` settings as the daemon would read them, from JSON.
fn server_settings(json: serde_json::Value) -> ServerSettings {
    serde_json::from_value(json).expect("server settings")
}

fn transport_error(json: serde_json::Value) -> String {
    let settings = server_settings(json);
    match Transport::new(&settings, settings.listen) {
        Ok(_) => panic!("accepted: {settings:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn plain_http_is_accepted_on_loopback_only() {
    for listen in [
        "127.0.0.1:0",
        "127.1.2.3:0",
        "[::1]:0",
        "[::ffff:127.0.0.1]:0",
    ] {
        let settings = server_settings(serde_json::json!({ "listen": listen }));
        let transport = Transport::new(&settings, settings.listen).expect(listen);
        assert_eq!(transport.scheme(), "http");
    }
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"] {
        let message = transport_error(serde_json::json!({ "listen": listen }));
        assert!(
            message.contains("server.tls") && message.contains("server.allow_plaintext"),
            "{message}"
        );
    }
    let allowed =
        server_settings(serde_json::json!({ "listen": "0.0.0.0:0", "allow_plaintext": true }));
    let listen: SocketAddr = "0.0.0.0:0".parse().expect("address");
    assert!(Transport::new(&allowed, listen).is_ok());
}

#[test]
fn limits_out_of_range_are_refused_naming_the_setting() {
    for (setting, value) in [
        ("max_connections", 0),
        ("header_timeout_seconds", 0),
        ("idle_timeout_seconds", 0),
        ("idle_timeout_seconds", 86_401),
    ] {
        let message =
            transport_error(serde_json::json!({ "listen": "127.0.0.1:0", setting: value }));
        assert!(message.contains(&format!("server.{setting}")), "{message}");
    }
}

#[test]
fn unusable_tls_files_are_refused_naming_setting_and_path() {
    let pki = Pki::new();
    let cert = pki.path("server.crt");
    let key = pki.path("server.key");
    let ca = pki.path("ca.pem");
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").expect("garbage");
    let other_key = pki.path("other.key");
    std::fs::write(&other_key, &pki.client.key_pem).expect("other key");
    let nope = pki.path("nope.crt");
    let display = |p: &Path| p.display().to_string();
    let cases = [
        (
            &nope,
            &key,
            None,
            format!("server.tls.certificate ({}): cannot read", display(&nope)),
        ),
        (
            &key,
            &key,
            None,
            format!(
                "server.tls.certificate ({}): no PEM certificate",
                display(&key)
            ),
        ),
        (
            &cert,
            &cert,
            None,
            format!(
                "server.tls.private_key ({}): no PEM private key",
                display(&cert)
            ),
        ),
        (
            &cert,
            &other_key,
            None,
            format!(
                "server.tls.certificate ({}): cannot be used with server.tls.private_key",
                display(&cert)
            ),
        ),
        (
            &cert,
            &key,
            Some(&garbage),
            format!(
                "server.tls.client_ca ({}): no PEM certificate",
                display(&garbage)
            ),
        ),
    ];
    for (certificate, private_key, client_ca, expected) in cases {
        let message = transport_error(serde_json::json!({
            "listen": "0.0.0.0:0",
            "tls": { "certificate": certificate, "private_key": private_key, "client_ca": client_ca },
        }));
        assert!(
            message.contains(&expected),
            "{message}\nexpected: {expected}"
        );
    }
    let good = server_settings(serde_json::json!({
        "listen": "0.0.0.0:0",
        "tls": { "certificate": cert, "private_key": key, "client_ca": ca },
    }));
    let transport = Transport::new(&good, good.listen).expect("good TLS settings");
    assert_eq!(transport.scheme(), "https");
}

#[test]
fn the_production_sample_serves_https_on_all_interfaces() {
    let sample = config::Config::builder()
        .add_source(config::File::from(Path::new("config/production.toml")))
        .build()
        .expect("production sample");
    let server: ServerSettings = sample.get("server").expect("[server]");
    assert_eq!(
        server.listen,
        "0.0.0.0:8443".parse::<SocketAddr>().expect("address")
    );
    assert!(!server.allow_plaintext);
    let tls = server.tls.as_ref().expect("[server.tls]");
    assert!(tls.certificate.starts_with("/etc/hsmkms/"), "{tls:?}");
    assert!(tls.private_key.starts_with("/etc/hsmkms/"), "{tls:?}");
    assert!(tls.client_ca.is_none(), "{tls:?}");
    // Its example paths do not exist here: the error names the setting and the path.
    let message = match Transport::new(&server, server.listen) {
        Ok(_) => panic!("example files exist"),
        Err(e) => e.to_string(),
    };
    let expected = format!(
        "server.tls.certificate ({}): cannot read",
        tls.certificate.display()
    );
    assert!(message.contains(&expected), "{message}");
}
