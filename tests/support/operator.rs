//! The operator's controller running in-process against an e2e [`Env`](super::e2e::Env)'s API
//! server, scoped to the test's namespace (so parallel tests, and other workloads of a real
//! cluster, never meet), exactly as `locust-operator run` wires it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use locust_operator::config::Config;
use locust_operator::controller::{self, ControllerMetrics, Leadership, Settings, State};
use locust_operator::leader::Timings;
use locust_operator::metrics::Metrics;
use tokio_util::sync::CancellationToken;

/// Grace period the e2e tests run with unless they say otherwise (short, so failure paths
/// finish quickly; the grace-period test sets its own).
pub const TEST_GRACE: Duration = Duration::from_secs(2);

/// Lease timings of the leader-election tests (short; client-go's ratios).
pub fn fast_timings() -> Timings {
    Timings {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(250),
    }
}

/// One running operator (controller only; the webhook server is the Env's).
pub struct Operator {
    /// What the probes read.
    pub state: Arc<State>,
    /// Its metrics registry.
    pub metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// How to start an [`Operator`].
#[derive(Clone)]
pub struct Options {
    /// Pod-health grace period.
    pub grace: Duration,
    /// Leader election, if any.
    pub leadership: Option<Leadership>,
    /// Operator configuration.
    pub config: Config,
    /// Namespaces watched besides the one given to [`Operator::start`] (`WATCH_NAMESPACE`
    /// with several entries).
    pub extra_namespaces: Vec<String>,
}

impl Options {
    /// No leader election, [`TEST_GRACE`], default configuration.
    pub fn new() -> Self {
        Self {
            grace: TEST_GRACE,
            leadership: None,
            config: Config::from_lookup(&|_| None)
                .expect("the default configuration")
                .0,
            extra_namespaces: Vec::new(),
        }
    }
}

impl Operator {
    /// Starts the controller on `client`, watching `namespace` (and
    /// [`Options::extra_namespaces`]) only.
    pub fn start(client: Client, namespace: &str, options: Options) -> Self {
        let metrics = Arc::new(Metrics::new());
        let state = Arc::new(State::default());
        let shutdown = CancellationToken::new();
        let settings = Settings {
            config: Arc::new(options.config),
            grace: options.grace,
            namespaces: std::iter::once(namespace.to_owned())
                .chain(options.extra_namespaces.iter().cloned())
                .collect(),
            max_concurrent_reconciles: controller::DEFAULT_MAX_CONCURRENT_RECONCILES,
            instance: format!("e2e-{}", std::process::id()),
        };
        let controller_metrics = ControllerMetrics::register(&metrics);
        let task = tokio::spawn({
            let state = Arc::clone(&state);
            let shutdown = shutdown.clone();
            async move {
                controller::run(
                    client,
                    settings,
                    options.leadership,
                    controller_metrics,
                    state,
                    shutdown,
                )
                .await
                .expect("the controller runs");
            }
        });
        Self {
            state,
            metrics,
            shutdown,
            task,
        }
    }

    /// The metrics text.
    pub fn metrics_text(&self) -> String {
        self.metrics.encode()
    }

    /// Stops it the way SIGTERM does and waits (bounded) until it has stopped.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the controller stops within 20 s")
            .expect("the controller task does not panic");
    }

    /// Kills it without any clean-up (a crashed process: no lease release).
    pub fn kill(self) {
        self.task.abort();
    }
}

/// An [`Operator`] on a tokio runtime of its own, as if it were a separate process:
/// [`OwnRuntimeOperator::crash`] ends every task it started (leader election included) at
/// once, with no clean-up and no lease release. ([`Operator::kill`] aborts only the
/// controller task; tasks that task spawned keep running on the test's runtime.)
pub struct OwnRuntimeOperator {
    operator: Option<Operator>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl OwnRuntimeOperator {
    /// [`Operator::start`] on a new one-thread runtime, with a client of its own made from
    /// `config` (its connections die with it).
    pub fn start(config: kube::Config, namespace: &str, options: Options) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("e2e-operator-process")
            .enable_all()
            .build()
            .expect("a runtime for the operator");
        let operator = {
            let _entered = runtime.enter();
            let client = Client::try_from(config).expect("a client for the operator");
            Operator::start(client, namespace, options)
        };
        Self {
            operator: Some(operator),
            runtime: Some(runtime),
        }
    }

    /// What the probes read.
    pub fn state(&self) -> &Arc<State> {
        &self.operator.as_ref().expect("running").state
    }

    /// The metrics text.
    pub fn metrics_text(&self) -> String {
        self.operator.as_ref().expect("running").metrics_text()
    }

    /// [`Operator::stop`], then ends the runtime.
    pub async fn stop(mut self) {
        if let Some(operator) = self.operator.take() {
            operator.stop().await;
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Ends the runtime and with it every task of this operator, without any clean-up (a
    /// crashed process).
    pub fn crash(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        self.operator.take();
    }
}

impl Drop for OwnRuntimeOperator {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
