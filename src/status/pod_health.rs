//! Pod health: what the kubelet's pod states say about a test's pods, for the `PodsHealthy`
//! condition. Each pod is classified on its own ([`classify`]); [`pod_health`] judges a
//! test's pods together, with the per-pod grace period deciding when a failure is reported.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::api::conditions::{STATUS_FALSE, reasons};
use crate::names::test_name_of;

/// A pod failure type: the `PodsHealthy=False` reason. The declaration order is the priority
/// when pods fail in different ways (the first present wins the condition): the user's table
/// in its order, then the types docs/compatibility.md Part B 6 adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName` (and the kubelet's other image
    /// errors) on any container.
    ImagePullError,
    /// `CreateContainerConfigError`: a referenced ConfigMap, Secret or key is missing.
    ConfigurationError,
    /// `PodScheduled=False` with reason `Unschedulable`.
    SchedulingError,
    /// A container (or a native sidecar) waiting in `CrashLoopBackOff`.
    CrashLoopBackOff,
    /// An init container that exited non-zero or crash-loops.
    InitializationError,
    /// `CreateContainerError` or `RunContainerError`.
    ContainerError,
    /// A container terminated with reason `OOMKilled` (now or in its last state).
    OomKilled,
    /// The pod was evicted (`status.reason: Evicted`).
    Evicted,
}

impl FailureKind {
    /// Every failure type, highest priority first.
    pub const ALL: [FailureKind; 8] = [
        Self::ImagePullError,
        Self::ConfigurationError,
        Self::SchedulingError,
        Self::CrashLoopBackOff,
        Self::InitializationError,
        Self::ContainerError,
        Self::OomKilled,
        Self::Evicted,
    ];

    /// The condition reason (and message prefix), e.g. `ImagePullError`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::ImagePullError => reasons::IMAGE_PULL_ERROR,
            Self::ConfigurationError => reasons::CONFIGURATION_ERROR,
            Self::SchedulingError => reasons::SCHEDULING_ERROR,
            Self::CrashLoopBackOff => reasons::CRASH_LOOP_BACK_OFF,
            Self::InitializationError => reasons::INITIALIZATION_ERROR,
            Self::ContainerError => reasons::CONTAINER_ERROR,
            Self::OomKilled => reasons::OOM_KILLED,
            Self::Evicted => reasons::EVICTED,
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// The failure of one pod, from [`classify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodFailure {
    /// The pod's name.
    pub pod: String,
    /// The failure type (the pod's highest-priority one when it fails in several ways).
    pub kind: FailureKind,
    /// The error detail shown after the pod names, e.g. `ErrImagePull`,
    /// `Secret "api-creds" not found`, `0/3 nodes available: insufficient cpu`.
    pub detail: String,
    /// Time left in the pod's grace period: `Some` while the failure is not judged yet,
    /// `None` once the grace period is over.
    pub grace_remaining: Option<Duration>,
}

/// A failure judged after its grace period, as reported in `PodsHealthy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthFailure {
    /// The highest-priority failure type among the judged pods.
    pub kind: FailureKind,
    /// Every pod with that failure type now, sorted (also those still in their grace period).
    pub pods: Vec<String>,
    /// The detail of the first of them.
    pub detail: String,
    /// `{FailureType}: {N} pod(s) affected [{pod-names}]: {error-detail}`.
    pub message: String,
}

/// The health of a test's pods, from [`pod_health`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodHealth {
    /// No pod of the test exists (yet).
    NoPods,
    /// Some pod that is failing or not yet running is still within its grace period; health is
    /// judged again after `recheck_after` (the earliest end of such a grace period).
    Starting {
        /// Time until the earliest grace period of such a pod ends.
        recheck_after: Duration,
    },
    /// No failure. `all_running` is false when some pod is neither running nor succeeded
    /// (without a failure the operator recognises).
    Healthy {
        /// Every pod is in phase `Running` or `Succeeded`.
        all_running: bool,
    },
    /// At least one failure outlived its grace period.
    Failed(HealthFailure),
}

/// Waiting reasons of an image that cannot be pulled or used (kubelet `images` errors).
const IMAGE_PULL_REASONS: [&str; 7] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "ImageInspectError",
    "RegistryUnavailable",
    "SignatureValidationFailed",
];
/// Waiting reason of a missing ConfigMap, Secret or key.
const CONFIG_ERROR_REASON: &str = "CreateContainerConfigError";
/// Waiting reasons of a runtime that cannot create or start a container.
const CONTAINER_ERROR_REASONS: [&str; 2] = ["CreateContainerError", "RunContainerError"];
/// Waiting reason of a restarting crashing container.
const CRASH_LOOP_REASON: &str = "CrashLoopBackOff";
/// Terminated reason of a container killed for exceeding its memory limit.
const OOM_KILLED_REASON: &str = "OOMKilled";
/// `status.reason` of an evicted pod.
const EVICTED_REASON: &str = "Evicted";
/// Reason of `PodScheduled=False` when no node fits.
const UNSCHEDULABLE_REASON: &str = "Unschedulable";

/// The kubelet writes a missing object as `secret "x" not found`; the user's guide (and
/// `kubectl describe`) spell the kind `Secret` / `ConfigMap`.
const KIND_SPELLINGS: [(&str, &str); 4] = [
    ("secrets \"", "Secret \""),
    ("secret \"", "Secret \""),
    ("configmaps \"", "ConfigMap \""),
    ("configmap \"", "ConfigMap \""),
];

/// Classifies one pod: its failure (the highest-priority one if it fails in several ways), or
/// `None` when it shows none. `grace_remaining` is measured from the pod's own
/// `creationTimestamp` (a pod without one is past its grace period); a failure is judged once
/// `now >= creationTimestamp + grace`.
///
/// Recognised, in priority order ([`FailureKind`]), with their detail:
/// - image errors on any container (`ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`,
///   `ErrImageNeverPull`, `ImageInspectError`, `RegistryUnavailable`,
///   `SignatureValidationFailed`) -> `ImagePullError`, the waiting reason;
/// - `CreateContainerConfigError` on any container -> `ConfigurationError`, the waiting
///   message with the kind capitalised (`secret "x" not found` -> `Secret "x" not found`);
/// - `PodScheduled=False`/`Unschedulable` -> `SchedulingError`, the condition's message;
/// - `CrashLoopBackOff` on a container or native sidecar -> `CrashLoopBackOff`, the reason;
/// - an init container (not a sidecar) in `CrashLoopBackOff` or terminated non-zero ->
///   `InitializationError`, `init container "<c>" exited with code <n>` or
///   `init container "<c>": CrashLoopBackOff`;
/// - `CreateContainerError`, `RunContainerError` -> `ContainerError`, the waiting message;
/// - a container terminated `OOMKilled` now or in its last state -> `OOMKilled`,
///   `container "<c>" was OOMKilled`;
/// - `status.reason: Evicted` -> `Evicted`, the pod's status message.
///
/// A main container that exited non-zero for another reason is not a pod-health failure: that
/// is the test's result (Locust exits 1 when requests failed), reported through the Job.
pub fn classify(pod: &Pod, now: Timestamp, grace: Duration) -> Option<PodFailure> {
    let (kind, detail) = failures_of(pod).into_iter().min_by_key(|(kind, _)| *kind)?;
    Some(PodFailure {
        pod: pod.metadata.name.clone().unwrap_or_default(),
        kind,
        detail,
        grace_remaining: grace_remaining(pod, now, grace),
    })
}

/// Every failure a pod shows, in discovery order.
fn failures_of(pod: &Pod) -> Vec<(FailureKind, String)> {
    let mut found = Vec::new();
    let Some(status) = pod.status.as_ref() else {
        return found;
    };
    if status.reason.as_deref() == Some(EVICTED_REASON) {
        found.push((
            FailureKind::Evicted,
            non_empty(status.message.as_deref())
                .unwrap_or(EVICTED_REASON)
                .to_owned(),
        ));
    }
    for condition in status.conditions.iter().flatten() {
        if condition.type_ == "PodScheduled"
            && condition.status == STATUS_FALSE
            && condition.reason.as_deref() == Some(UNSCHEDULABLE_REASON)
        {
            found.push((
                FailureKind::SchedulingError,
                non_empty(condition.message.as_deref())
                    .unwrap_or(UNSCHEDULABLE_REASON)
                    .to_owned(),
            ));
        }
    }
    let sidecars: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|spec| spec.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    for container in status.init_container_statuses.iter().flatten() {
        let init = !sidecars.contains(&container.name.as_str());
        container_failures(container, init, &mut found);
    }
    for container in status.container_statuses.iter().flatten() {
        container_failures(container, false, &mut found);
    }
    found
}

/// The failures one container status shows. `init`: a classic init container (not a sidecar).
fn container_failures(
    status: &ContainerStatus,
    init: bool,
    found: &mut Vec<(FailureKind, String)>,
) {
    let state = status.state.as_ref();
    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        let reason = waiting.reason.as_deref().unwrap_or_default();
        let message = non_empty(waiting.message.as_deref());
        if IMAGE_PULL_REASONS.contains(&reason) {
            found.push((FailureKind::ImagePullError, reason.to_owned()));
        } else if reason == CONFIG_ERROR_REASON {
            let detail = message.map_or_else(|| reason.to_owned(), capitalise_kind);
            found.push((FailureKind::ConfigurationError, detail));
        } else if CONTAINER_ERROR_REASONS.contains(&reason) {
            found.push((
                FailureKind::ContainerError,
                message.unwrap_or(reason).to_owned(),
            ));
        } else if reason == CRASH_LOOP_REASON {
            if init {
                found.push((
                    FailureKind::InitializationError,
                    format!("init container \"{}\": {reason}", status.name),
                ));
            } else {
                found.push((FailureKind::CrashLoopBackOff, reason.to_owned()));
            }
        }
    }
    let terminated = state.and_then(|s| s.terminated.as_ref());
    let last_terminated = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref());
    if [terminated, last_terminated]
        .into_iter()
        .flatten()
        .any(|t| t.reason.as_deref() == Some(OOM_KILLED_REASON))
    {
        found.push((
            FailureKind::OomKilled,
            format!("container \"{}\" was OOMKilled", status.name),
        ));
    } else if let Some(term) = terminated.filter(|t| init && t.exit_code != 0) {
        found.push((
            FailureKind::InitializationError,
            format!(
                "init container \"{}\" exited with code {}",
                status.name, term.exit_code
            ),
        ));
    }
}

/// `secret "x" not found` -> `Secret "x" not found` (see [`KIND_SPELLINGS`]).
fn capitalise_kind(message: &str) -> String {
    for (kubelet, ours) in KIND_SPELLINGS {
        if let Some(rest) = message.strip_prefix(kubelet) {
            return format!("{ours}{rest}");
        }
    }
    message.to_owned()
}

pub(super) fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.trim().is_empty())
}

/// Time left until `creationTimestamp + grace`; `None` when it has passed (or the pod has no
/// creation time).
fn grace_remaining(pod: &Pod, now: Timestamp, grace: Duration) -> Option<Duration> {
    let created = pod.metadata.creation_timestamp.as_ref()?.0;
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    let age = now.duration_since(created);
    let remaining = grace.checked_sub(age)?;
    if remaining.is_positive() {
        Duration::try_from(remaining).ok()
    } else {
        None
    }
}

/// `{FailureType}: {N} pod(s) affected [{pod-names}]: {error-detail}` (the user's guide).
/// `pods` are written in the order given.
pub fn failure_message(kind: FailureKind, pods: &[String], detail: &str) -> String {
    format!(
        "{kind}: {} pod(s) affected [{}]: {detail}",
        pods.len(),
        pods.join(", ")
    )
}

/// The health of the pods of test `test_name` (pods of other tests and pods being deleted are
/// ignored):
/// - no pod -> [`PodHealth::NoPods`];
/// - some failure past its pod's grace period -> [`PodHealth::Failed`] with the
///   highest-priority failure type among the judged pods ([`FailureKind`] order), every pod
///   with that type (sorted; pods still in their grace period included: the grace period
///   decides when a failure is reported, not which pods it names), and the detail of the first
///   of them;
/// - some pod failing, or not yet `Running`/`Succeeded`, within its grace period ->
///   [`PodHealth::Starting`], to be re-checked when the earliest such grace period ends;
/// - otherwise [`PodHealth::Healthy`].
pub fn pod_health(test_name: &str, pods: &[Pod], now: Timestamp, grace: Duration) -> PodHealth {
    let mut pods: Vec<&Pod> = pods.iter().filter(|p| belongs_to(p, test_name)).collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    if pods.is_empty() {
        return PodHealth::NoPods;
    }
    let mut failures: Vec<PodFailure> = Vec::new();
    let mut recheck_after: Option<Duration> = None;
    let mut all_running = true;
    for pod in pods {
        let settled = matches!(pod_phase(pod), "Running" | "Succeeded");
        all_running &= settled;
        match classify(pod, now, grace) {
            Some(failure) => {
                if let Some(left) = failure.grace_remaining {
                    recheck_after = Some(recheck_after.map_or(left, |r| r.min(left)));
                }
                failures.push(failure);
            }
            None if !settled => {
                if let Some(left) = grace_remaining(pod, now, grace) {
                    recheck_after = Some(recheck_after.map_or(left, |r| r.min(left)));
                }
            }
            None => {}
        }
    }
    // The grace period decides *when* a failure type is reported (once one of its pods is past
    // it); the report then names every pod in that state, judged or not: `Failed` freezes the
    // status, so a pod left out now would never be named.
    let judged_kind = failures
        .iter()
        .filter(|f| f.grace_remaining.is_none())
        .map(|f| f.kind)
        .min();
    if let Some(kind) = judged_kind {
        let of_kind: Vec<&PodFailure> = failures.iter().filter(|f| f.kind == kind).collect();
        let names: Vec<String> = of_kind.iter().map(|f| f.pod.clone()).collect();
        let detail = of_kind
            .first()
            .map(|f| f.detail.clone())
            .unwrap_or_default();
        let message = failure_message(kind, &names, &detail);
        return PodHealth::Failed(HealthFailure {
            kind,
            pods: names,
            detail,
            message,
        });
    }
    match recheck_after {
        Some(recheck_after) => PodHealth::Starting { recheck_after },
        None => PodHealth::Healthy { all_running },
    }
}

pub(super) fn belongs_to(pod: &Pod, test_name: &str) -> bool {
    pod.metadata.deletion_timestamp.is_none() && test_name_of(&pod.metadata) == Some(test_name)
}

pub(super) fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}
