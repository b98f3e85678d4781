//! The demo target the examples load (`http://demo-app.default.svc:8080`): a small HTTP server
//! on a loopback address of its own ([`super::network::Network::service_address`]), counting
//! what it serves. Every path answers 200 but [`MISSING_PATH`], which answers 404 (for a
//! locustfile whose requests fail).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

/// The Service name of the demo target.
pub const NAME: &str = "demo-app";
/// Its namespace.
pub const NAMESPACE: &str = "default";
/// Its port.
pub const PORT: u16 = 8080;

/// The path the demo target answers with 404.
pub const MISSING_PATH: &str = "/missing";

/// A running demo target.
pub struct Demo {
    /// Requests answered so far.
    pub requests: Arc<AtomicU64>,
    /// Where it listens.
    pub address: SocketAddr,
}

impl Demo {
    /// Starts it on `address`; it stops with `stop`.
    pub async fn start(address: Ipv4Addr, stop: CancellationToken) -> std::io::Result<Self> {
        let address = SocketAddr::from((address, PORT));
        let listener = tokio::net::TcpListener::bind(address).await?;
        let requests = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&requests);
        let app = axum::Router::new()
            .route(
                MISSING_PATH,
                axum::routing::any(|| async {
                    (axum::http::StatusCode::NOT_FOUND, "demo-app: not found\n")
                }),
            )
            .fallback(move || {
                let counter = Arc::clone(&counter);
                async move {
                    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                    format!("demo-app: request {n}\n")
                }
            });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        Ok(Self { requests, address })
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
