//! Test support for the webhook server over real TLS: a throw-away PKI (rcgen), certificate
//! directories laid out like a mounted Secret, the server started in-process on port 0, and
//! clients (hyper-rustls for HTTPS, tokio-rustls for handshake-level checks, raw TCP for the
//! plain-HTTP probes and metrics). Every wait is bounded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Version};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use locust_operator::flags::ServerFlags;
use locust_operator::metrics::Metrics;
use locust_operator::webhook::server::Readiness;
use locust_operator::webhook::{CertSource, Listeners, ServeError, Serving, serve};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

/// Upper bound of any single request in these tests: nothing may hang.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the test servers re-read their certificate files.
pub const RELOAD_INTERVAL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------------
// PKI

/// A certificate authority that issues serving certificates.
pub struct Ca {
    /// The CA certificate (DER), to put in a client's trust store.
    pub der: CertificateDer<'static>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A serving certificate and its key, PEM-encoded as cert-manager writes them.
#[derive(Clone)]
pub struct Leaf {
    /// `tls.crt`: the leaf certificate.
    pub cert_pem: String,
    /// `tls.key`: its private key (PKCS#8).
    pub key_pem: String,
    /// The leaf certificate (DER), to compare with what a handshake presents.
    pub der: CertificateDer<'static>,
}

impl Ca {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate in PEM (`ca.crt`).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A serving certificate for `127.0.0.1` and `localhost` with a fresh key and serial.
    pub fn issue(&self, common_name: &str) -> Leaf {
        self.issue_for(common_name, KeyPair::generate().expect("leaf key"))
    }

    /// A serving certificate for the key given in PKCS#8 PEM (e.g. RSA, which ring cannot
    /// generate).
    pub fn issue_for_pem(&self, common_name: &str, pkcs8_pem: &str) -> Leaf {
        self.issue_for(
            common_name,
            KeyPair::from_pem(pkcs8_pem).expect("a PKCS#8 key"),
        )
    }

    fn issue_for(&self, common_name: &str, key: KeyPair) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Certificate directories

static DIRS: AtomicUsize = AtomicUsize::new(0);

static SWEEP: std::sync::Once = std::sync::Once::new();

/// A fresh, empty directory under the target's temporary directory (named after this process;
/// the first call removes those of earlier test processes that are gone).
pub fn fresh_dir(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("webhook_server");
    SWEEP.call_once(|| {
        if !Path::new("/proc/self").exists() {
            return; // no way to tell which processes are gone
        }
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let file_name = entry.file_name();
            let pid = file_name
                .to_string_lossy()
                .split('-')
                .rev()
                .nth(1)
                .map(str::to_owned);
            if let Some(pid) = pid
                && pid.chars().all(|c| c.is_ascii_digit())
                && !Path::new("/proc").join(&pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    let dir = root.join(format!(
        "{name}-{}-{}",
        std::process::id(),
        DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the temporary directory");
    dir
}

static GENERATIONS: AtomicUsize = AtomicUsize::new(0);

/// Writes `tls.crt` and `tls.key` into `dir` the way the kubelet updates a Secret volume:
/// the files go into a new hidden timestamped directory, `..data` is atomically re-pointed to
/// it (a symlink renamed over the old one), and `tls.crt`/`tls.key` are symlinks through
/// `..data`. A reader sees either the old pair or the new pair, never a mix.
pub fn install(dir: &Path, cert_pem: &[u8], key_pem: &[u8]) {
    let generation = format!("..gen_{}", GENERATIONS.fetch_add(1, Ordering::Relaxed));
    let target = dir.join(&generation);
    std::fs::create_dir_all(&target).expect("create the generation directory");
    std::fs::write(target.join("tls.crt"), cert_pem).expect("write tls.crt");
    std::fs::write(target.join("tls.key"), key_pem).expect("write tls.key");
    let staged = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(&generation, &staged).expect("stage ..data");
    std::fs::rename(&staged, dir.join("..data")).expect("swap ..data");
    for name in ["tls.crt", "tls.key"] {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(name), &link)
                .expect("link the file");
        }
    }
}

/// [`install`] of a leaf certificate.
pub fn install_leaf(dir: &Path, leaf: &Leaf) {
    install(dir, leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes());
}

// ---------------------------------------------------------------------------------------------
// The server, in-process

/// The webhook server with its probes and metrics, running in this process on loopback
/// ports chosen by the kernel. Dropping it stops it.
pub struct TestServer {
    /// HTTPS webhooks.
    pub webhook: SocketAddr,
    /// Plain-HTTP `/healthz` and `/readyz`.
    pub probes: SocketAddr,
    /// Plain-HTTP `/metrics`.
    pub metrics: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    /// Starts a server on the certificate directory `dir` (which may be empty); returns once
    /// all three listeners are bound (not necessarily ready).
    pub async fn start(dir: &Path) -> Self {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let flags = ServerFlags {
            webhook_bind_address: loopback,
            health_probe_bind_address: loopback,
            metrics_bind_address: loopback,
            cert_dir: dir.to_owned(),
            cert_reload_interval: RELOAD_INTERVAL,
        };
        let listeners = Listeners::bind(&flags).await.expect("bind port 0");
        let (webhook, probes, metrics) = (
            listeners.webhook.local_addr().expect("address"),
            listeners.probes.local_addr().expect("address"),
            listeners.metrics.local_addr().expect("address"),
        );
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            let serving = Serving {
                certificate: CertSource::files(&flags),
                metrics: Arc::new(Metrics::new()),
                readiness: Readiness::default(),
            };
            serve(listeners, serving, token).await
        });
        Self {
            webhook,
            probes,
            metrics,
            shutdown,
            task: Some(task),
        }
    }

    /// A server on a fresh directory holding a certificate of `ca`; returns once `/readyz`
    /// answers 200.
    pub async fn ready(name: &str, ca: &Ca) -> (Self, PathBuf, Leaf) {
        let dir = fresh_dir(name);
        let leaf = ca.issue("webhook");
        install_leaf(&dir, &leaf);
        let server = Self::start(&dir).await;
        server.wait_ready().await;
        (server, dir, leaf)
    }

    /// Waits (bounded) until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let probes = self.probes;
        wait_for(
            "/readyz to answer 200",
            Duration::from_secs(10),
            || async move { matches!(plain_get(probes, "/readyz").await, Ok((200, _))) },
        )
        .await;
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.webhook)
    }

    /// Stops the server and waits (bounded) for it to finish; fails on a serving error.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(REQUEST_TIMEOUT, task)
                .await
                .expect("the server stops in time")
                .expect("the server task does not panic")
                .expect("the server stops without error");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `check` every 20 ms until it is true; panics with `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

/// A rustls client configuration (ring, as the server) trusting only `roots`, restricted to
/// `versions` when given.
pub fn client_config(
    roots: &[&CertificateDer<'static>],
    versions: Option<&[&'static rustls::SupportedProtocolVersion]>,
) -> rustls::ClientConfig {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add((*root).clone()).expect("add the test CA");
    }
    let builder =
        rustls::ClientConfig::builder_with_provider(locust_operator::webhook::tls::provider());
    let builder = match versions {
        Some(versions) => builder.with_protocol_versions(versions),
        None => builder.with_safe_default_protocol_versions(),
    }
    .expect("protocol versions");
    builder.with_root_certificates(store).with_no_client_auth()
}

/// Which HTTP version an [`HttpsClient`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Http {
    /// HTTP/1.1 only (no ALPN).
    One,
    /// HTTP/2 only (ALPN `h2`).
    Two,
}

/// A real HTTPS client (hyper-rustls over hyper-util) verifying the server's chain against
/// the test CA; keeps connections alive between requests.
#[derive(Clone)]
pub struct HttpsClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// HTTP version it came over.
    pub version: Version,
    /// Content-Type, if any.
    pub content_type: String,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl HttpsClient {
    /// A client trusting `ca`, speaking `http`.
    pub fn new(ca: &Ca, http: Http) -> Self {
        Self::with_config(client_config(&[&ca.der], None), http)
    }

    /// A client with its own rustls configuration.
    pub fn with_config(config: rustls::ClientConfig, http: Http) -> Self {
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only();
        // Like Go's net/http (the API server's client), no Nagle delay on the client side.
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let (connector, h2_only) = match http {
            Http::One => (builder.enable_http1().wrap_connector(tcp), false),
            Http::Two => (builder.enable_http2().wrap_connector(tcp), true),
        };
        let client = Client::builder(TokioExecutor::new())
            .http2_only(h2_only)
            .build(connector);
        Self { client }
    }

    /// Sends a request and reads the whole response, within [`REQUEST_TIMEOUT`].
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body.into()))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("request failed: {e:?}"))?;
            let status = response.status().as_u16();
            let version = response.version();
            let content_type = response
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the body failed: {e:?}"))?
                .to_bytes();
            Ok(Reply {
                status,
                version,
                content_type,
                body,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no response within {REQUEST_TIMEOUT:?} from {url}"))?
    }

    /// POSTs a JSON body.
    pub async fn post_json(&self, url: &str, body: &serde_json::Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("serialize");
        self.send(
            Method::POST,
            url,
            &[("content-type", "application/json")],
            bytes,
        )
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
    }
}

/// A TLS handshake with `addr` (SNI `server_name`); the stream on success.
pub async fn handshake(
    addr: SocketAddr,
    server_name: &str,
    config: rustls::ClientConfig,
) -> Result<TlsStream<TcpStream>, String> {
    let connect = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let name = ServerName::try_from(server_name.to_owned()).map_err(|e| e.to_string())?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, connect)
        .await
        .map_err(|_| "handshake timed out".to_owned())?
}

/// The leaf certificate a TLS stream's server presented.
pub fn served_leaf(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("the server presented a certificate")
        .clone()
        .into_owned()
}

/// The leaf certificate a fresh handshake sees (trusting `roots`).
pub async fn current_leaf(
    addr: SocketAddr,
    roots: &[&CertificateDer<'static>],
) -> Result<CertificateDer<'static>, String> {
    handshake(addr, "localhost", client_config(roots, None))
        .await
        .map(|stream| served_leaf(&stream))
}

/// A plain-HTTP GET (probes, metrics): status and body, within [`REQUEST_TIMEOUT`].
pub async fn plain_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("read: {e}"))?;
        parse_http1(&raw)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("GET {path}: no response within {REQUEST_TIMEOUT:?}"))?
}

/// Status code and body of a raw HTTP/1.1 response (Content-Length or chunked).
pub fn parse_http1(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("incomplete response: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut out = String::new();
        let mut rest = body;
        loop {
            let (size, after) = rest
                .split_once("\r\n")
                .ok_or_else(|| format!("truncated chunked body: {body:?}"))?;
            let size = usize::from_str_radix(size.trim(), 16)
                .map_err(|e| format!("bad chunk size {size:?}: {e}"))?;
            if size == 0 {
                break;
            }
            let chunk = after
                .get(..size)
                .ok_or_else(|| format!("truncated chunk: {body:?}"))?;
            out.push_str(chunk);
            rest = after.get(size + 2..).unwrap_or_default();
        }
        out
    } else {
        let length: usize = header("content-length")
            .ok_or_else(|| format!("no Content-Length: {head:?}"))?
            .parse()
            .map_err(|e| format!("bad Content-Length: {e}"))?;
        if body.len() != length {
            return Err(format!(
                "body of {} bytes, Content-Length {length}: {body:?}",
                body.len()
            ));
        }
        body.to_owned()
    };
    Ok((status, body))
}
