//! Condition types and reasons written to `LocustTest.status.conditions`.
//!
//! The strings are the user-facing vocabulary of the monitoring guide
//! (`kubectl wait --for=condition=...`, `jsonpath='{.status.conditions[?(@.type=="...")]}'`)
//! and of the existing Go operator: scripts grep for them, so they never change.

/// Condition `status` value `"True"`.
pub const STATUS_TRUE: &str = "True";
/// Condition `status` value `"False"`.
pub const STATUS_FALSE: &str = "False";
/// Condition `status` value `"Unknown"`.
pub const STATUS_UNKNOWN: &str = "Unknown";

/// Condition types.
pub mod types {
    /// Whether the test's Service and Jobs were created.
    pub const READY: &str = "Ready";
    /// Whether every expected worker pod is connected (ready).
    pub const WORKERS_CONNECTED: &str = "WorkersConnected";
    /// Whether the test's pods are healthy (no image pull, configuration, scheduling or crash
    /// failures once their grace period has passed).
    pub const PODS_HEALTHY: &str = "PodsHealthy";
    /// Whether the test has finished, and how.
    pub const TEST_COMPLETED: &str = "TestCompleted";
    /// Whether the spec was edited after the test left `Pending` (the edit is ignored).
    pub const SPEC_DRIFTED: &str = "SpecDrifted";

    /// Every condition type the operator writes.
    pub const ALL: [&str; 5] = [
        READY,
        WORKERS_CONNECTED,
        PODS_HEALTHY,
        TEST_COMPLETED,
        SPEC_DRIFTED,
    ];
}

/// Condition reasons, grouped by the condition type they belong to.
pub mod reasons {
    /// `Ready=True`: all resources (Service, Jobs) were created.
    pub const RESOURCES_CREATED: &str = "ResourcesCreated";
    /// `Ready=False`: resources are being created.
    pub const RESOURCES_CREATING: &str = "ResourcesCreating";
    /// `Ready=False`: the test failed; its resources are in an error state.
    pub const RESOURCES_FAILED: &str = "ResourcesFailed";
    /// `Ready=False`: the spec is invalid (it slipped past admission); nothing was created.
    pub const INVALID_SPEC: &str = "InvalidSpec";

    /// `WorkersConnected=True`: every expected worker is connected.
    pub const ALL_WORKERS_CONNECTED: &str = "AllWorkersConnected";
    /// `WorkersConnected=False`: initial state, waiting for worker pods.
    pub const WAITING_FOR_WORKERS: &str = "WaitingForWorkers";
    /// `WorkersConnected=False`: some workers are not connected yet (message `N/M workers connected`).
    pub const WORKERS_MISSING: &str = "WorkersMissing";

    /// `PodsHealthy=True`: all pods are running normally.
    pub const PODS_HEALTHY: &str = "PodsHealthy";
    /// `PodsHealthy=True`: pods are within their start-up grace period; health is not judged yet.
    pub const PODS_STARTING: &str = "PodsStarting";
    /// `PodsHealthy=False`: a pod cannot pull its image (`ErrImagePull`, `ImagePullBackOff`,
    /// `InvalidImageName`).
    pub const IMAGE_PULL_ERROR: &str = "ImagePullError";
    /// `PodsHealthy=False`: a ConfigMap or Secret the pod references does not exist
    /// (`CreateContainerConfigError`).
    pub const CONFIGURATION_ERROR: &str = "ConfigurationError";
    /// `PodsHealthy=False`: a pod cannot be scheduled (affinity, taints, insufficient resources).
    pub const SCHEDULING_ERROR: &str = "SchedulingError";
    /// `PodsHealthy=False`: a container keeps crashing.
    pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
    /// `PodsHealthy=False`: an init container failed.
    pub const INITIALIZATION_ERROR: &str = "InitializationError";
    /// `PodsHealthy=False`: the runtime could not create or start a container
    /// (`CreateContainerError`, `RunContainerError`).
    pub const CONTAINER_ERROR: &str = "ContainerError";
    /// `PodsHealthy=False`: a container was killed for exceeding its memory limit.
    pub const OOM_KILLED: &str = "OOMKilled";
    /// `PodsHealthy=False`: a pod was evicted from its node.
    pub const EVICTED: &str = "Evicted";

    /// `TestCompleted=True`: the master exited with code 0.
    pub const TEST_SUCCEEDED: &str = "TestSucceeded";
    /// `TestCompleted=True`: the test completed with a failure.
    pub const TEST_FAILED: &str = "TestFailed";
    /// `TestCompleted=False`: the test is still running.
    pub const TEST_IN_PROGRESS: &str = "TestInProgress";

    /// `SpecDrifted=True`: the spec was modified after creation; the change is ignored.
    pub const SPEC_CHANGE_IGNORED: &str = "SpecChangeIgnored";
}
