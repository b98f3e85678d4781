//! The controller's metrics, registered on the operator's `/metrics` registry.
//!
//! controller-runtime's reconcile metrics, with its names and labels, so dashboards built for
//! controller-runtime operators keep working:
//! - `controller_runtime_reconcile_total{controller,result}` (`result` is `success`, `error`,
//!   `requeue` or `requeue_after`),
//! - `controller_runtime_reconcile_errors_total{controller}`,
//! - `controller_runtime_reconcile_time_seconds{controller}`,
//! - `controller_runtime_active_workers{controller}`,
//! - `controller_runtime_max_concurrent_reconciles{controller}`.
//!
//! Our own:
//! - `locust_operator_reconcile_errors_by_kind_total{controller,kind}`: what failed, from the
//!   bounded set of [`ErrorKind::as_str`] (never a formatted error);
//! - `locust_operator_tests{phase}`: LocustTests in the cache by phase, counted at scrape time
//!   (the leader's view; a standby reports zeros);
//! - `locust_operator_test_duration_seconds{phase}`: `startTime` to `completionTime` of tests
//!   that finished while this replica led;
//! - `locust_operator_pod_failures_total{reason}`: `PodsHealthy` turning `False`, by reason;
//! - `locust_operator_leader`: 1 while this replica holds the leader lease (or runs without
//!   leader election), else 0;
//! - per test, read from the cache at scrape time (so a deleted test's series go with it):
//!   `locust_operator_test_phase{namespace,name,phase}` (1 for the test's phase),
//!   `locust_operator_test_users{namespace,name}`,
//!   `locust_operator_test_requests_per_second{namespace,name}` and
//!   `locust_operator_test_fail_ratio{namespace,name}` (the numbers of `.status.stats`, for
//!   tests whose master was read).

use std::sync::{Arc, RwLock};

use kube::core::DynamicObject;
use kube::runtime::reflector::Store;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;

use crate::api::v2::Phase;
use crate::metrics::Metrics;
use crate::status::FailureKind;

/// The `controller` label of every reconcile metric.
pub const CONTROLLER_NAME: &str = "locusttest";

/// Buckets of `controller_runtime_reconcile_time_seconds` (controller-runtime's).
const RECONCILE_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of the test duration histogram: 1 minute to 12 hours.
const DURATION_BUCKETS: [f64; 10] = [
    60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0,
];

/// What went wrong in a reconcile: a bounded label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Creating a child object failed.
    CreateChild,
    /// Reading a child that already existed failed.
    ReadChild,
    /// Writing the original-spec record alone (after a conflict) failed.
    RecordSpec,
    /// Writing `.status` failed.
    WriteStatus,
    /// Suspending the Jobs of a test whose workers never connected failed.
    SuspendJob,
    /// Another writer changed the LocustTest first (409); retried at once.
    Conflict,
    /// A child with the test's name belongs to another owner (e.g. a deleted test's Job still
    /// being garbage-collected).
    ChildOwnedByOther,
}

impl ErrorKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateChild => "create_child",
            Self::ReadChild => "read_child",
            Self::RecordSpec => "record_spec",
            Self::WriteStatus => "write_status",
            Self::SuspendJob => "suspend_job",
            Self::Conflict => "conflict",
            Self::ChildOwnedByOther => "child_owned_by_other",
        }
    }
}

/// `controller` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// Always [`CONTROLLER_NAME`].
    pub controller: &'static str,
}

/// `controller` and `result` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// Always [`CONTROLLER_NAME`].
    pub controller: &'static str,
    /// `success`, `error`, `requeue` or `requeue_after`.
    pub result: &'static str,
}

/// `controller` and `kind` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Always [`CONTROLLER_NAME`].
    pub controller: &'static str,
    /// [`ErrorKind::as_str`].
    pub kind: &'static str,
}

/// `phase` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// A LocustTest phase.
    pub phase: &'static str,
}

/// `namespace`, `name` and `phase` labels of one test.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TestPhaseLabels {
    /// The test's namespace.
    pub namespace: String,
    /// The test's name.
    pub name: String,
    /// Its phase.
    pub phase: &'static str,
}

/// `namespace` and `name` labels of one test.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TestLabels {
    /// The test's namespace.
    pub namespace: String,
    /// The test's name.
    pub name: String,
}

/// `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A `PodsHealthy=False` reason.
    pub reason: &'static str,
}

/// The outcome of one reconcile, for `controller_runtime_reconcile_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconcileResult {
    /// Done; wait for the next change.
    Success,
    /// Failed; retried with backoff.
    Error,
    /// Retried at once (a write conflict).
    Requeue,
    /// Looked at again after a delay (a grace period ending, the periodic resync).
    RequeueAfter,
}

impl ReconcileResult {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Requeue => "requeue",
            Self::RequeueAfter => "requeue_after",
        }
    }
}

/// The controller's metrics.
#[derive(Clone)]
pub struct ControllerMetrics {
    reconcile_total: Family<ResultLabels, Counter>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    reconcile_errors_by_kind: Family<ErrorLabels, Counter>,
    reconcile_time: Family<ControllerLabels, Histogram>,
    active_workers: Family<ControllerLabels, Gauge>,
    max_concurrent: Family<ControllerLabels, Gauge>,
    test_duration: Family<PhaseLabels, Histogram>,
    pod_failures: Family<ReasonLabels, Counter>,
    leader: Gauge,
    phases: PhaseCollector,
}

impl std::fmt::Debug for ControllerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerMetrics").finish_non_exhaustive()
    }
}

const LABELS: ControllerLabels = ControllerLabels {
    controller: CONTROLLER_NAME,
};

impl ControllerMetrics {
    /// Creates the metrics and registers them on `metrics`' registry.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            reconcile_total: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_errors_by_kind: Family::default(),
            reconcile_time: Family::new_with_constructor(|| Histogram::new(RECONCILE_BUCKETS)),
            active_workers: Family::default(),
            max_concurrent: Family::default(),
            test_duration: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
            pod_failures: Family::default(),
            leader: Gauge::default(),
            phases: PhaseCollector::default(),
        };
        // Series that exist before the first reconcile, as in controller-runtime.
        drop(this.reconcile_errors.get_or_create(&LABELS));
        drop(this.active_workers.get_or_create(&LABELS));
        for result in [
            ReconcileResult::Success,
            ReconcileResult::Error,
            ReconcileResult::Requeue,
            ReconcileResult::RequeueAfter,
        ] {
            drop(this.reconcile_total.get_or_create(&ResultLabels {
                controller: CONTROLLER_NAME,
                result: result.as_str(),
            }));
        }
        metrics.with_registry(|registry| {
            registry.register(
                "controller_runtime_reconcile",
                "Total number of reconciliations per controller",
                this.reconcile_total.clone(),
            );
            registry.register(
                "controller_runtime_reconcile_errors",
                "Total number of reconciliation errors per controller",
                this.reconcile_errors.clone(),
            );
            registry.register(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller",
                this.reconcile_time.clone(),
            );
            registry.register(
                "controller_runtime_active_workers",
                "Number of currently used workers per controller",
                this.active_workers.clone(),
            );
            registry.register(
                "controller_runtime_max_concurrent_reconciles",
                "Maximum number of concurrent reconciles per controller",
                this.max_concurrent.clone(),
            );
            registry.register(
                "locust_operator_reconcile_errors_by_kind",
                "Reconciliation errors by what failed",
                this.reconcile_errors_by_kind.clone(),
            );
            registry.register(
                "locust_operator_test_duration_seconds",
                "Time from startTime to completionTime of finished LocustTests, by final phase",
                this.test_duration.clone(),
            );
            registry.register(
                "locust_operator_pod_failures",
                "PodsHealthy turning False, by reason",
                this.pod_failures.clone(),
            );
            registry.register(
                "locust_operator_leader",
                "1 while this replica leads (or runs without leader election), else 0",
                this.leader.clone(),
            );
            registry.register_collector(Box::new(this.phases.clone()));
        });
        this
    }

    /// Sets `controller_runtime_max_concurrent_reconciles`.
    pub fn set_max_concurrent(&self, value: u16) {
        self.max_concurrent
            .get_or_create(&LABELS)
            .set(i64::from(value));
    }

    /// Marks a reconcile as started; the guard records its end.
    pub fn start_reconcile(&self) -> ReconcileTimer {
        self.active_workers.get_or_create(&LABELS).inc();
        ReconcileTimer {
            metrics: self.clone(),
            started: std::time::Instant::now(),
        }
    }

    /// Records the outcome of a reconcile.
    pub fn record_result(&self, result: ReconcileResult, error: Option<ErrorKind>) {
        self.reconcile_total
            .get_or_create(&ResultLabels {
                controller: CONTROLLER_NAME,
                result: result.as_str(),
            })
            .inc();
        if let Some(kind) = error {
            if kind != ErrorKind::Conflict {
                self.reconcile_errors.get_or_create(&LABELS).inc();
            }
            self.reconcile_errors_by_kind
                .get_or_create(&ErrorLabels {
                    controller: CONTROLLER_NAME,
                    kind: kind.as_str(),
                })
                .inc();
        }
    }

    /// A test finished in `phase` after `seconds`.
    pub fn observe_test_duration(&self, phase: Phase, seconds: f64) {
        self.test_duration
            .get_or_create(&PhaseLabels {
                phase: phase.as_str(),
            })
            .observe(seconds.max(0.0));
    }

    /// `PodsHealthy` turned `False` with the failure type `kind` (its reason is the label).
    pub fn count_pod_failure(&self, kind: FailureKind) {
        self.pod_failures
            .get_or_create(&ReasonLabels {
                reason: kind.reason(),
            })
            .inc();
    }

    /// Sets `locust_operator_leader`.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The LocustTest caches counted by `locust_operator_tests{phase}`.
    pub fn phases(&self) -> &PhaseCollector {
        &self.phases
    }
}

/// Ends a reconcile's timing and `active_workers` count when dropped (also when the reconcile
/// future is cancelled).
pub struct ReconcileTimer {
    metrics: ControllerMetrics,
    started: std::time::Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.metrics.active_workers.get_or_create(&LABELS).dec();
        self.metrics
            .reconcile_time
            .get_or_create(&LABELS)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// Counts the LocustTests of the caches by phase at scrape time.
#[derive(Clone, Debug, Default)]
pub struct PhaseCollector {
    stores: Arc<RwLock<Vec<Store<DynamicObject>>>>,
}

/// Removes the stores of one controller run from the collector when dropped.
#[derive(Debug)]
pub struct PhaseStoresGuard {
    collector: PhaseCollector,
}

impl Drop for PhaseStoresGuard {
    fn drop(&mut self) {
        if let Ok(mut stores) = self.collector.stores.write() {
            stores.clear();
        }
    }
}

impl PhaseCollector {
    /// Counts `stores` until the returned guard is dropped (the controller stops).
    pub fn track(&self, stores: Vec<Store<DynamicObject>>) -> PhaseStoresGuard {
        if let Ok(mut current) = self.stores.write() {
            *current = stores;
        }
        PhaseStoresGuard {
            collector: self.clone(),
        }
    }

    /// Tests by phase (a test without a phase yet counts as `Pending`).
    pub fn counts(&self) -> [(Phase, i64); 4] {
        let mut counts = [
            (Phase::Pending, 0),
            (Phase::Running, 0),
            (Phase::Succeeded, 0),
            (Phase::Failed, 0),
        ];
        let Ok(stores) = self.stores.read() else {
            return counts;
        };
        for store in stores.iter() {
            for test in store.state() {
                let phase = test
                    .data
                    .pointer("/status/phase")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or(Phase::Pending.as_str());
                if let Some(slot) = counts.iter_mut().find(|(p, _)| p.as_str() == phase) {
                    slot.1 += 1;
                }
            }
        }
        counts
    }
}

/// One test as its per-test gauges show it.
#[derive(Clone, Debug, PartialEq)]
pub struct TestGauges {
    /// Its labels.
    pub labels: TestLabels,
    /// Its phase (`Pending` before it has one).
    pub phase: Phase,
    /// `.status.stats`; `None` before a read.
    pub stats: Option<LiveNumbers>,
}

/// One of [`LiveNumbers`].
type Pick = fn(&LiveNumbers) -> f64;

/// A test's live numbers, as gauges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiveNumbers {
    /// Users.
    pub users: f64,
    /// Requests per second.
    pub rps: f64,
    /// Failed share of requests.
    pub fail_ratio: f64,
}

impl PhaseCollector {
    /// Every test of the caches with its phase and live numbers.
    pub fn tests(&self) -> Vec<TestGauges> {
        let Ok(stores) = self.stores.read() else {
            return Vec::new();
        };
        let mut tests = Vec::new();
        for store in stores.iter() {
            for test in store.state() {
                let status = test.data.get("status");
                let phase = status
                    .and_then(|s| s.get("phase"))
                    .and_then(|p| serde_json::from_value::<Phase>(p.clone()).ok())
                    .unwrap_or(Phase::Pending);
                let number = |field: &str| {
                    status
                        .and_then(|s| s.get("stats"))
                        .and_then(|s| s.get(field))
                        .and_then(serde_json::Value::as_f64)
                };
                let stats = match (
                    number("users"),
                    number("requestsPerSecond"),
                    number("failRatio"),
                ) {
                    (Some(users), Some(rps), Some(fail_ratio)) => Some(LiveNumbers {
                        users,
                        rps,
                        fail_ratio,
                    }),
                    _ => None,
                };
                tests.push(TestGauges {
                    labels: TestLabels {
                        namespace: test.metadata.namespace.clone().unwrap_or_default(),
                        name: test.metadata.name.clone().unwrap_or_default(),
                    },
                    phase,
                    stats,
                });
            }
        }
        tests
    }
}

impl prometheus_client::collector::Collector for PhaseCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "locust_operator_tests",
            "LocustTests by phase (the leader's cache; zeros on a standby replica)",
            None,
            MetricType::Gauge,
        )?;
        for (phase, count) in self.counts() {
            let labels = PhaseLabels {
                phase: phase.as_str(),
            };
            ConstGauge::new(count).encode(family.encode_family(&labels)?)?;
        }
        let tests = self.tests();
        let mut family = encoder.encode_descriptor(
            "locust_operator_test_phase",
            "1 for each LocustTest's phase",
            None,
            MetricType::Gauge,
        )?;
        for test in &tests {
            let labels = TestPhaseLabels {
                namespace: test.labels.namespace.clone(),
                name: test.labels.name.clone(),
                phase: test.phase.as_str(),
            };
            ConstGauge::new(1).encode(family.encode_family(&labels)?)?;
        }
        let numbers: [(&str, &str, Pick); 3] = [
            (
                "locust_operator_test_users",
                "Users running, as the test's Locust master last reported",
                |s| s.users,
            ),
            (
                "locust_operator_test_requests_per_second",
                "Requests per second, as the test's Locust master last reported",
                |s| s.rps,
            ),
            (
                "locust_operator_test_fail_ratio",
                "Failed share of the test's requests so far, 0 to 1",
                |s| s.fail_ratio,
            ),
        ];
        for (name, help, pick) in numbers {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for test in &tests {
                if let Some(stats) = &test.stats {
                    ConstGauge::new(pick(stats)).encode(family.encode_family(&test.labels)?)?;
                }
            }
        }
        Ok(())
    }
}
