//! The events the operator records about a test: their reasons as a type, so that what the
//! controller counts in its metrics is decided by matching variants, never strings, and the
//! `reason` strings users filter on (`kubectl get events --field-selector reason=...`) are
//! written once, in [`event_reasons`].

use super::pod_health::FailureKind;
use super::truncate;

/// Every event reason, as users see it.
pub mod event_reasons {
    use crate::api::conditions::reasons;

    /// Normal: the test entered `Running` for the first time.
    pub const TEST_STARTED: &str = "TestStarted";
    /// Normal: the test entered `Succeeded`.
    pub const TEST_SUCCEEDED: &str = "TestSucceeded";
    /// Warning: the test entered `Failed`.
    pub const TEST_FAILED: &str = "TestFailed";
    /// Warning: `PodsHealthy` became `False`; the message is the condition's
    /// (`{FailureType}: {N} pod(s) affected [...]: {detail}`).
    pub const POD_FAILURE: &str = "PodFailure";
    /// Warning: the spec was edited after the test started; the edit is ignored.
    pub const SPEC_CHANGE_IGNORED: &str = reasons::SPEC_CHANGE_IGNORED;
    /// Normal: the spec was edited back to the one the test started with; `SpecDrifted` is
    /// gone.
    pub const SPEC_RESTORED: &str = "SpecRestored";
    /// Warning: the spec failed validation; nothing is created.
    pub const INVALID_SPEC: &str = reasons::INVALID_SPEC;
    /// Normal: the Service and Jobs of a test were created.
    pub const CREATED: &str = "Created";
    /// Warning: a child deleted by someone else was recreated from the original spec.
    pub const RECREATED: &str = "Recreated";
    /// Warning: a child name is taken by an object the test does not own; retried.
    pub const NAME_CONFLICT: &str = "NameConflict";
    /// Warning: a child was deleted but cannot be recreated (the original spec is unknown).
    pub const RECOVERY_IMPOSSIBLE: &str = "RecoveryImpossible";
    /// Normal: the Locust master started generating load (its state became `spawning` or
    /// `running`).
    pub const LOAD_STARTED: &str = "LoadStarted";
    /// Warning: the Locust master lost a worker (no heartbeat: it reports it `missing`).
    pub const WORKER_MISSING: &str = "WorkerMissing";
    /// Warning: the run's final numbers missed a threshold of `spec.thresholds`.
    pub const THRESHOLD_MISSED: &str = "ThresholdMissed";
}

/// Why an event was recorded: a status transition ([`compute`](super::compute)) or an action of
/// the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventReason {
    /// [`event_reasons::TEST_STARTED`].
    TestStarted,
    /// [`event_reasons::TEST_SUCCEEDED`].
    TestSucceeded,
    /// [`event_reasons::TEST_FAILED`].
    TestFailed,
    /// [`event_reasons::POD_FAILURE`], with the failure type `PodsHealthy` reports.
    PodFailure(FailureKind),
    /// [`event_reasons::SPEC_CHANGE_IGNORED`].
    SpecChangeIgnored,
    /// [`event_reasons::SPEC_RESTORED`].
    SpecRestored,
    /// [`event_reasons::INVALID_SPEC`].
    InvalidSpec,
    /// [`event_reasons::CREATED`].
    Created,
    /// [`event_reasons::RECREATED`].
    Recreated,
    /// [`event_reasons::NAME_CONFLICT`].
    NameConflict,
    /// [`event_reasons::RECOVERY_IMPOSSIBLE`].
    RecoveryImpossible,
    /// [`event_reasons::LOAD_STARTED`].
    LoadStarted,
    /// [`event_reasons::WORKER_MISSING`].
    WorkerMissing,
    /// [`event_reasons::THRESHOLD_MISSED`].
    ThresholdMissed,
}

impl EventReason {
    /// The event's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TestStarted => event_reasons::TEST_STARTED,
            Self::TestSucceeded => event_reasons::TEST_SUCCEEDED,
            Self::TestFailed => event_reasons::TEST_FAILED,
            Self::PodFailure(_) => event_reasons::POD_FAILURE,
            Self::SpecChangeIgnored => event_reasons::SPEC_CHANGE_IGNORED,
            Self::SpecRestored => event_reasons::SPEC_RESTORED,
            Self::InvalidSpec => event_reasons::INVALID_SPEC,
            Self::Created => event_reasons::CREATED,
            Self::Recreated => event_reasons::RECREATED,
            Self::NameConflict => event_reasons::NAME_CONFLICT,
            Self::RecoveryImpossible => event_reasons::RECOVERY_IMPOSSIBLE,
            Self::LoadStarted => event_reasons::LOAD_STARTED,
            Self::WorkerMissing => event_reasons::WORKER_MISSING,
            Self::ThresholdMissed => event_reasons::THRESHOLD_MISSED,
        }
    }

    /// Normal for what was expected, Warning for what the user should look at.
    pub fn event_type(self) -> EventType {
        match self {
            Self::TestStarted
            | Self::TestSucceeded
            | Self::SpecRestored
            | Self::Created
            | Self::LoadStarted => EventType::Normal,
            Self::TestFailed
            | Self::PodFailure(_)
            | Self::SpecChangeIgnored
            | Self::InvalidSpec
            | Self::Recreated
            | Self::NameConflict
            | Self::RecoveryImpossible
            | Self::WorkerMissing
            | Self::ThresholdMissed => EventType::Warning,
        }
    }
}

impl std::fmt::Display for EventReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for EventReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<EventReason> for &str {
    fn eq(&self, other: &EventReason) -> bool {
        *self == other.as_str()
    }
}

/// Type of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something the user should look at.
    Warning,
}

impl EventType {
    /// `Normal` or `Warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

impl From<EventType> for kube::runtime::events::EventType {
    fn from(value: EventType) -> Self {
        match value {
            EventType::Normal => Self::Normal,
            EventType::Warning => Self::Warning,
        }
    }
}

/// Largest `note` of an `events.k8s.io/v1` Event, in bytes.
pub const MAX_EVENT_MESSAGE_BYTES: usize = 1024;

/// An event about a test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEvent {
    /// Normal or Warning.
    pub type_: EventType,
    /// Why.
    pub reason: EventReason,
    /// What happened, at most [`MAX_EVENT_MESSAGE_BYTES`] bytes.
    pub message: String,
}

impl StatusEvent {
    /// An event of `reason`'s type with `message` cut to [`MAX_EVENT_MESSAGE_BYTES`].
    pub fn new(reason: EventReason, message: impl Into<String>) -> Self {
        Self {
            type_: reason.event_type(),
            reason,
            message: truncate(message.into(), MAX_EVENT_MESSAGE_BYTES),
        }
    }
}
