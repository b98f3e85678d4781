//! The status of a LocustTest as a pure function of what the controller observed.
//!
//! [`compute`] takes the test (its spec, `metadata.generation` and previous `.status`), the
//! children and pods the controller read ([`Observed`]), the current time and the pod-health
//! grace period, and returns the new status, the events that describe its transitions, and when
//! to look again ([`Outcome`]). No I/O, no clock: the same input always gives the same output.
//! [`invalid_spec`] is the same for a test that failed validation (docs/compatibility.md Part B 12).
//!
//! The vocabulary is the user's monitoring guide (`docs/monitor-test-status.md`);
//! the behaviour is docs/compatibility.md Part B items 4–7. The rules, in the order they apply:
//!
//! **Phase.** A terminal phase (`Succeeded`, `Failed`) never changes again (see "Terminal
//! phases" below). Otherwise, first match wins:
//! 1. the master Job has condition `Complete=True` -> `Succeeded`; with `spec.thresholds`, the
//!    verdict on the final numbers decides instead ([`live::verdict`]): `Failed` listing every
//!    missed threshold with its measured value, or when the final numbers were never read;
//! 2. the master Job has condition `Failed=True` -> `Failed`;
//! 3. a pod of the test has a failure whose grace period is over -> `Failed` (from `Pending`
//!    as well as from `Running`);
//! 4. fewer workers than expected connected within [`Observed::worker_connect_timeout`] of
//!    `startTime`, and the run never started generating load -> `Failed` naming the workers
//!    that never connected ([`live::never_connected`]), and [`Outcome::suspend_jobs`];
//! 5. the controller is recreating externally deleted children ([`Observed::recreating`]) ->
//!    `Pending` (the only way back from `Running`);
//! 6. the master is running — its Job reports a ready pod (`status.ready >= 1`) or a master pod
//!    is in phase `Running` -> `Running`;
//! 7. otherwise the previous phase (`Pending` for a new test): `Running` never falls back.
//!
//! **Locust's numbers** ([`live`], from [`Observed::locust`]): `stats` from the latest read of
//! the master's web API (the previous numbers with `readError` when it failed; a read that
//! changes no number keeps `readTime`, so it writes nothing); `results` from the latest read of
//! the stopped run, kept after; on entering a terminal phase without them, `results` says they
//! are missing and why.
//!
//! Rule 5 deliberately does not use the Job's `status.active`: it counts pods that are still
//! unschedulable or pulling their image, and the user's guide says such a test stays `Pending`
//! ("Phase stuck in `Pending` — pods not scheduling").
//!
//! **Timestamps.** `startTime` is set when the test first enters `Running` and kept after. A
//! test that reaches a terminal phase through a master-Job condition without ever having been
//! seen running (the master ran between two reconciles) gets `startTime = completionTime`; a test
//! that fails on pod health before the master ran keeps no `startTime`. `completionTime` is set on
//! entering `Succeeded` or `Failed`. Times are written with whole seconds, as the API stores
//! them, so a status read back compares equal to the one computed.
//!
//! **Conditions** (always in the order of [`types::ALL`], conditions of other types written by
//! someone else kept after them, sorted by type):
//! - `Ready`: `False`/`ResourcesFailed` once `Failed`; `True`/`ResourcesCreated` ("All resources
//!   created successfully") when the Service and both Jobs exist; `False`/`ResourcesCreating`
//!   naming what is missing otherwise; `False`/`InvalidSpec` from [`invalid_spec`].
//! - `WorkersConnected`, from `connected` = the Locust master's count of connected workers when
//!   its latest read succeeded, else the worker Job's `status.ready` (0 without a Job), and
//!   `expected` = `worker.replicas`: `False`/`WaitingForWorkers` with `0/M workers connected`;
//!   `False`/`WorkersMissing` with `N/M workers connected`; `True`/`AllWorkersConnected` with
//!   `N/M workers connected` once `N >= M`. On entering `Succeeded`/`Failed` the previous
//!   `connectedWorkers` and `WorkersConnected` are kept: the workers quit together with the
//!   master, and the record shows the run (`Succeeded 5 5` in the guide's `kubectl get -w`).
//! - `PodsHealthy`, see [`pod_health`]: `True`/`PodsStarting` while there are no pods yet or a
//!   pod that is failing or not yet running is within its grace period; `False` with the
//!   failure type as reason once a failure outlives its grace period; `True`/`PodsHealthy`
//!   otherwise ("All pods running normally" when every pod runs or has succeeded).
//! - `TestCompleted`: `False`/`TestInProgress`, `True`/`TestSucceeded`, `True`/`TestFailed`.
//! - `SpecDrifted`: absent until the test has left `Pending` (or has a `startTime`); then
//!   `True`/`SpecChangeIgnored` when the (defaulted) current spec differs from the
//!   original one ([`Observed::original_spec`]), and absent again when they are equal (the
//!   guide's condition *appears* on an edit; it has no `False` row). Without an original spec
//!   the previous `SpecDrifted` condition is kept as it is.
//!
//! Every condition written carries `observedGeneration = metadata.generation`; its
//! `lastTransitionTime` is the previous one of the same type when the `status` did not change,
//! and now otherwise (a change of reason or message alone keeps it).
//!
//! `expectedWorkers` and the worker count of `WorkersConnected` come from the spec the test runs
//! with: [`Observed::original_spec`] when given, else the current spec (an edited replica count is
//! ignored like every other edit).
//!
//! **Terminal phases** are frozen: phase, `startTime`, `completionTime`, worker counts and the
//! `Ready`, `WorkersConnected`, `PodsHealthy` and `TestCompleted` conditions (status, reason,
//! message, `lastTransitionTime`) stay exactly as they were when the test finished, whatever
//! the children look like afterwards (pods removed by the Job TTL, a Job that "completes"
//! late). Two things stay live so the status never claims to describe a spec it has not seen:
//! `observedGeneration` (top-level and per condition) follows `metadata.generation`, and
//! `SpecDrifted` follows edits of the spec (when the original spec is known).
//!
//! **Events** are emitted on transitions only, so a resync that changes nothing emits nothing:
//! `TestStarted` (Normal, first entry into `Running`), `PodFailure` (Warning, `PodsHealthy`
//! becomes `False` or its message changes), `TestSucceeded` (Normal), `TestFailed` (Warning),
//! `SpecChangeIgnored` (Warning, `SpecDrifted` becomes `True`), `SpecRestored` (Normal, the
//! spec was edited back and `SpecDrifted` went away), `InvalidSpec` (Warning, from [`invalid_spec`]),
//! `LoadStarted` (Normal, Locust's state first becomes `spawning` or `running`), `WorkerMissing`
//! (Warning, per worker Locust newly reports `missing`), `ThresholdMissed` (Warning). Event
//! messages are cut to the 1 kB limit of `events.k8s.io/v1` notes.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::api::conditions::{STATUS_FALSE, STATUS_TRUE, reasons, types};
use crate::api::v2::{LocustTest, LocustTestSpec, LocustTestStatus, Phase};
use crate::defaulting::Defaulted;
use crate::names::{LABEL_POD_NAME, Role, node_name};
use crate::validation::Report;
use live::LocustView;

pub mod events;
pub mod live;
pub mod pod_health;

pub use events::{EventReason, EventType, MAX_EVENT_MESSAGE_BYTES, StatusEvent, event_reasons};

pub use pod_health::{
    FailureKind, HealthFailure, PodFailure, PodHealth, classify, failure_message, pod_health,
};
use pod_health::{belongs_to, non_empty, pod_phase};

/// Largest condition message written, in bytes (the `metav1.Condition` convention). Only a
/// failure naming hundreds of pods comes near it.
pub const MAX_CONDITION_MESSAGE_BYTES: usize = 32 * 1024;

/// `Ready=True` message (the user's guide, verbatim).
pub const MESSAGE_RESOURCES_CREATED: &str = "All resources created successfully";
/// Start of the `Ready=False`/`ResourcesCreating` message while children deleted by someone
/// else are recreated (or waited for, while still being deleted).
pub const MESSAGE_RECREATING: &str = "Recreating externally deleted resources";
/// `PodsHealthy=True`/`PodsHealthy` message when every pod runs or has succeeded (the user's
/// guide, verbatim).
pub const MESSAGE_PODS_HEALTHY: &str = "All pods running normally";
/// `PodsHealthy=True`/`PodsHealthy` message when no failure was found but some pod (past its
/// grace period) is neither running nor succeeded.
pub const MESSAGE_PODS_NOT_ALL_RUNNING: &str =
    "No pod failures detected, but not every pod is running";
/// `PodsHealthy=True`/`PodsStarting` message before any pod exists.
pub const MESSAGE_WAITING_FOR_PODS: &str = "Waiting for pods to be created";
/// `TestCompleted=True`/`TestSucceeded` message.
pub const MESSAGE_TEST_SUCCEEDED: &str = "Test completed successfully (master exited with code 0)";
/// `TestCompleted=False`/`TestInProgress` message in `Pending`.
pub const MESSAGE_TEST_NOT_STARTED: &str = "Test has not started yet: the master is not running";
/// `TestCompleted=False`/`TestInProgress` message in `Running`.
pub const MESSAGE_TEST_RUNNING: &str = "Test is running";
/// `SpecDrifted=True` message (the meaning column of the user's guide).
pub const MESSAGE_SPEC_DRIFTED: &str =
    "Spec was modified after creation. Changes ignored. Delete and recreate to apply.";
/// Message of the `SpecRestored` event.
pub const MESSAGE_SPEC_RESTORED: &str =
    "Spec matches the one the test started with again: SpecDrifted removed";
/// Message of the `TestStarted` event.
pub const MESSAGE_TEST_STARTED: &str = "Test started: the master pod is running";
/// Message of the `TestSucceeded` event.
pub const MESSAGE_EVENT_SUCCEEDED: &str = "Test completed successfully";

/// What the controller read for one test. Build it from the cache; `Default` is "nothing".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The master Service `<n>-master`, if it exists.
    pub service: Option<Service>,
    /// The master Job `<n>-master`, if it exists.
    pub master_job: Option<Job>,
    /// The worker Job `<n>-worker`, if it exists.
    pub worker_job: Option<Job>,
    /// The test's pods (label `performance-test-name=<name>`). Pods without that label value
    /// and pods being deleted (`deletionTimestamp` set) are ignored.
    pub pods: Vec<Pod>,
    /// The controller is recreating externally deleted children in this reconcile: the test
    /// goes (back) to `Pending` unless it is terminal or its master Job finished.
    pub recreating: bool,
    /// The spec the test started with (its children were built from it), defaulted, for
    /// `SpecDrifted` and `expectedWorkers`. `None` when unknown.
    pub original_spec: Option<LocustTestSpec>,
    /// What the master's web API said ([`live`]); `Default` when it was never read.
    pub locust: LocustView,
    /// How long the master may wait, from the test's start, for all its workers; `None`: no
    /// limit.
    pub worker_connect_timeout: Option<Duration>,
}

/// The result of [`compute`] / [`invalid_spec`].
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The new `.status` (write it when it differs from the current one).
    pub status: LocustTestStatus,
    /// Transitions to record as events, in a fixed order.
    pub events: Vec<StatusEvent>,
    /// Reconcile again after this long even if nothing changes: set while a pod is inside its
    /// grace period, to the time left until the earliest grace period ends, and while the
    /// run waits for workers, to the time left until the connect timeout.
    pub requeue_after: Option<Duration>,
    /// The test just failed because workers never connected: suspend its Jobs (before the
    /// status is written), so that nothing is left waiting for them.
    pub suspend_jobs: bool,
}

/// Computes the status of `test` from what the controller observed. See the module
/// documentation for every rule. `now` is the current time; `grace` the pod-health grace
/// period (operator setting `--pod-health-grace-period`, default 2 minutes).
pub fn compute(test: &Defaulted, observed: &Observed, now: Timestamp, grace: Duration) -> Outcome {
    let previous = test.status.clone().unwrap_or_default();
    let ctx = Computation::new(test, observed, now);
    if previous.phase.is_some_and(Phase::is_terminal) {
        return ctx.frozen(previous);
    }
    let name = test.metadata.name.as_deref().unwrap_or_default();
    let master = observed.master_job.as_ref();
    let health = pod_health(name, &observed.pods, now, grace);
    let expected = ctx.effective_spec().worker.replicas;
    let view = &observed.locust;
    let stats = live::live_stats(view, previous.stats.as_ref());
    let mut results = match &view.stopped {
        Some((at, stopped)) => Some(live::results(stopped, *at, view, previous.results.as_ref())),
        None => previous.results.clone(),
    };
    let started_at = previous.start_time.as_ref().map(|t| t.0);
    let connected = live::connected_workers(view, job_ready(observed.worker_job.as_ref()));
    // Locust left `ready` once (this read, the last one, or before the operator restarted).
    let load_seen = [
        previous.stats.as_ref().and_then(|s| s.state.as_deref()),
        view.latest.as_ref().map(|(_, s)| s.state.as_str()),
    ]
    .into_iter()
    .flatten()
    .any(|state| state != crate::locust::stats::State::Ready.as_str());
    let never_connected = observed.worker_connect_timeout.and_then(|timeout| {
        let wait = live::Wait {
            load_seen,
            started_at,
            now,
            timeout,
        };
        live::never_connected(name, view, &observed.pods, (connected, expected), wait)
    });
    let thresholds = ctx
        .effective_spec()
        .thresholds
        .as_ref()
        .filter(|t| !t.is_empty());

    // The phase, and for Failed its cause.
    let mut success_message = None;
    let mut missed_thresholds = None;
    let mut suspend_jobs = false;
    let (phase, cause, from_master_job) = if job_condition(master, "Complete").is_some() {
        let measured = match &view.stopped {
            // The numbers as read, not as rounded for the status.
            Some((_, stopped)) => Some(crate::locust::thresholds::Measured::from(stopped)),
            None => results.as_ref().and_then(live::measured),
        };
        match thresholds.map(|t| live::verdict(t, measured)) {
            None => (Phase::Succeeded, None, true),
            Some(Ok(met)) => {
                success_message = Some(format!("Test completed successfully: {met}"));
                (Phase::Succeeded, None, true)
            }
            Some(Err(verdict)) => {
                if let live::Verdict::Missed(_) = &verdict {
                    missed_thresholds = Some(verdict.to_string());
                }
                (Phase::Failed, Some(verdict.to_string()), true)
            }
        }
    } else if let Some(failed) = job_condition(master, "Failed") {
        let job = node_name(name, Role::Master);
        (Phase::Failed, Some(job_failure(&job, failed)), true)
    } else if let PodHealth::Failed(failure) = &health {
        (Phase::Failed, Some(failure.message.clone()), false)
    } else if let Some(message) = never_connected {
        suspend_jobs = true;
        (Phase::Failed, Some(message), false)
    } else if observed.recreating {
        (Phase::Pending, None, false)
    } else if master_running(name, observed) {
        (Phase::Running, None, false)
    } else {
        (previous.phase.unwrap_or(Phase::Pending), None, false)
    };

    if phase.is_terminal() && !results.as_ref().is_some_and(|r| r.available) {
        results = Some(if suspend_jobs {
            live::never_ran_results("the workers never connected")
        } else if previous.start_time.is_some() || from_master_job {
            live::missing_results(view)
        } else {
            live::never_ran_results("the test ended before its master ran")
        });
    }
    let mut status = LocustTestStatus {
        phase: Some(phase),
        observed_generation: test.metadata.generation,
        expected_workers: Some(expected),
        connected_workers: Some(connected),
        start_time: previous.start_time.clone(),
        completion_time: previous.completion_time.clone(),
        conditions: None,
        stats,
        results,
        // The record of the spec the children were built from is the controller's to write.
        original_spec: previous.original_spec.clone(),
    };
    if phase == Phase::Running && status.start_time.is_none() {
        status.start_time = Some(ctx.stamp.clone());
    }
    if phase.is_terminal() {
        status.completion_time = Some(ctx.stamp.clone());
        if from_master_job && status.start_time.is_none() {
            status.start_time = Some(ctx.stamp.clone());
        }
    }

    let mut conditions = ctx.builder(&previous);
    // Ready
    match &cause {
        Some(cause) => conditions.set(
            types::READY,
            false,
            reasons::RESOURCES_FAILED,
            format!("Test failed: {cause}"),
        ),
        None => {
            let missing = missing_children(name, observed);
            if missing.is_empty() {
                conditions.set(
                    types::READY,
                    true,
                    reasons::RESOURCES_CREATED,
                    MESSAGE_RESOURCES_CREATED.to_owned(),
                );
            } else {
                let verb = if observed.recreating {
                    MESSAGE_RECREATING
                } else {
                    "Creating resources"
                };
                conditions.set(
                    types::READY,
                    false,
                    reasons::RESOURCES_CREATING,
                    format!("{verb}: {}", missing.join(", ")),
                );
            }
        }
    }
    // WorkersConnected. On entering a terminal phase the counts of the run are kept: the
    // workers quit together with the master, and the record shows who took part.
    let keep_workers = phase.is_terminal()
        && previous.connected_workers.is_some()
        && find(previous.conditions.as_deref(), types::WORKERS_CONNECTED).is_some();
    if keep_workers {
        status.connected_workers = previous.connected_workers;
        if let Some(kept) = find(previous.conditions.as_deref(), types::WORKERS_CONNECTED) {
            conditions.out.push(Condition {
                observed_generation: test.metadata.generation,
                ..kept.clone()
            });
        }
    } else {
        let (connected, expected) = (
            status.connected_workers.unwrap_or_default(),
            status.expected_workers.unwrap_or_default(),
        );
        let (ok, reason) = workers_connected(connected, expected);
        conditions.set(
            types::WORKERS_CONNECTED,
            ok,
            reason,
            format!("{connected}/{expected} workers connected"),
        );
    }
    // PodsHealthy
    let (ok, reason, message) = match &health {
        PodHealth::NoPods => (
            true,
            reasons::PODS_STARTING,
            MESSAGE_WAITING_FOR_PODS.to_owned(),
        ),
        PodHealth::Starting { .. } => (
            true,
            reasons::PODS_STARTING,
            format!(
                "Pods are starting: failures are reported once a pod is older than the {} grace period",
                humantime::format_duration(grace)
            ),
        ),
        PodHealth::Healthy { all_running: true } => {
            (true, reasons::PODS_HEALTHY, MESSAGE_PODS_HEALTHY.to_owned())
        }
        PodHealth::Healthy { all_running: false } => (
            true,
            reasons::PODS_HEALTHY,
            MESSAGE_PODS_NOT_ALL_RUNNING.to_owned(),
        ),
        PodHealth::Failed(failure) => (false, failure.kind.reason(), failure.message.clone()),
    };
    conditions.set(types::PODS_HEALTHY, ok, reason, message);
    // TestCompleted
    let (ok, reason, message) = match (phase, &cause) {
        (Phase::Succeeded, _) => (
            true,
            reasons::TEST_SUCCEEDED,
            success_message
                .clone()
                .unwrap_or_else(|| MESSAGE_TEST_SUCCEEDED.to_owned()),
        ),
        (Phase::Failed, cause) => (
            true,
            reasons::TEST_FAILED,
            format!("Test failed: {}", cause.as_deref().unwrap_or_default()),
        ),
        (Phase::Running, _) => (
            false,
            reasons::TEST_IN_PROGRESS,
            MESSAGE_TEST_RUNNING.to_owned(),
        ),
        (Phase::Pending, _) => (
            false,
            reasons::TEST_IN_PROGRESS,
            MESSAGE_TEST_NOT_STARTED.to_owned(),
        ),
    };
    conditions.set(types::TEST_COMPLETED, ok, reason, message);
    // SpecDrifted
    let started = phase != Phase::Pending || status.start_time.is_some();
    if started {
        ctx.spec_drifted(&mut conditions);
    }
    status.conditions = Some(conditions.finish());

    // Events, in a fixed order.
    let mut events = Vec::new();
    if phase == Phase::Running && previous.start_time.is_none() {
        events.push(StatusEvent::new(
            EventReason::TestStarted,
            MESSAGE_TEST_STARTED,
        ));
    }
    live_events(&previous, &status, &mut events);
    pod_failure_event(&previous, &status, &health, &mut events);
    if let Some(missed) = missed_thresholds {
        events.push(StatusEvent::new(EventReason::ThresholdMissed, missed));
    }
    match phase {
        Phase::Succeeded => events.push(StatusEvent::new(
            EventReason::TestSucceeded,
            MESSAGE_EVENT_SUCCEEDED,
        )),
        Phase::Failed => events.push(StatusEvent::new(
            EventReason::TestFailed,
            format!("Test failed: {}", cause.as_deref().unwrap_or_default()),
        )),
        Phase::Pending | Phase::Running => {}
    }
    spec_drift_events(&previous, &status, &mut events);

    let health_recheck = match (&health, phase.is_terminal()) {
        (PodHealth::Starting { recheck_after }, false) => Some(*recheck_after),
        _ => None,
    };
    let connect_deadline = match (phase, observed.worker_connect_timeout) {
        (Phase::Running, Some(timeout)) if waiting_for_workers(view, &status) => {
            live::connect_deadline_in(started_at, now, timeout)
        }
        _ => None,
    };
    let requeue_after = [health_recheck, connect_deadline]
        .into_iter()
        .flatten()
        .min();
    Outcome {
        status,
        events,
        requeue_after,
        suspend_jobs,
    }
}

/// The run has not started for want of workers: Locust waits in `ready` (or was not read) and
/// fewer workers than expected are connected.
fn waiting_for_workers(view: &LocustView, status: &LocustTestStatus) -> bool {
    let not_started = view
        .fresh()
        .is_none_or(|stats| stats.state == crate::locust::stats::State::Ready);
    not_started && status.connected_workers < status.expected_workers
}

/// `LoadStarted` when Locust starts generating load; `WorkerMissing` for each worker it newly
/// reports `missing`.
fn live_events(
    previous: &LocustTestStatus,
    status: &LocustTestStatus,
    events: &mut Vec<StatusEvent>,
) {
    let Some(now) = &status.stats else { return };
    let before = previous.stats.as_ref();
    let had_load = before.is_some_and(|b| {
        let state = b.state.as_deref();
        live::generating_load(state) || matches!(state, Some("stopping" | "stopped"))
    });
    if live::generating_load(now.state.as_deref()) && !had_load {
        events.push(StatusEvent::new(
            EventReason::LoadStarted,
            format!(
                "Locust started generating load: {} users, {} of {} workers connected",
                now.users.unwrap_or_default(),
                now.workers.unwrap_or_default(),
                status.expected_workers.unwrap_or_default()
            ),
        ));
    }
    for id in live::newly_missing(before, now) {
        events.push(StatusEvent::new(
            EventReason::WorkerMissing,
            format!("The Locust master lost worker {id} (no heartbeat): it reports it missing"),
        ));
    }
}

/// The status of a test whose spec failed validation (`report` has errors): `Ready=False`
/// with reason `InvalidSpec` and the message `Invalid spec: <every error>`, and a Warning
/// `InvalidSpec` event when that condition is new or its message changed. The controller
/// creates no children for such a test; everything else is computed as by [`compute`] with
/// nothing observed (a new test is `Pending` with the initial conditions). A terminal test
/// stays frozen, as in [`compute`].
pub fn invalid_spec(test: &Defaulted, report: &Report, now: Timestamp) -> Outcome {
    let nothing = Observed::default();
    let mut outcome = compute(test, &nothing, now, Duration::ZERO);
    if outcome.status.phase.is_some_and(Phase::is_terminal) {
        return outcome;
    }
    let previous = test.status.clone().unwrap_or_default();
    let errors = report.error_message();
    let message = if errors.is_empty() {
        "Invalid spec".to_owned()
    } else {
        format!("Invalid spec: {errors}")
    };
    let ctx = Computation::new(test, &nothing, now);
    let ready = ctx.builder(&previous).condition(
        types::READY,
        false,
        reasons::INVALID_SPEC,
        message.clone(),
    );
    if let Some(slot) = outcome
        .status
        .conditions
        .iter_mut()
        .flatten()
        .find(|c| c.type_ == types::READY)
    {
        *slot = ready;
    }
    let before = find(previous.conditions.as_deref(), types::READY);
    if !before.is_some_and(|c| c.reason == reasons::INVALID_SPEC && c.message == message) {
        outcome
            .events
            .push(StatusEvent::new(EventReason::InvalidSpec, &message));
    }
    outcome.requeue_after = None;
    outcome
}

/// What every part of one computation shares.
struct Computation<'a> {
    test: &'a LocustTest,
    observed: &'a Observed,
    /// `now` with whole seconds, as written.
    stamp: Time,
}

impl<'a> Computation<'a> {
    fn new(test: &'a LocustTest, observed: &'a Observed, now: Timestamp) -> Self {
        let stamp = live::stamp(now);
        Self {
            test,
            observed,
            stamp,
        }
    }

    /// The spec the test runs with.
    fn effective_spec(&self) -> &'a LocustTestSpec {
        self.observed
            .original_spec
            .as_ref()
            .unwrap_or(&self.test.spec)
    }

    fn builder(&self, previous: &'a LocustTestStatus) -> ConditionBuilder<'a> {
        ConditionBuilder {
            previous: previous.conditions.as_deref().unwrap_or_default(),
            generation: self.test.metadata.generation,
            now: self.stamp.clone(),
            out: Vec::new(),
        }
    }

    /// Sets `SpecDrifted` when the spec differs from the original one (and leaves it out when
    /// it does not), or keeps the previous one when the original spec is unknown.
    fn spec_drifted(&self, conditions: &mut ConditionBuilder<'_>) {
        match self.observed.original_spec.as_ref() {
            Some(original) => {
                let drifted = self.test.spec != *original;
                // The user's guide has the condition *appear* on an edit, with one row
                // (`True`/`SpecChangeIgnored`): an unchanged spec has no condition at all.
                if drifted {
                    conditions.set(
                        types::SPEC_DRIFTED,
                        true,
                        reasons::SPEC_CHANGE_IGNORED,
                        MESSAGE_SPEC_DRIFTED.to_owned(),
                    );
                }
            }
            None => conditions.keep(types::SPEC_DRIFTED),
        }
    }

    /// A terminal test: everything kept but `observedGeneration` and `SpecDrifted`.
    fn frozen(&self, previous: LocustTestStatus) -> Outcome {
        let generation = self.test.metadata.generation;
        let mut status = previous.clone();
        status.observed_generation = generation;
        let mut conditions = self.builder(&previous);
        for type_ in types::ALL {
            if type_ == types::SPEC_DRIFTED {
                self.spec_drifted(&mut conditions);
            } else {
                conditions.keep(type_);
            }
        }
        let mut list = conditions.finish();
        for condition in &mut list {
            condition.observed_generation = generation;
        }
        status.conditions = Some(list);
        let mut events = Vec::new();
        spec_drift_events(&previous, &status, &mut events);
        Outcome {
            status,
            events,
            requeue_after: None,
            suspend_jobs: false,
        }
    }
}

/// Builds the condition list: ours in [`types::ALL`] order, then foreign ones.
struct ConditionBuilder<'a> {
    previous: &'a [Condition],
    generation: Option<i64>,
    now: Time,
    out: Vec<Condition>,
}

impl ConditionBuilder<'_> {
    /// Adds a condition (see [`Self::condition`]).
    fn set(&mut self, type_: &str, ok: bool, reason: &str, message: String) {
        let condition = self.condition(type_, ok, reason, message);
        self.out.push(condition);
    }

    /// A condition with this generation; its `lastTransitionTime` is the previous one of the
    /// same type when the status is the same, now otherwise.
    fn condition(&self, type_: &str, ok: bool, reason: &str, message: String) -> Condition {
        let status = if ok { STATUS_TRUE } else { STATUS_FALSE };
        let last_transition_time = find(Some(self.previous), type_)
            .filter(|c| c.status == status)
            .map_or_else(|| self.now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message: truncate(message, MAX_CONDITION_MESSAGE_BYTES),
            last_transition_time,
            observed_generation: self.generation,
        }
    }

    /// Keeps the previous condition of this type as it was, if there is one.
    fn keep(&mut self, type_: &str) {
        if let Some(previous) = find(Some(self.previous), type_) {
            self.out.push(previous.clone());
        }
    }

    fn finish(self) -> Vec<Condition> {
        let mut out = self.out;
        out.sort_by_key(|c| types::ALL.iter().position(|t| *t == c.type_));
        let mut foreign: Vec<Condition> = self
            .previous
            .iter()
            .filter(|c| !types::ALL.contains(&c.type_.as_str()))
            .cloned()
            .collect();
        foreign.sort_by(|a, b| a.type_.cmp(&b.type_));
        out.extend(foreign);
        out
    }
}

fn find<'c>(conditions: Option<&'c [Condition]>, type_: &str) -> Option<&'c Condition> {
    conditions?.iter().find(|c| c.type_ == type_)
}

/// The Job's condition of this type with status `True`.
pub fn job_condition<'j>(
    job: Option<&'j Job>,
    type_: &str,
) -> Option<&'j k8s_openapi::api::batch::v1::JobCondition> {
    job?.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == STATUS_TRUE)
}

/// `Job <n>-master failed (<reason>): <message>`.
fn job_failure(job: &str, condition: &k8s_openapi::api::batch::v1::JobCondition) -> String {
    let mut text = format!("Job {job} failed");
    if let Some(reason) = non_empty(condition.reason.as_deref()) {
        text.push_str(&format!(" ({reason})"));
    }
    if let Some(message) = non_empty(condition.message.as_deref()) {
        text.push_str(&format!(": {message}"));
    }
    text
}

fn job_ready(job: Option<&Job>) -> i32 {
    job.and_then(|j| j.status.as_ref())
        .and_then(|s| s.ready)
        .unwrap_or_default()
}

/// The master Job reports a ready pod, or a master pod is in phase `Running`.
fn master_running(name: &str, observed: &Observed) -> bool {
    if job_ready(observed.master_job.as_ref()) >= 1 {
        return true;
    }
    pods_of_role(name, Role::Master, &observed.pods).any(|pod| pod_phase(pod) == "Running")
}

/// The pods of `role` of the test `name` (label `performance-test-pod-name=<name>-<role>`).
pub(crate) fn pods_of_role<'p>(
    name: &'p str,
    role: Role,
    pods: &'p [Pod],
) -> impl Iterator<Item = &'p Pod> + 'p {
    let node = node_name(name, role);
    pods.iter().filter(move |pod| {
        belongs_to(pod, name)
            && pod
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(LABEL_POD_NAME))
                .is_some_and(|value| *value == node)
    })
}

/// `Service <n>-master`, `Job <n>-master`, `Job <n>-worker` for each missing child.
fn missing_children(name: &str, observed: &Observed) -> Vec<String> {
    let master = node_name(name, Role::Master);
    let worker = node_name(name, Role::Worker);
    let mut missing = Vec::new();
    if observed.service.is_none() {
        missing.push(format!("Service {master}"));
    }
    if observed.master_job.is_none() {
        missing.push(format!("Job {master}"));
    }
    if observed.worker_job.is_none() {
        missing.push(format!("Job {worker}"));
    }
    missing
}

fn workers_connected(connected: i32, expected: i32) -> (bool, &'static str) {
    if connected >= expected && expected > 0 {
        (true, reasons::ALL_WORKERS_CONNECTED)
    } else if connected > 0 {
        (false, reasons::WORKERS_MISSING)
    } else {
        (false, reasons::WAITING_FOR_WORKERS)
    }
}

/// `PodFailure` when `PodsHealthy` is `False` and was not, or says something new.
fn pod_failure_event(
    previous: &LocustTestStatus,
    status: &LocustTestStatus,
    health: &PodHealth,
    events: &mut Vec<StatusEvent>,
) {
    let now = find(status.conditions.as_deref(), types::PODS_HEALTHY);
    let before = find(previous.conditions.as_deref(), types::PODS_HEALTHY);
    if let Some(now) = now.filter(|c| c.status == STATUS_FALSE)
        && let PodHealth::Failed(failure) = health
        && !before.is_some_and(|b| b.status == now.status && b.message == now.message)
    {
        events.push(StatusEvent::new(
            EventReason::PodFailure(failure.kind),
            &now.message,
        ));
    }
}

/// `SpecChangeIgnored` when `SpecDrifted` becomes `True`; `SpecRestored` when the spec is
/// edited back and the condition goes away.
fn spec_drift_events(
    previous: &LocustTestStatus,
    status: &LocustTestStatus,
    events: &mut Vec<StatusEvent>,
) {
    let drifted = |status: &LocustTestStatus| {
        find(status.conditions.as_deref(), types::SPEC_DRIFTED)
            .is_some_and(|c| c.status == STATUS_TRUE)
    };
    let (was, is) = (drifted(previous), drifted(status));
    if is && !was {
        events.push(StatusEvent::new(
            EventReason::SpecChangeIgnored,
            MESSAGE_SPEC_DRIFTED,
        ));
    } else if was && !is {
        events.push(StatusEvent::new(
            EventReason::SpecRestored,
            MESSAGE_SPEC_RESTORED,
        ));
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, ending in `...` when cut.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("...");
    text
}
