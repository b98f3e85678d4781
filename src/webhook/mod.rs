//! The operator's one TLS server: admission (validating, mutating) and conversion webhooks,
//! plus the plain-HTTP probe and metrics endpoints.

pub mod admission;
pub mod review;
pub mod server;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::flags::ServerFlags;
use crate::metrics::Metrics;
use server::{Readiness, bind, metrics_router, probe_router, router, serve_plain, serve_tls};
use tls::{CertWatcher, ReloadingCert};

/// Why the servers could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound.
    #[error(transparent)]
    Bind(#[from] std::io::Error),
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// The three bound listeners.
pub struct Listeners {
    /// HTTPS webhooks.
    pub webhook: tokio::net::TcpListener,
    /// `/healthz`, `/readyz`.
    pub probes: tokio::net::TcpListener,
    /// `/metrics`.
    pub metrics: tokio::net::TcpListener,
}

impl Listeners {
    /// Binds the addresses of `flags` (port 0 picks a free port; see `local_addr`).
    pub async fn bind(flags: &ServerFlags) -> Result<Self, ServeError> {
        Ok(Self {
            webhook: bind(
                flags.webhook_bind_address,
                "the webhooks (--webhook-bind-address)",
            )
            .await?,
            probes: bind(
                flags.health_probe_bind_address,
                "the probes (--health-probe-bind-address)",
            )
            .await?,
            metrics: bind(
                flags.metrics_bind_address,
                "the metrics (--metrics-bind-address)",
            )
            .await?,
        })
    }
}

/// Where the served certificate comes from.
#[derive(Clone, Debug)]
pub enum CertSource {
    /// `tls.crt` and `tls.key` in a directory (`--cert-dir`), re-read every `reload_interval`
    /// (`--cert-reload-interval`).
    Files {
        /// The directory.
        dir: PathBuf,
        /// How often it is read again.
        reload_interval: Duration,
    },
    /// Set in memory by someone else: the self-managed certificate manager
    /// ([`crate::certs`]) with `--certs=self-managed`. Not ready until it is set.
    Memory(Arc<ReloadingCert>),
}

impl CertSource {
    /// The files of `--cert-dir`, re-read every `--cert-reload-interval`.
    pub fn files(flags: &ServerFlags) -> Self {
        Self::Files {
            dir: flags.cert_dir.clone(),
            reload_interval: flags.cert_reload_interval,
        }
    }
}

/// What the servers serve with.
pub struct Serving {
    /// The webhooks' certificate.
    pub certificate: CertSource,
    /// The process's metrics (`/metrics`; the webhook requests are counted in them).
    pub metrics: Arc<Metrics>,
    /// The readiness checks of the rest of the process (`/readyz`); the certificate check is
    /// added here.
    pub readiness: Readiness,
}

/// Runs the webhook server, the probes and the metrics endpoint on `listeners` (see
/// [`Listeners::bind`]) until `shutdown` is cancelled, or one of them fails, which stops the
/// others.
pub async fn serve(
    listeners: Listeners,
    serving: Serving,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let Serving {
        certificate: source,
        metrics,
        readiness,
    } = serving;
    let Listeners {
        webhook: webhook_listener,
        probes: probe_listener,
        metrics: metrics_listener,
    } = listeners;
    let (cert, watching) = match source {
        CertSource::Files {
            dir,
            reload_interval,
        } => {
            tracing::info!(
                webhooks = %webhook_listener.local_addr()?,
                probes = %probe_listener.local_addr()?,
                metrics = %metrics_listener.local_addr()?,
                cert_dir = %dir.display(),
                "serving"
            );
            let cert = Arc::new(ReloadingCert::default());
            let watcher = CertWatcher::new(dir, cert.clone());
            let watching = tokio::spawn(watcher.run(reload_interval, server::cancelled(&shutdown)));
            (cert, Some(watching))
        }
        CertSource::Memory(cert) => {
            tracing::info!(
                webhooks = %webhook_listener.local_addr()?,
                probes = %probe_listener.local_addr()?,
                metrics = %metrics_listener.local_addr()?,
                certificate = "self-managed",
                "serving"
            );
            (cert, None)
        }
    };
    let ready_cert = cert.clone();
    let readiness = readiness.with("webhook certificate", move || ready_cert.is_loaded());

    // When one server stops (an error), the others stop too.
    let stop_all = |result| {
        shutdown.cancel();
        result
    };
    let webhooks = async {
        stop_all(
            serve_tls(
                webhook_listener,
                cert,
                router(metrics.clone()),
                shutdown.clone(),
            )
            .await
            .map_err(ServeError::from),
        )
    };
    let probes = async {
        stop_all(
            serve_plain(probe_listener, probe_router(readiness), shutdown.clone())
                .await
                .map_err(ServeError::from),
        )
    };
    let metrics_server = async {
        stop_all(
            serve_plain(
                metrics_listener,
                metrics_router(metrics.clone()),
                shutdown.clone(),
            )
            .await
            .map_err(ServeError::from),
        )
    };
    let (webhooks, probes, metrics_served) = tokio::join!(webhooks, probes, metrics_server);
    if let Some(watching) = watching {
        let _ = watching.await;
    }
    webhooks?;
    probes?;
    metrics_served?;
    Ok(())
}
