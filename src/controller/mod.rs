//! The controller: a kube-runtime `Controller` per watched scope (all namespaces, or each
//! namespace of `WATCH_NAMESPACE`) on LocustTests, owning their Jobs and Services and watching
//! their Pods (mapped back through the `performance-test-name` label).
//!
//! - [`plan`]: pure decisions (which spec a test runs with, ownership, recovery).
//! - [`reconcile`]: one reconcile, the thin layer that talks to the API.
//! - [`cache`]: label-scoped caches of the children, `managedFields` stripped.
//! - [`live`]: reads of running tests' Locust masters, off the reconcile path, and the kept
//!   report.
//! - [`metrics`]: controller-runtime's reconcile metrics and ours.
//! - [`own_writes`]: the operator's writes its cache has not seen yet (no writes on a stale test).
//!
//! LocustTests are watched untyped and decoded per object, so one malformed object in the
//! cluster gets an `InvalidSpec` status of its own instead of breaking the watch of all others.
//!
//! With leader election ([`run`] with a [`Leadership`]), only the replica holding the lease
//! runs controllers; losing the lease stops them at once, and their caches are dropped.

pub mod cache;
pub mod live;
pub mod metrics;
pub mod own_writes;
pub mod plan;
pub mod reconcile;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::core::DynamicObject;
use kube::discovery::ApiResource;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::api::{GROUP, LocustTest};
use crate::api_call::{ApiCall, Scope, Target};
use crate::config::Config;
use crate::leader::{LeaderElector, Timings};

use crate::locust::client::{self as locust_client, MasterAddresses, Masters};
use crate::names::{self, OPERATOR_NAME};
use cache::Cache;
pub use metrics::ControllerMetrics;
use reconcile::Context;

/// Every API request the controller makes, all in the namespaces it watches, for the RBAC
/// rules of the install manifests ([`crate::rbac`]; tests/rbac.rs records what the operator
/// really calls and compares it with this list):
///
/// - LocustTests: list + watch (the cache of each watched scope); patch of `status` (phase,
///   conditions, and the record of the spec the children were built from,
///   [`plan::ORIGINAL_SPEC_FIELD`]). No get and no write of the test itself: everything is
///   read from the cache, and the writes return the stored object.
/// - Jobs and Services: list + watch (label-scoped caches, [`cache`]); create (the children);
///   get (a create answered 409: the name is taken, by our own earlier create or by a foreign
///   object). Never deleted: children are garbage-collected through their owner references.
///   Jobs are patched once, to suspend them, when the test fails because workers never
///   connected (nothing is left waiting for them).
/// - ConfigMaps: create (`<test>-report`, the run's full report, once per test); get (a create
///   answered 409: ours from an earlier attempt, or someone else's, never replaced).
/// - Pods: list + watch (the cache judging health and connected workers).
/// - `events.k8s.io` Events about the tests: create; patch (kube's [`Recorder`] turns a
///   repeat of the same event into a patch of the event's series).
/// - `locusttests/finalizers` update: required by admission, not requested. The children's
///   owner reference to their test has `blockOwnerDeletion: true`
///   ([`crate::builders`]); on a cluster with the `OwnerReferencesPermissionEnforcement`
///   admission plugin (OpenShift, hardened clusters), creating such a child is only allowed
///   to who may `update` the owner's `finalizers` subresource. The code never sends that
///   request; without the permission every child create fails with 403 there.
pub const API_CALLS: [ApiCall; 19] = [
    ApiCall::request(GROUP, "locusttests", "list", Scope::Watched, Target::Any),
    ApiCall::request(GROUP, "locusttests", "watch", Scope::Watched, Target::Any),
    ApiCall::request(
        GROUP,
        "locusttests/status",
        "patch",
        Scope::Watched,
        Target::Any,
    ),
    ApiCall::admission(GROUP, "locusttests/finalizers", "update", Scope::Watched),
    ApiCall::request("batch", "jobs", "list", Scope::Watched, Target::Any),
    ApiCall::request("batch", "jobs", "watch", Scope::Watched, Target::Any),
    ApiCall::request("batch", "jobs", "create", Scope::Watched, Target::Any),
    ApiCall::request("batch", "jobs", "get", Scope::Watched, Target::Any),
    ApiCall::request("batch", "jobs", "patch", Scope::Watched, Target::Any),
    ApiCall::request("", "services", "list", Scope::Watched, Target::Any),
    ApiCall::request("", "services", "watch", Scope::Watched, Target::Any),
    ApiCall::request("", "services", "create", Scope::Watched, Target::Any),
    ApiCall::request("", "services", "get", Scope::Watched, Target::Any),
    ApiCall::request("", "configmaps", "create", Scope::Watched, Target::Any),
    ApiCall::request("", "configmaps", "get", Scope::Watched, Target::Any),
    ApiCall::request("", "pods", "list", Scope::Watched, Target::Any),
    ApiCall::request("", "pods", "watch", Scope::Watched, Target::Any),
    ApiCall::request(
        "events.k8s.io",
        "events",
        "create",
        Scope::Watched,
        Target::Any,
    ),
    ApiCall::request(
        "events.k8s.io",
        "events",
        "patch",
        Scope::Watched,
        Target::Any,
    ),
];

/// Default of `--max-concurrent-reconciles`.
pub const DEFAULT_MAX_CONCURRENT_RECONCILES: u16 = 16;

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Operator configuration (locust pod defaults).
    pub config: Arc<Config>,
    /// Pod-health grace period.
    pub grace: Duration,
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Reconciles running at once per scope.
    pub max_concurrent_reconciles: u16,
    /// Name of this replica in events (`reportingInstance`).
    pub instance: String,
    /// How often a running test's master is read.
    pub poll_interval: Duration,
    /// How long a master may wait for all its workers, unless its test says.
    pub worker_connect_timeout: Duration,
    /// Where a test's master answers.
    pub masters: MasterAddresses,
}

/// Leader election settings.
#[derive(Clone, Debug)]
pub struct Leadership {
    /// Lease namespace.
    pub namespace: String,
    /// Lease name.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// Lease timings.
    pub timings: Timings,
}

/// What the probes and metrics read of the controller.
#[derive(Debug, Default)]
pub struct State {
    leading: AtomicBool,
    scopes: std::sync::RwLock<Vec<Arc<cache::Synced>>>,
}

impl State {
    /// The state before the controllers start. Without leader election this replica will lead,
    /// so it reports not ready until its caches are synced (a standby is ready at once).
    pub fn new(leader_election: bool) -> Self {
        Self {
            leading: AtomicBool::new(!leader_election),
            scopes: std::sync::RwLock::default(),
        }
    }

    /// True when this replica runs the controllers (holds the lease, or runs without
    /// leader election).
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// True when the running controllers' caches all hold a complete first list.
    pub fn caches_synced(&self) -> bool {
        self.scopes
            .read()
            .is_ok_and(|scopes| !scopes.is_empty() && scopes.iter().all(|s| s.all()))
    }

    /// The readiness check: a standby replica is ready (it serves webhooks); the leader is
    /// ready once its caches are synced.
    pub fn ready(&self) -> bool {
        !self.is_leading() || self.caches_synced()
    }

    fn set_scopes(&self, scopes: Vec<Arc<cache::Synced>>) {
        if let Ok(mut current) = self.scopes.write() {
            *current = scopes;
        }
    }
}

/// Errors that stop the controller.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The leader election settings are invalid.
    #[error("leader election: {0}")]
    Leader(#[from] crate::leader::LeaderError),
}

/// Runs the controllers until `shutdown` is cancelled: at once without leader election
/// (`leadership` `None`), else only while this replica holds the lease.
pub async fn run(
    client: Client,
    settings: Settings,
    leadership: Option<Leadership>,
    metrics: ControllerMetrics,
    state: Arc<State>,
    shutdown: CancellationToken,
) -> Result<(), ControllerError> {
    metrics.set_max_concurrent(settings.max_concurrent_reconciles);
    let Some(leadership) = leadership else {
        tracing::info!("leader election disabled; reconciling");
        state.leading.store(true, Ordering::Release);
        metrics.set_leader(true);
        run_controllers(client, &settings, &metrics, &state, shutdown).await;
        return Ok(());
    };
    let elector = LeaderElector::new(
        client.clone(),
        &leadership.namespace,
        &leadership.name,
        leadership.identity.clone(),
        leadership.timings,
    )?;
    let (sender, mut leader) = tokio::sync::watch::channel(false);
    // Aborted if this future is dropped (a crash: no release); awaited on a clean shutdown.
    let election = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(
        elector.run(sender, shutdown.clone()),
    ));
    tracing::info!(
        lease = %format!("{}/{}", leadership.namespace, leadership.name),
        identity = %leadership.identity,
        "waiting to become leader"
    );
    loop {
        // Standby: wait for the lease.
        tokio::select! {
            () = shutdown.cancelled() => break,
            changed = leader.wait_for(|leading| *leading) => if changed.is_err() { break },
        }
        tracing::info!(identity = %leadership.identity, "became leader; reconciling");
        state.leading.store(true, Ordering::Release);
        metrics.set_leader(true);
        let stop = shutdown.child_token();
        let controllers =
            run_controllers(client.clone(), &settings, &metrics, &state, stop.clone());
        tokio::pin!(controllers);
        tokio::select! {
            () = &mut controllers => {}
            _ = leader.wait_for(|leading| !*leading) => {
                tracing::warn!(identity = %leadership.identity, "lost the lease; stopped reconciling");
            }
        }
        // Stop at once: dropping the controllers cancels reconciles in flight.
        stop.cancel();
        state.leading.store(false, Ordering::Release);
        metrics.set_leader(false);
        if shutdown.is_cancelled() {
            break;
        }
    }
    // The elector releases the lease on shutdown.
    if let Err(error) = election.await {
        tracing::warn!(%error, "leader election task failed");
    }
    Ok(())
}

/// Runs one controller per scope until `stop` is cancelled.
async fn run_controllers(
    client: Client,
    settings: &Settings,
    metrics: &ControllerMetrics,
    state: &Arc<State>,
    stop: CancellationToken,
) {
    let scopes: Vec<Option<String>> = if settings.namespaces.is_empty() {
        vec![None]
    } else {
        settings.namespaces.iter().cloned().map(Some).collect()
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: OPERATOR_NAME.to_owned(),
            instance: Some(settings.instance.clone()),
        },
    );
    let mut synced = Vec::new();
    let mut test_stores = Vec::new();
    let mut runs = Vec::new();
    for scope in scopes {
        let (run, scope_synced, tests) = scope_controller(
            client.clone(),
            scope.as_deref(),
            settings,
            metrics.clone(),
            recorder.clone(),
            stop.clone(),
        );
        synced.push(scope_synced);
        test_stores.push(tests);
        runs.push(run);
    }
    let _tracked = metrics.phases().track(test_stores);
    state.set_scopes(synced);
    tokio::select! {
        _ = futures::future::join_all(runs) => {}
        () = stop.cancelled() => {}
    }
    state.set_scopes(Vec::new());
}

/// The controller of one scope, the flags telling when its caches are synced, and its
/// LocustTest cache.
fn scope_controller(
    client: Client,
    namespace: Option<&str>,
    settings: &Settings,
    metrics: ControllerMetrics,
    recorder: Recorder,
    stop: CancellationToken,
) -> (
    impl std::future::Future<Output = ()> + Send + 'static,
    Arc<cache::Synced>,
    reflector::Store<DynamicObject>,
) {
    let resource = ApiResource::erase::<LocustTest>(&());
    let tests_api: Api<DynamicObject> = match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let tests_writer = reflector::store::Writer::new(resource.clone());
    let tests_store = tests_writer.as_reader();
    let (caches, jobs_writer, services_writer, pods_writer) = cache::caches();
    let synced = Arc::clone(&caches.synced);
    let tests = cache::trigger_stream(
        watcher(tests_api, cache::watch_config(None))
            .default_backoff()
            .modify(|test: &mut DynamicObject| test.metadata.managed_fields = None)
            .reflect(tests_writer),
        Arc::clone(&synced),
        Cache::Tests,
    );
    let jobs = cache::child_stream(
        cache::scoped_api::<Job>(&client, namespace),
        jobs_writer,
        Arc::clone(&synced),
        Cache::Jobs,
    );
    let services = cache::child_stream(
        cache::scoped_api::<Service>(&client, namespace),
        services_writer,
        Arc::clone(&synced),
        Cache::Services,
    );
    let pods = cache::pod_stream(
        cache::scoped_api::<Pod>(&client, namespace),
        pods_writer,
        Arc::clone(&caches.pod_index),
        Arc::clone(&synced),
    );
    let masters = Masters::new(
        Arc::clone(&settings.masters.0),
        locust_client::DEFAULT_TIMEOUT,
        locust_client::DEFAULT_CONCURRENCY,
    );
    let (live, polled) = live::Live::new(
        client.clone(),
        masters,
        settings.poll_interval,
        resource.clone(),
    );
    let context = Arc::new(Context {
        client,
        config: Arc::clone(&settings.config),
        grace: settings.grace,
        worker_connect_timeout: settings.worker_connect_timeout,
        caches,
        recorder,
        metrics,
        resource: resource.clone(),
        own_writes: own_writes::OwnWrites::default(),
        live,
    });
    let config = controller::Config::default().concurrency(settings.max_concurrent_reconciles);
    let controller = Controller::for_stream_with(tests, tests_store.clone(), resource)
        .with_config(config)
        .owns_stream(jobs)
        .owns_stream(services)
        .watches_stream(pods, |pod: Pod| {
            let name = names::test_name_of(&pod.metadata)?;
            let namespace = pod.metadata.namespace.as_deref()?;
            Some(ObjectRef::new_with(name, ApiResource::erase::<LocustTest>(&())).within(namespace))
        })
        .reconcile_on(polled)
        .graceful_shutdown_on(async move { stop.cancelled().await })
        .run(reconcile::reconcile, reconcile::error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                match error {
                    controller::Error::ReconcilerFailed(..) => {}
                    other => tracing::debug!(error = %other, "controller"),
                }
            }
        });
    (controller, synced, tests_store)
}
