//! The HTTPS server of the webhooks (one listener; HTTP/1.1 and HTTP/2 over TLS 1.2+), and
//! the plain-HTTP probe and metrics servers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::admission::{Admission, Decision, Reply, admit, convert};
use super::tls::{ReloadingCert, server_config};
use crate::metrics::{Metrics, WebhookCodeLabels, WebhookDecisionLabels, WebhookLabels};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

/// Path of the validating webhook.
pub const VALIDATE_PATH: &str = "/validate";
/// Path of the mutating webhook.
pub const MUTATE_PATH: &str = "/mutate";
/// Path of the conversion webhook.
pub const CONVERT_PATH: &str = crate::crd::CONVERSION_PATH;
/// The Go operator's validating path, served too so existing configurations keep working.
pub const GO_VALIDATE_PATH: &str = "/validate-locust-io-v2-locusttest";
/// The Go operator's mutating path.
pub const GO_MUTATE_PATH: &str = "/mutate-locust-io-v2-locusttest";
/// Largest accepted request body. An UPDATE review carries two objects of up to ~1.5 MiB each.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Reviews up to this size are answered on the async worker; larger ones on the blocking pool,
/// bounded by [`HANDLER_TIMEOUT`].
pub const INLINE_BODY_BYTES: usize = 64 * 1024;
/// Time allowed to answer one review: well under the API server's webhook timeout (the
/// configurations use a few seconds; the API server's maximum is 30).
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for a request's body (and, on HTTP/1.1, its headers) to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time in-flight requests get to finish on shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy)]
enum Hook {
    Admission(Admission),
    Convert,
}

/// One webhook path's metric series. Each is looked up in its family once, on first use (as
/// before: a series appears with the first request that counts in it), then updated through
/// its handle, without building labels or taking the family's lock per request.
struct RouteMetrics {
    metrics: Arc<Metrics>,
    path: &'static str,
    in_flight: OnceLock<Gauge>,
    latency: OnceLock<Histogram>,
    /// `code="200"`, nearly every request.
    ok: OnceLock<Counter>,
    /// By [`Decision`], in [`DECISIONS`] order.
    decisions: [OnceLock<Counter>; DECISIONS.len()],
}

/// Every [`Decision`], for [`RouteMetrics::decisions`].
const DECISIONS: [Decision; 8] = [
    Decision::Allowed,
    Decision::Patched,
    Decision::Warned,
    Decision::Denied,
    Decision::Converted,
    Decision::ConversionFailed,
    Decision::BadRequest,
    Decision::Cancelled,
];

impl RouteMetrics {
    fn new(metrics: Arc<Metrics>, path: &'static str) -> Self {
        Self {
            metrics,
            path,
            in_flight: OnceLock::new(),
            latency: OnceLock::new(),
            ok: OnceLock::new(),
            decisions: Default::default(),
        }
    }

    fn labels(&self) -> WebhookLabels {
        WebhookLabels {
            webhook: self.path.to_owned(),
        }
    }

    fn in_flight(&self) -> &Gauge {
        self.in_flight.get_or_init(|| {
            self.metrics
                .webhook_in_flight
                .get_or_create(&self.labels())
                .clone()
        })
    }

    fn latency(&self) -> &Histogram {
        self.latency.get_or_init(|| {
            self.metrics
                .webhook_latency
                .get_or_create(&self.labels())
                .clone()
        })
    }

    fn count_code(&self, code: u16) {
        let create = || {
            self.metrics
                .webhook_requests
                .get_or_create(&WebhookCodeLabels {
                    webhook: self.path.to_owned(),
                    code: code.to_string(),
                })
                .clone()
        };
        if code == 200 {
            self.ok.get_or_init(create).inc();
        } else {
            create().inc();
        }
    }

    fn count_decision(&self, decision: Decision) {
        let create = || {
            self.metrics
                .webhook_decisions
                .get_or_create(&WebhookDecisionLabels {
                    webhook: self.path.to_owned(),
                    decision: decision.as_str().to_owned(),
                })
                .clone()
        };
        match DECISIONS.iter().position(|d| *d == decision) {
            Some(i) => self.decisions[i].get_or_init(create).inc(),
            None => create().inc(),
        };
    }
}

/// The webhook routes, without TLS (tests and benchmarks may drive it in-process).
pub fn router(metrics: Arc<Metrics>) -> Router {
    let route = |path: &'static str, hook: Hook| {
        let observed = Arc::new(RouteMetrics::new(metrics.clone(), path));
        post(move |request: Request| {
            let observed = observed.clone();
            async move { handle(&observed, request, hook).await }
        })
    };
    Router::new()
        .route(VALIDATE_PATH, route(VALIDATE_PATH, Hook::Admission(Admission::Validate)))
        .route(GO_VALIDATE_PATH, route(GO_VALIDATE_PATH, Hook::Admission(Admission::Validate)))
        .route(MUTATE_PATH, route(MUTATE_PATH, Hook::Admission(Admission::Mutate)))
        .route(GO_MUTATE_PATH, route(GO_MUTATE_PATH, Hook::Admission(Admission::Mutate)))
        .route(CONVERT_PATH, route(CONVERT_PATH, Hook::Convert))
        .fallback(|| async {
            text(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown path; webhooks are served at {VALIDATE_PATH}, {MUTATE_PATH} and {CONVERT_PATH}"
                ),
            )
        })
        // The size limit is enforced in `handle` so that rejected requests are counted too.
        .layer(DefaultBodyLimit::disable())
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}

/// Counts one request in the metrics, even when the handler is dropped midway (the client
/// cancelled: the API server does so when its own caller gives up), which is recorded with
/// code `499` (client closed request).
struct RequestMetrics<'a> {
    route: &'a RouteMetrics,
    started: Instant,
    outcome: Option<(u16, Decision)>,
}

impl<'a> RequestMetrics<'a> {
    fn start(route: &'a RouteMetrics) -> Self {
        route.in_flight().inc();
        Self {
            route,
            started: Instant::now(),
            outcome: None,
        }
    }
}

impl Drop for RequestMetrics<'_> {
    fn drop(&mut self) {
        let (code, decision) = self.outcome.unwrap_or((499, Decision::Cancelled));
        self.route.in_flight().dec();
        self.route
            .latency()
            .observe(self.started.elapsed().as_secs_f64());
        self.route.count_code(code);
        self.route.count_decision(decision);
    }
}

fn failure(status: u16, message: String) -> Reply {
    Reply {
        status,
        body: message.into_bytes(),
        decision: Decision::BadRequest,
    }
}

async fn handle(route: &RouteMetrics, request: Request, hook: Hook) -> Response {
    let path = route.path;
    let mut observed = RequestMetrics::start(route);
    // The headers are read in place (axum's `HeaderMap` extractor would copy them).
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let reply = if !is_json(headers) {
        failure(
            415,
            format!(
                "unsupported content type {:?}: send application/json",
                headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            ),
        )
    } else {
        match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
            Err(_) => failure(
                408,
                format!("the request body did not arrive within {BODY_TIMEOUT:?}"),
            ),
            Ok(Err(error)) if is_length_limit(&error) => failure(
                413,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            ),
            Ok(Err(error)) => failure(400, format!("cannot read the request body: {error}")),
            Ok(Ok(body)) => {
                let small = body.len() <= INLINE_BODY_BYTES;
                let work = move || match hook {
                    Hook::Admission(webhook) => admit(webhook, &body),
                    Hook::Convert => convert(&body),
                };
                if small {
                    // Typical reviews take ~0.1 ms: answering inline beats a thread hop.
                    work()
                } else {
                    // Large reviews run off the async workers, bounded by the handler timeout.
                    match tokio::time::timeout(HANDLER_TIMEOUT, tokio::task::spawn_blocking(work))
                        .await
                    {
                        Ok(Ok(reply)) => reply,
                        Ok(Err(join_error)) => {
                            failure(500, format!("the webhook failed: {join_error}"))
                        }
                        Err(_) => failure(
                            503,
                            format!("the webhook did not answer within {HANDLER_TIMEOUT:?}"),
                        ),
                    }
                }
            }
        }
    };
    observed.outcome = Some((reply.status, reply.decision));
    drop(observed);
    if reply.status >= 400 {
        tracing::warn!(webhook = path, status = reply.status, message = %String::from_utf8_lossy(&reply.body), "bad webhook request");
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if reply.status == 200 {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = (status, reply.body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Whether reading the body failed on the size limit.
fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Serves `router` over TLS on `listener` until `shutdown` is cancelled, then stops accepting
/// and gives in-flight requests [`SHUTDOWN_GRACE`] to finish.
pub async fn serve_tls(
    listener: TcpListener,
    cert: Arc<ReloadingCert>,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(), rustls::Error> {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(cert)?));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(BODY_TIMEOUT);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (acceptor, service, builder, watcher) = (
            acceptor.clone(),
            router.clone(),
            builder.clone(),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(tls),
                TowerToHyperService::new(service),
            );
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight webhook requests did not finish within {SHUTDOWN_GRACE:?}");
    }
    Ok(())
}

/// One readiness check: true when ready.
type Check = Arc<dyn Fn() -> bool + Send + Sync>;

/// Named readiness checks; `/readyz` is 200 once all pass, and from then on.
///
/// Readiness goes up once and stays up: a replica that was ready and then becomes leader
/// (and syncs its caches) keeps serving webhooks meanwhile, and a probe or a rollout must not
/// catch a 503 in between (200 -> 503 -> 200 at start-up with leader election).
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Check)>,
    /// Set the first time every check passed.
    reached: Arc<std::sync::atomic::AtomicBool>,
}

impl Readiness {
    /// Adds a check (a new set of checks: not ready until they all pass).
    pub fn with(
        mut self,
        name: &'static str,
        check: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        self.checks.push((name, Arc::new(check)));
        self.reached = Arc::default();
        self
    }

    /// Names of the failing checks: none once they all passed at some point.
    pub fn failing(&self) -> Vec<&'static str> {
        use std::sync::atomic::Ordering;
        if self.reached.load(Ordering::Acquire) {
            return Vec::new();
        }
        let failing: Vec<&'static str> = self
            .checks
            .iter()
            .filter(|(_, check)| !check())
            .map(|(name, _)| *name)
            .collect();
        if failing.is_empty() {
            self.reached.store(true, Ordering::Release);
        }
        failing
    }
}

/// `/healthz` (always 200 while the process serves) and `/readyz`.
pub fn probe_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let failing = readiness.failing();
                async move {
                    if failing.is_empty() {
                        text(StatusCode::OK, "ok".into())
                    } else {
                        text(
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {}", failing.join(", ")),
                        )
                    }
                }
            }),
        )
}

/// `/metrics`.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let body = metrics.encode();
            async move { ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body) }
        }),
    )
}

/// Serves a plain-HTTP router until `shutdown` is cancelled.
pub async fn serve_plain(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Binds `addr`, naming `what` in the error.
pub async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, std::io::Error> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {addr} for {what}: {e}"))
    })
}

/// Resolves when `token` is cancelled.
pub fn cancelled(token: &CancellationToken) -> impl Future<Output = ()> + use<> {
    let token = token.clone();
    async move { token.cancelled().await }
}
