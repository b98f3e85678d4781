//! `locust-operator run`: the long-running operator process.
//!
//! Connects with the current kube context (or in-cluster config), checks that the
//! `locusttests.locust.io` CRD is served, and runs the controller ([`crate::controller`]) until
//! SIGTERM or Ctrl-C, beside the webhook server (started by the binary). With leader election
//! (the default) only the replica holding the Lease reconciles; every replica serves webhooks.
//! With `--certs=self-managed`, every replica also runs the certificate manager
//! ([`crate::certs`]), which feeds the webhook server's certificate.

use std::sync::Arc;

use kube::{Api, Client};

use crate::api::LocustTest;
use crate::api_call::{ApiCall, Scope, Target};
use crate::certs;
use crate::config::Config;
use crate::controller::{self, ControllerMetrics, Leadership, Settings, State};
use crate::flags::{CertMode, ProcessFlags};
use crate::leader::{self, Timings};
use crate::metrics::Metrics;
use crate::webhook::tls::ReloadingCert;

/// The API request of the start-up check that the CRD is served, for the RBAC rules of the
/// install manifests ([`crate::rbac`]; tests/rbac.rs records it): one list of LocustTests
/// (`limit=1`) where the controller watches them, in all namespaces or in the first of
/// `WATCH_NAMESPACE` (a namespaced install has no cluster-wide access). The controller, the
/// leader election and the certificate manager list theirs in their own modules.
pub const API_CALLS: [ApiCall; 1] = [ApiCall::request(
    crate::api::GROUP,
    "locusttests",
    "list",
    Scope::Watched,
    Target::Any,
)];

/// Errors that stop the operator.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No usable kubeconfig or in-cluster configuration.
    #[error("cannot connect to the Kubernetes API (current kube context or in-cluster config)")]
    Connect(#[source] kube::Error),
    /// The CRD is not installed, or the API server refused the request.
    #[error(
        "the API server does not serve locust.io/v2 locusttests; install the CRD first: kubectl apply -f deploy/crd.yaml"
    )]
    CrdMissing(#[source] kube::Error),
    /// The controller could not start.
    #[error(transparent)]
    Controller(#[from] controller::ControllerError),
    /// The certificate manager could not start.
    #[error(transparent)]
    Certs(#[from] certs::CertsError),
}

/// The operator's namespace: `POD_NAMESPACE`, else the in-cluster service account's, else
/// `client_default` (the kube context's). The Lease's default and the self-managed
/// certificate Secret's namespace.
pub fn operator_namespace(client_default: &str) -> String {
    leader::lease_namespace(None, client_default)
}

/// Everything `run` starts, decided from the flags without I/O: the controller, leader
/// election and (with `--certs=self-managed`) the certificate manager.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// The controller.
    pub controller: Settings,
    /// Leader election (`--leader-elect`), if any.
    pub leadership: Option<Leadership>,
    /// The certificate manager (`--certs=self-managed`), if any.
    pub certs: Option<certs::Settings>,
}

impl RunSettings {
    /// The settings of `flags` and `config`; `client_namespace` is the kube context's default
    /// namespace (the operator's own namespace when nothing says otherwise).
    pub fn from_flags(flags: &ProcessFlags, config: Config, client_namespace: &str) -> Self {
        let identity = leader::default_identity();
        let controller = Settings {
            config: Arc::new(config),
            grace: flags.pod_health_grace_period,
            namespaces: flags.watch_namespace.0.clone(),
            max_concurrent_reconciles: flags.max_concurrent_reconciles,
            instance: identity.clone(),
            poll_interval: flags.locust_poll_interval,
            worker_connect_timeout: flags.worker_connect_timeout,
            masters: crate::locust::client::MasterAddresses::default(),
        };
        let leadership = flags.leader_elect.then(|| Leadership {
            namespace: leader::lease_namespace(
                flags.leader_election_namespace.as_deref(),
                client_namespace,
            ),
            name: flags.leader_election_id.clone(),
            identity,
            timings: Timings {
                lease_duration: flags.leader_elect_lease_duration,
                renew_deadline: flags.leader_elect_renew_deadline,
                retry_period: flags.leader_elect_retry_period,
            },
        });
        let certs = (flags.certs.mode == CertMode::SelfManaged).then(|| {
            certs::Settings::from_flags(
                &flags.certs,
                &operator_namespace(client_namespace),
                flags.server.cert_reload_interval,
            )
        });
        Self {
            controller,
            leadership,
            certs,
        }
    }
}

/// Runs the operator with `client` until `shutdown` is cancelled: checks that the CRD is
/// served, then runs the controller and, with [`RunSettings::certs`], the certificate manager
/// feeding `certificate`.
pub async fn run(
    client: Client,
    settings: RunSettings,
    metrics: &Metrics,
    state: Arc<State>,
    certificate: Arc<ReloadingCert>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), RunError> {
    // Registered first, so /metrics shows the controller's series before the API answers.
    let metrics = ControllerMetrics::register(metrics);
    let RunSettings {
        controller: settings,
        leadership,
        certs: cert_settings,
    } = settings;
    // With WATCH_NAMESPACE the operator may only have a namespaced Role: look where it watches.
    let tests: Api<LocustTest> = match settings.namespaces.first() {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    tests
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(RunError::CrdMissing)?;
    if settings.namespaces.is_empty() {
        tracing::info!("connected; watching LocustTests in all namespaces");
    } else {
        tracing::info!(namespaces = ?settings.namespaces, "connected; watching LocustTests");
    }
    let certificates = async {
        let Some(cert_settings) = cert_settings else {
            return Ok(());
        };
        let result = certs::run(client.clone(), cert_settings, certificate, shutdown.clone()).await;
        if result.is_err() {
            shutdown.cancel();
        }
        result
    };
    let controller = async {
        let result = controller::run(
            client.clone(),
            settings,
            leadership,
            metrics,
            state,
            shutdown.clone(),
        )
        .await;
        if result.is_err() {
            // The certificate manager stops too.
            shutdown.cancel();
        }
        result
    };
    let (controller, certificates) = tokio::join!(controller, certificates);
    controller?;
    certificates?;
    Ok(())
}

/// A client of the current kube context (or the in-cluster service account).
pub async fn connect() -> Result<Client, RunError> {
    Client::try_default().await.map_err(RunError::Connect)
}

/// A token cancelled on SIGTERM (Kubernetes pod termination) or Ctrl-C.
pub fn shutdown_on_signal() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; stopping");
        cancel.cancel();
    });
    token
}

/// Resolves on SIGTERM (Kubernetes pod termination) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
