//! `locust-operator run`: the long-running operator process.
//!
//! At this stage it connects with the current kube context (or in-cluster config), checks
//! that the `locusttests.locust.io` CRD is served, and follows every LocustTest change,
//! logging each one, until SIGTERM or Ctrl-C, beside the webhook server (started by the
//! binary). Reconciliation is wired in here when it lands.

use futures::{StreamExt, TryStreamExt};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::api::LocustTest;

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
    /// The watch failed for good.
    #[error("watching LocustTests failed")]
    Watch(#[source] watcher::Error),
}

/// Runs until `shutdown` is cancelled.
pub async fn run(shutdown: tokio_util::sync::CancellationToken) -> Result<(), RunError> {
    let client = Client::try_default().await.map_err(RunError::Connect)?;
    let tests: Api<LocustTest> = Api::all(client);
    tests
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(RunError::CrdMissing)?;
    tracing::info!("connected; watching LocustTests in all namespaces");

    let events = watcher(tests, watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .map_err(RunError::Watch)
        .for_each(|event| async move {
            match event {
                Ok(test) => tracing::info!(
                    namespace = test.namespace().unwrap_or_default(),
                    name = test.name_any(),
                    phase = test
                        .status
                        .as_ref()
                        .and_then(|s| s.phase)
                        .map(|p| p.as_str()),
                    "LocustTest changed"
                ),
                Err(error) => tracing::warn!(%error, "watch error; retrying"),
            }
        });
    tokio::select! {
        () = events => {}
        () = shutdown.cancelled() => {}
    }
    Ok(())
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
