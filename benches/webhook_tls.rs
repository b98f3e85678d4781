//! Throughput of the real webhook server over TLS on loopback, against two ceilings.
//!
//! - The real server (`serve`: axum router, TLS from a certificate directory, probes,
//!   metrics) runs in-process on 127.0.0.1 with a certificate generated here (a test CA and a
//!   serving certificate for `127.0.0.1`, written as `tls.crt`/`tls.key` under the target
//!   directory).
//! - The echo ceiling: a bare rustls echo server (the same rustls configuration and
//!   certificate, the same hyper connection builder, a service that reads the body and answers
//!   a fixed small 200 — no routing, no JSON, no metrics).
//! - The parse ceiling: the same bare server, which also decodes each body into the typed
//!   review the real webhook reads (`webhook::review::TypedReview`: what any correct webhook
//!   must pay) before answering a fixed 200. The real server is reported against both.
//! - Two steps between them (skipped with `BENCH_STEPS=0`): the bare server answering with
//!   `admit` called inline on the connection's task, and through `spawn_blocking` (which the
//!   real handler uses only for reviews over 64 KiB). They show where the distance between
//!   the ceilings and the server goes.
//!
//! Each is driven by the same clients with the same settings: `BENCH_CONNECTIONS` clients,
//! each on its own HTTP/1.1 keep-alive connection that verifies the chain, POST the recorded
//! `create-v2.validate` review to `/validate?timeout=5s` back to back for `BENCH_SECONDS`
//! (after `BENCH_WARMUP_SECONDS` untimed). Prints requests/s, p50, p99 and the CPU the server
//! and client threads used per request, and each against the ceilings. All load stays on
//! 127.0.0.1 and is bounded in time.
//!
//! ```text
//! cargo bench --bench webhook_tls
//! BENCH_CONNECTIONS=1 BENCH_SECONDS=10 cargo bench --bench webhook_tls
//! ```
//!
//! Environment: `BENCH_CONNECTIONS` (default 8), `BENCH_SECONDS` (default 5),
//! `BENCH_WARMUP_SECONDS` (default 1), `BENCH_SERVER_THREADS` (tokio workers of the servers,
//! default: the number of CPUs), `BENCH_CLIENT_THREADS` (tokio workers of the clients,
//! default 1), `BENCH_STEPS` (0 skips the two intermediate servers), `REVIEWS_DIR` (the
//! recorded reviews). See `BENCHMARKS.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use locust_operator::flags::ServerFlags;
use locust_operator::metrics::Metrics;
use locust_operator::webhook::admission::{Admission, admit};
use locust_operator::webhook::review::TypedReview;
use locust_operator::webhook::server::Readiness;
use locust_operator::webhook::tls::{
    CERT_FILE, KEY_FILE, ReloadingCert, certified_key, provider, server_config,
};
use locust_operator::webhook::{CertSource, Listeners, Serving, serve};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// What the API server appends to the path (`timeoutSeconds: 5`).
const VALIDATE_URL_PATH: &str = "/validate?timeout=5s";
/// Longest a request may take before it counts as failed (keeps every run bounded in time).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The ceilings' answer to every request.
const ECHO_REPLY: &[u8] = b"{\"ok\":true}\n";

struct Settings {
    connections: usize,
    seconds: f64,
    warmup_seconds: f64,
    server_threads: usize,
    client_threads: usize,
    steps: bool,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let settings = Settings {
            connections: env_or("BENCH_CONNECTIONS", 8),
            seconds: env_or("BENCH_SECONDS", 5.0),
            warmup_seconds: env_or("BENCH_WARMUP_SECONDS", 1.0),
            server_threads: env_or("BENCH_SERVER_THREADS", cpus),
            client_threads: env_or("BENCH_CLIENT_THREADS", 1),
            steps: env_or("BENCH_STEPS", 1) != 0,
        };
        assert!(settings.connections >= 1, "BENCH_CONNECTIONS must be >= 1");
        assert!(
            settings.seconds > 0.0 && settings.seconds <= 120.0,
            "BENCH_SECONDS must be in (0, 120]"
        );
        assert!(
            (0.0..=60.0).contains(&settings.warmup_seconds),
            "BENCH_WARMUP_SECONDS must be in [0, 60]"
        );
        assert!(settings.server_threads >= 1 && settings.client_threads >= 1);
        settings
    }
}

fn reviews_dir() -> PathBuf {
    std::env::var_os("REVIEWS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apiserver-reviews"),
        PathBuf::from,
    )
}

fn review_body() -> Bytes {
    let path = reviews_dir().join("create-v2.validate.json");
    let recorded: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read {} ({e}); set REVIEWS_DIR", path.display())),
    )
    .unwrap();
    assert_eq!(recorded["path"], VALIDATE_URL_PATH);
    Bytes::from(serde_json::to_vec(&recorded["body"]).unwrap())
}

/// A test CA and a serving certificate for 127.0.0.1 signed by it: (CA PEM, cert PEM, key PEM).
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "locust-operator bench CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "locust-operator-webhook");
    let cert = params.signed_by(&key, &ca).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn write_cert_dir(cert_pem: &str, key_pem: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webhook_tls_bench_certs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(CERT_FILE), cert_pem).unwrap();
    std::fs::write(dir.join(KEY_FILE), key_pem).unwrap();
    dir
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One client with its own pool: one keep-alive HTTP/1.1 connection, verifying the chain
/// against `ca_pem`, `TCP_NODELAY` set (as Go's net/http, and so the API server, does).
fn https_client(ca_pem: &str) -> HttpsClient {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build(connector)
}

fn request(addr: SocketAddr, body: &Bytes) -> Request<Full<Bytes>> {
    Request::post(format!("https://{addr}{VALIDATE_URL_PATH}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, */*")
        .header(header::USER_AGENT, "kube-apiserver-admission")
        .body(Full::new(body.clone()))
        .unwrap()
}

/// Sends one request and reads the whole answer, within [`REQUEST_TIMEOUT`].
async fn send(client: &HttpsClient, addr: SocketAddr, body: &Bytes) -> Result<Bytes, String> {
    let exchange = async {
        let response = client
            .request(request(addr, body))
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, answer))
    };
    let (status, answer) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))??;
    if status == StatusCode::OK {
        Ok(answer)
    } else {
        Err(format!("{status}: {}", String::from_utf8_lossy(&answer)))
    }
}

/// What one load run measured.
struct Run {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile(&self, q: f64) -> Duration {
        let n = self.latencies.len();
        self.latencies[((n as f64 * q).ceil() as usize).clamp(1, n) - 1]
    }
}

/// `settings.connections` clients POST `body` back to back: untimed during the warm-up, then
/// timed for `settings.seconds`. Only requests started inside the timed window count.
async fn load(addr: SocketAddr, body: Bytes, ca_pem: &str, settings: &Settings) -> Run {
    let start = Instant::now() + Duration::from_secs_f64(settings.warmup_seconds);
    let end = start + Duration::from_secs_f64(settings.seconds);
    let workers: Vec<_> = (0..settings.connections)
        .map(|_| {
            let (client, body) = (https_client(ca_pem), body.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0usize);
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let result = send(&client, addr, &body).await;
                    if sent < start {
                        continue;
                    }
                    match result {
                        Ok(_) => latencies.push(sent.elapsed()),
                        Err(error) => {
                            if errors == 0 {
                                eprintln!("request failed: {error}");
                            }
                            errors += 1;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut run = Run {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for worker in workers {
        let (latencies, errors) = worker.await.unwrap();
        run.latencies.extend(latencies);
        run.errors += errors;
    }
    // Requests that started before `end` may finish a little after it.
    run.elapsed = start.elapsed();
    run.requests = run.latencies.len();
    run.latencies.sort_unstable();
    assert!(run.requests > 0, "no request succeeded");
    run
}

/// What a bare server does with each request, after reading the body.
#[derive(Clone, Copy, PartialEq)]
enum Bare {
    /// Answers [`ECHO_REPLY`]: the echo ceiling.
    Echo,
    /// Decodes the body as a [`TypedReview`], then answers [`ECHO_REPLY`]: the parse ceiling.
    Parse,
    /// Answers `admit(Validate, body)`, called on the connection's task.
    AdmitInline,
    /// Answers `admit(Validate, body)`, called through `spawn_blocking` like the real handler.
    AdmitBlocking,
}

async fn bare_answer(mode: Bare, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let body = request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let answer = match mode {
        Bare::Echo => Bytes::from_static(ECHO_REPLY),
        Bare::Parse => {
            let review = TypedReview::from_slice(&body).expect("the review reads");
            std::hint::black_box(review);
            Bytes::from_static(ECHO_REPLY)
        }
        Bare::AdmitInline => admit(Admission::Validate, &body).body.into(),
        Bare::AdmitBlocking => {
            tokio::task::spawn_blocking(move || admit(Admission::Validate, &body))
                .await
                .unwrap()
                .body
                .into()
        }
    };
    let mut response = Response::new(Full::new(answer));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A bare rustls + hyper server: the same rustls configuration (protocol versions, ALPN,
/// certificate resolver) and the same hyper connection builder as the real server, a
/// `service_fn` instead of the axum router, and no metrics, timeouts or graceful shutdown.
async fn bare_server(
    listener: tokio::net::TcpListener,
    cert: Arc<ReloadingCert>,
    mode: Bare,
    stop: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(cert).unwrap()));
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted.unwrap().0,
        };
        let (acceptor, builder) = (acceptor.clone(), builder.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| async move {
                Ok::<_, Infallible>(bare_answer(mode, request).await)
            });
            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
        });
    }
}

/// `(sum, count)` of `controller_runtime_webhook_latency_seconds` for `/validate`: the time
/// inside the handler (content-type check, reading the body, `admit` inline, metrics), as the server
/// itself measured it.
async fn handler_latency(metrics_addr: SocketAddr) -> Option<(f64, f64)> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let response = client
        .get(format!("http://{metrics_addr}/metrics").parse().ok()?)
        .await
        .ok()?;
    let text = response.into_body().collect().await.ok()?.to_bytes();
    let text = String::from_utf8_lossy(&text);
    let value = |metric: &str| {
        text.lines()
            .find(|line| line.starts_with(metric) && line.contains("webhook=\"/validate\""))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    Some((
        value("controller_runtime_webhook_latency_seconds_sum")?,
        value("controller_runtime_webhook_latency_seconds_count")?,
    ))
}

/// CPU time (user + system, in clock ticks of 10 ms) of each live thread of this process,
/// by thread id, with the thread's name. Empty where `/proc` is not available.
fn thread_cpu() -> HashMap<String, (String, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return HashMap::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: utime and stime are fields 14 and 15.
            let (open, close) = (stat.find('(')?, stat.rfind(')')?);
            let name = stat[open + 1..close].to_owned();
            let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
            let ticks =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some((
                task.file_name().to_string_lossy().into_owned(),
                (name, ticks),
            ))
        })
        .collect()
}

/// CPU seconds spent between two [`thread_cpu`] snapshots by the threads whose name starts
/// with `prefix` (threads that exited in between are missed; the runtimes keep theirs alive).
fn cpu_seconds(
    before: &HashMap<String, (String, u64)>,
    after: &HashMap<String, (String, u64)>,
    prefix: &str,
) -> f64 {
    let ticks: u64 = after
        .iter()
        .filter(|(_, (name, _))| name.starts_with(prefix))
        .map(|(tid, (_, ticks))| ticks - before.get(tid).map_or(0, |(_, t)| *t).min(*ticks))
        .sum();
    // USER_HZ: 100 on Linux.
    ticks as f64 / 100.0
}

/// [`load`], with the CPU the server and client threads used meanwhile.
fn measured_load(
    client_rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    body: &Bytes,
    ca_pem: &str,
    settings: &Settings,
) -> (Run, Option<(f64, f64)>) {
    let before = thread_cpu();
    let run = client_rt.block_on(load(addr, body.clone(), ca_pem, settings));
    let after = thread_cpu();
    let cpu = (!after.is_empty()).then(|| {
        (
            cpu_seconds(&before, &after, "bench-server"),
            cpu_seconds(&before, &after, "bench-client"),
        )
    });
    (run, cpu)
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn report(name: &str, run: &Run, cpu: Option<(f64, f64)>, settings: &Settings) {
    // CPU per request: over warm-up and timed window alike, divided by the requests of both
    // (estimated from the timed rate).
    let window = settings.warmup_seconds + run.elapsed.as_secs_f64();
    let all_requests = run.per_second() * window;
    let (server, client) = cpu.map_or((String::from("-"), String::from("-")), |(s, c)| {
        (
            format!("{:.0} ({:.2})", s / all_requests * 1e6, s / window),
            format!("{:.0} ({:.2})", c / all_requests * 1e6, c / window),
        )
    });
    println!(
        "{:<34} {:>8.0} {:>8} {:>8} {:>8} {:>8} {:>6} {:>16} {:>16}",
        name,
        run.per_second(),
        ms(run.quantile(0.50)),
        ms(run.quantile(0.99)),
        ms(*run.latencies.last().unwrap()),
        run.requests,
        run.errors,
        server,
        client
    );
}

fn main() {
    let settings = Settings::from_env();
    let body = review_body();
    let (ca_pem, cert_pem, key_pem) = certificates();
    let cert_dir = write_cert_dir(&cert_pem, &key_pem);

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.server_threads)
        .thread_name("bench-server")
        .thread_keep_alive(Duration::from_secs(120))
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads)
        .thread_name("bench-client")
        .thread_keep_alive(Duration::from_secs(120))
        .enable_all()
        .build()
        .unwrap();

    // The real server, with its certificate directory, probes and metrics.
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let flags = ServerFlags {
        webhook_bind_address: loopback,
        health_probe_bind_address: loopback,
        metrics_bind_address: loopback,
        cert_dir,
        cert_reload_interval: Duration::from_secs(60),
    };
    let listeners = server_rt.block_on(Listeners::bind(&flags)).unwrap();
    let webhook_addr = listeners.webhook.local_addr().unwrap();
    let metrics_addr = listeners.metrics.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let serving = server_rt.spawn({
        let shutdown = shutdown.clone();
        async move {
            let serving = Serving {
                certificate: CertSource::files(&flags),
                metrics: Arc::new(Metrics::new()),
                readiness: Readiness::default(),
            };
            serve(listeners, serving, shutdown).await
        }
    });

    // The ceilings and the two steps between them and the real server, on the same runtime.
    let cert = Arc::new(ReloadingCert::default());
    cert.set(certified_key(cert_pem.as_bytes(), key_pem.as_bytes(), Path::new(".")).unwrap());
    let mut bare = Vec::new();
    for mode in [
        Bare::Echo,
        Bare::Parse,
        Bare::AdmitInline,
        Bare::AdmitBlocking,
    ] {
        let listener = server_rt
            .block_on(tokio::net::TcpListener::bind(loopback))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let task = server_rt.spawn(bare_server(listener, cert.clone(), mode, shutdown.clone()));
        bare.push((mode, addr, task));
    }
    let bare_addr = |wanted: Bare| {
        bare.iter()
            .find(|(mode, _, _)| *mode == wanted)
            .map(|(_, addr, _)| *addr)
            .unwrap()
    };

    // Wait until the real server has loaded its certificate, and check its answer once.
    let first = client_rt.block_on(async {
        let client = https_client(&ca_pem);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match send(&client, webhook_addr, &body).await {
                Ok(answer) => break answer,
                Err(error) if Instant::now() > deadline => {
                    panic!("the webhook server did not answer: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    });
    let answer: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(answer["response"]["allowed"], true, "{answer}");

    println!(
        "POST {VALIDATE_URL_PATH} create-v2.validate ({} B), {} keep-alive HTTP/1.1 connections, \
         {} s timed after {} s warm-up; server runtime {} threads, client runtime {} threads, {} CPUs",
        body.len(),
        settings.connections,
        settings.seconds,
        settings.warmup_seconds,
        settings.server_threads,
        settings.client_threads,
        std::thread::available_parallelism().map_or(1, usize::from),
    );
    println!(
        "load average before: {}",
        std::fs::read_to_string("/proc/loadavg")
            .map_or_else(|_| "-".into(), |l| l.trim().to_owned())
    );
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>16} {:>16}",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "requests",
        "errors",
        "srv CPU µs/req",
        "cli CPU µs/req"
    );
    let (ceiling, cpu) =
        measured_load(&client_rt, bare_addr(Bare::Echo), &body, &ca_pem, &settings);
    report("echo ceiling: bare rustls echo", &ceiling, cpu, &settings);
    let (parse_ceiling, cpu) = measured_load(
        &client_rt,
        bare_addr(Bare::Parse),
        &body,
        &ca_pem,
        &settings,
    );
    report(
        "parse ceiling: bare + typed decode",
        &parse_ceiling,
        cpu,
        &settings,
    );
    let mut results = Vec::new();
    if settings.steps {
        let (run, cpu) = measured_load(
            &client_rt,
            bare_addr(Bare::AdmitInline),
            &body,
            &ca_pem,
            &settings,
        );
        report("bare + admit inline", &run, cpu, &settings);
        results.push(("bare + admit inline", run));
        let (run, cpu) = measured_load(
            &client_rt,
            bare_addr(Bare::AdmitBlocking),
            &body,
            &ca_pem,
            &settings,
        );
        report("bare + spawn_blocking(admit)", &run, cpu, &settings);
        results.push(("bare + spawn_blocking(admit)", run));
    }
    let before = client_rt.block_on(handler_latency(metrics_addr));
    let (webhook, cpu) = measured_load(&client_rt, webhook_addr, &body, &ca_pem, &settings);
    let after = client_rt.block_on(handler_latency(metrics_addr));
    report("webhook /validate (real server)", &webhook, cpu, &settings);
    let real = (
        webhook.per_second(),
        webhook.quantile(0.50),
        webhook.quantile(0.99),
    );
    results.push(("webhook /validate (real server)", webhook));
    println!(
        "(CPU columns: CPU µs per request of the server / client threads, and in brackets the cores they kept busy)"
    );
    println!();
    for (title, ceiling) in [
        ("the echo ceiling", &ceiling),
        ("the parse ceiling", &parse_ceiling),
    ] {
        println!("relative to {title}:");
        for (name, run) in &results {
            println!(
                "  {name:<32} {:>5.1} % of its requests/s, p50 x{:.1}, p99 x{:.1}",
                run.per_second() / ceiling.per_second() * 100.0,
                run.quantile(0.50).as_secs_f64() / ceiling.quantile(0.50).as_secs_f64(),
                run.quantile(0.99).as_secs_f64() / ceiling.quantile(0.99).as_secs_f64(),
            );
        }
    }
    println!(
        "real server: {:.0} req/s, p50 {} ms, p99 {} ms = {:.1} % of the echo ceiling, {:.1} % of the parse ceiling",
        real.0,
        ms(real.1),
        ms(real.2),
        real.0 / ceiling.per_second() * 100.0,
        real.0 / parse_ceiling.per_second() * 100.0,
    );
    if let (Some((sum0, count0)), Some((sum1, count1))) = (before, after)
        && count1 > count0
    {
        println!(
            "server-side handler time (controller_runtime_webhook_latency_seconds, /validate): \
             mean {:.3} ms over {} requests (warm-up included)",
            (sum1 - sum0) / (count1 - count0) * 1e3,
            count1 - count0
        );
    }

    let server_threads = thread_cpu()
        .values()
        .filter(|(name, _)| name.starts_with("bench-server"))
        .count();
    if server_threads > 0 {
        println!(
            "server threads alive at the end (tokio workers + spawn_blocking pool): {server_threads}"
        );
    }

    shutdown.cancel();
    server_rt.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
        for (_, _, task) in bare {
            let _ = task.await;
        }
    });
    drop(client_rt);
    server_rt.shutdown_timeout(Duration::from_secs(1));
    let errors: usize = ceiling.errors
        + parse_ceiling.errors
        + results.iter().map(|(_, run)| run.errors).sum::<usize>();
    assert_eq!(errors, 0, "some requests failed");
}
