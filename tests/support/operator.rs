//! The operator running in-process against an e2e [`Env`](super::e2e::Env)'s API server, scoped
//! to the test's namespace (so parallel tests, and other workloads of a real cluster, never
//! meet), wired as `locust-operator run` wires it: command-line flags parsed by the binary's
//! own [`ProcessFlags`], turned into [`RunSettings`] by `RunSettings::from_flags`, and run by
//! `operator::run` (the CRD check included). Only the webhook server is the Env's.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use locust_operator::config::Config;
use locust_operator::controller::{Leadership, State};
use locust_operator::flags::ProcessFlags;
use locust_operator::leader::Timings;
use locust_operator::locust::client::MasterAddresses;
use locust_operator::metrics::Metrics;
use locust_operator::operator::{self, RunSettings};
use locust_operator::webhook::tls::ReloadingCert;
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
    /// Where tests' Locust masters answer (cluster DNS unless set).
    pub masters: Option<MasterAddresses>,
    /// `--locust-poll-interval`, unless the default.
    pub poll_interval: Option<Duration>,
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
            masters: None,
            poll_interval: None,
        }
    }
}

impl Options {
    /// The command line that asks for these options: `--watch-namespace` (the test's
    /// `namespace` first), `--pod-health-grace-period` and leader election.
    fn args(&self, namespace: &str) -> Vec<String> {
        let namespaces: Vec<&str> = std::iter::once(namespace)
            .chain(self.extra_namespaces.iter().map(String::as_str))
            .collect();
        let mut args = vec![
            "locust-operator".to_owned(),
            "--certs=files".to_owned(),
            format!("--watch-namespace={}", namespaces.join(",")),
            format!(
                "--pod-health-grace-period={}",
                humantime::format_duration(self.grace)
            ),
        ];
        if let Some(interval) = self.poll_interval {
            args.push(format!(
                "--locust-poll-interval={}",
                humantime::format_duration(interval)
            ));
        }
        match &self.leadership {
            None => args.push("--leader-elect=false".to_owned()),
            Some(leadership) => {
                let timings = &leadership.timings;
                args.extend([
                    "--leader-elect=true".to_owned(),
                    format!("--leader-election-id={}", leadership.name),
                    format!("--leader-election-namespace={}", leadership.namespace),
                    format!(
                        "--leader-elect-lease-duration={}",
                        humantime::format_duration(timings.lease_duration)
                    ),
                    format!(
                        "--leader-elect-renew-deadline={}",
                        humantime::format_duration(timings.renew_deadline)
                    ),
                    format!(
                        "--leader-elect-retry-period={}",
                        humantime::format_duration(timings.retry_period)
                    ),
                ]);
            }
        }
        args
    }

    /// The settings `run` would make of [`Options::args`], with the replica's identity the
    /// test chose (tests tell replicas of one process apart by it).
    fn settings(&self, namespace: &str, client_namespace: &str) -> RunSettings {
        let flags = ProcessFlags::try_parse_from(self.args(namespace))
            .expect("the options are valid flags");
        let mut settings = RunSettings::from_flags(&flags, self.config.clone(), client_namespace);
        if let Some(masters) = &self.masters {
            settings.controller.masters = masters.clone();
        }
        if let (Some(elected), Some(chosen)) = (settings.leadership.as_mut(), &self.leadership) {
            elected.identity = chosen.identity.clone();
            settings.controller.instance = chosen.identity.clone();
        }
        settings
    }
}

impl Operator {
    /// Starts the operator on `client`, watching `namespace` (and
    /// [`Options::extra_namespaces`]) only.
    pub fn start(client: Client, namespace: &str, options: Options) -> Self {
        let metrics = Arc::new(Metrics::new());
        let state = Arc::new(State::default());
        let shutdown = CancellationToken::new();
        let settings = options.settings(namespace, client.default_namespace());
        let task = tokio::spawn({
            let state = Arc::clone(&state);
            let metrics = Arc::clone(&metrics);
            let shutdown = shutdown.clone();
            async move {
                operator::run(
                    client,
                    settings,
                    &metrics,
                    state,
                    Arc::new(ReloadingCert::default()),
                    shutdown,
                )
                .await
                .expect("the operator runs");
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
