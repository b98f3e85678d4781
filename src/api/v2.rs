//! `locust.io/v2` `LocustTest`: the storage version.
//!
//! Field names, types, defaults and rules are those of the existing Go operator
//! (`docs/compatibility.md` A2/A3) so that its manifests apply unchanged.
//! Fields that have a default are `Option`s here: `None` means "absent from the object",
//! which the API server (schema defaults) and the mutating webhook fill in.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, LocalObjectReference, PodSecurityContext, ResourceRequirements,
    SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::{embedded, string_map};

/// Smallest allowed `spec.worker.replicas`.
pub const MIN_WORKER_REPLICAS: i32 = 1;
/// Largest allowed `spec.worker.replicas`.
pub const MAX_WORKER_REPLICAS: i32 = 500;
/// Longest allowed LocustTest name: the generated `<name>-master`/`<name>-worker` names must
/// stay within the 63 characters of a Kubernetes label value.
pub const MAX_NAME_LENGTH: usize = 56;
/// Pattern of `spec.scheduling.runtimeClassName`: a DNS-1123 subdomain, or `""` to opt out of
/// the operator's default RuntimeClass.
pub const RUNTIME_CLASS_NAME_PATTERN: &str =
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$";

/// Desired state of a LocustTest: the image, the master and worker command lines, and how
/// their pods are configured.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    doc = "A distributed Locust load test: one master and `spec.worker.replicas` workers, run once. The operator creates a master Service, a master Job and a worker Job and reports progress in `.status`. A test is immutable once started: delete and recreate it to run it again with another spec.",
    group = "locust.io",
    version = "v2",
    kind = "LocustTest",
    plural = "locusttests",
    singular = "locusttest",
    shortname = "lotest",
    category = "locust",
    namespaced,
    status = "LocustTestStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Current test phase"}"#,
    printcolumn = r#"{"name":"Workers","type":"integer","jsonPath":".spec.worker.replicas","description":"Requested worker count"}"#,
    printcolumn = r#"{"name":"Connected","type":"integer","jsonPath":".status.connectedWorkers","description":"Connected workers"}"#,
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".spec.image","priority":1,"description":"Locust image"}"#,
    printcolumn = r#"{"name":"Users","type":"integer","jsonPath":".status.stats.users","priority":1,"description":"Users running, as the Locust master reports"}"#,
    printcolumn = r#"{"name":"RPS","type":"number","jsonPath":".status.stats.requestsPerSecond","priority":1,"description":"Requests per second, as the Locust master reports"}"#,
    printcolumn = r#"{"name":"Failures","type":"integer","jsonPath":".status.stats.failures","priority":1,"description":"Failed requests so far"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = super::name_length_rule(),
)]
#[serde(rename_all = "camelCase")]
pub struct LocustTestSpec {
    /// Container image for the master and worker pods, e.g. `locustio/locust:2.43.3`.
    /// Its entrypoint must be `locust`.
    pub image: String,

    /// When to pull the image: `Always`, `IfNotPresent` (default) or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<ImagePullPolicy>", extend("default" = "IfNotPresent"))]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// Secrets (by name, in the test's namespace) used to pull the image from a private registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Vec<LocalObjectReference>>")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,

    /// The master node: one pod that runs the test and collects results.
    pub master: MasterSpec,

    /// The worker nodes that generate the load.
    pub worker: WorkerSpec,

    /// ConfigMaps holding the locustfile(s) and library modules, and where to mount them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_files: Option<TestFilesSpec>,

    /// Pod placement: affinity, tolerations, node selector and RuntimeClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<SchedulingSpec>,

    /// Environment variables and secret files for the Locust containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvSpec>,

    /// Extra volumes for the pods. A volume is added to a pod only when at least one entry of
    /// `volumeMounts` targets that pod's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Vec<Volume>>")]
    pub volumes: Option<Vec<Volume>>,

    /// Mounts of `volumes` into the Locust container, each with a `target` role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<TargetedVolumeMount>>,

    /// Security contexts for the test pods and the Locust container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecuritySpec>,

    /// Metrics and tracing settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability: Option<ObservabilitySpec>,

    /// Pass/fail criteria on the run's final numbers, read from the Locust master when the run
    /// stops. With any threshold set the operator decides the verdict: a run that misses one
    /// ends `Failed` (`TestCompleted` reason `TestFailed`, the message lists each missed
    /// threshold with the measured value) whatever Locust's exit code; without thresholds the
    /// master's exit code decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
}

/// Limits a run's final numbers must stay within. Every field is optional.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    /// Largest share of failed requests, from 0 to 1 (`0.01` is 1%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1))]
    pub max_fail_ratio: Option<f64>,

    /// Largest 95th percentile response time over all requests, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_p95_ms: Option<f64>,

    /// Largest 99th percentile response time over all requests, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_p99_ms: Option<f64>,

    /// Smallest average requests per second over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_rps: Option<f64>,
}

/// When the kubelet pulls the container image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum ImagePullPolicy {
    /// Pull the image every time a pod starts.
    Always,
    /// Pull only when the image is not on the node yet.
    #[default]
    IfNotPresent,
    /// Never pull; the image must already be on the node.
    Never,
}

impl ImagePullPolicy {
    /// The value as written in a pod spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// The master node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct MasterSpec {
    /// Locust command line for the master, split on whitespace (no shell, no quoting), e.g.
    /// `--locustfile /lotest/src/test.py --host https://example.com --users 100 --spawn-rate 10 --run-time 5m`.
    /// The operator appends `--master --master-port=5557 --expect-workers=N`, `--autostart`,
    /// `--autoquit T`, `--enable-rebalancing --only-summary` and then `extraArgs`.
    pub command: String,

    /// Resource requests and limits of the master's Locust container. When it sets any
    /// request or limit it replaces the operator's defaults entirely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<ResourceRequirements>")]
    pub resources: Option<ResourceRequirements>,

    /// Labels added to the master pod. They cannot override `performance-test-name`,
    /// `performance-test-pod-name` or `managed-by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub labels: Option<BTreeMap<String, String>>,

    /// Annotations added to the master pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// Start the test as soon as the expected workers are connected (`--autostart`). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub autostart: Option<bool>,

    /// Quit the master after the test ends (`--autoquit`). Absent means enabled with a
    /// 60-second timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoquit: Option<AutoquitSpec>,

    /// Extra Locust arguments appended after everything the operator generates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<String>>,
}

fn default_true() -> bool {
    true
}

/// `enabled` is required in the schema, as in the Go operator's CRD; its schema default fills
/// it in whenever the parent object is present, so users may still omit it. (Rust fills the
/// same default when deserializing a manifest that was never defaulted by an API server.)
fn require_enabled(schema: &mut schemars::Schema) {
    super::schema::require(schema, "enabled");
}

/// Automatic termination of the master after the test run ends.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_enabled)]
pub struct AutoquitSpec {
    /// Pass `--autoquit` to the master. Default `true`.
    #[serde(default = "default_true")]
    #[schemars(extend("default" = true))]
    pub enabled: bool,

    /// Seconds the master waits after the run ends before quitting. Default `60`, minimum `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), extend("default" = 60))]
    pub timeout: Option<i32>,
}

/// The worker nodes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSpec {
    /// Locust command line for each worker, split on whitespace, e.g.
    /// `--locustfile /lotest/src/test.py`. The operator appends
    /// `--worker --master-port=5557 --master-host=<name>-master` and then `extraArgs`.
    pub command: String,

    /// Number of worker pods, 1 to 500.
    #[schemars(range(min = 1, max = 500))]
    pub replicas: i32,

    /// Resource requests and limits of each worker's Locust container. When it sets any
    /// request or limit it replaces the operator's defaults entirely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<ResourceRequirements>")]
    pub resources: Option<ResourceRequirements>,

    /// Labels added to the worker pods. They cannot override `performance-test-name`,
    /// `performance-test-pod-name` or `managed-by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub labels: Option<BTreeMap<String, String>>,

    /// Annotations added to the worker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// Extra Locust arguments appended after everything the operator generates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<String>>,

    /// Seconds the master may wait, from when it runs, for all `replicas` workers to connect.
    /// When fewer have connected by then, the test ends `Failed` naming the workers that never
    /// connected, and its Jobs are suspended so nothing is left waiting. Absent: the
    /// operator's default (`--worker-connect-timeout`, 5 minutes unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub connect_timeout_seconds: Option<i32>,
}

/// Where the test code comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct TestFilesSpec {
    /// Name of the ConfigMap holding the locustfile(s), mounted at `srcMountPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<String>,

    /// Name of the ConfigMap holding library modules, mounted at `libMountPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lib_config_map_ref: Option<String>,

    /// Where the locustfile ConfigMap is mounted. Default `/lotest/src`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "/lotest/src"))]
    pub src_mount_path: Option<String>,

    /// Where the library ConfigMap is mounted. Default `/opt/locust/lib`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "/opt/locust/lib"))]
    pub lib_mount_path: Option<String>,
}

/// Pod placement for master and worker pods.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingSpec {
    /// Affinity rules, copied to every test pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Affinity>")]
    pub affinity: Option<Affinity>,

    /// Tolerations, copied to every test pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Vec<Toleration>>")]
    pub tolerations: Option<Vec<Toleration>>,

    /// Node selector, copied to every test pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// RuntimeClass of the test pods (e.g. `gvisor`). Omit it to use the operator's default;
    /// set `""` to opt out of that default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), regex(pattern = RUNTIME_CLASS_NAME_PATTERN))]
    pub runtime_class_name: Option<String>,
}

/// Environment of the Locust containers (master and workers).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EnvSpec {
    /// ConfigMaps whose keys all become environment variables (`envFrom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_refs: Option<Vec<EnvFromRef>>,

    /// Secrets whose keys all become environment variables (`envFrom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_refs: Option<Vec<EnvFromRef>>,

    /// Individual environment variables; `valueFrom` is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Vec<EnvVar>>")]
    pub variables: Option<Vec<EnvVar>>,

    /// Secrets mounted as files, each as volume `secret-<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_mounts: Option<Vec<SecretMount>>,
}

/// A ConfigMap or Secret whose keys are injected as environment variables.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromRef {
    /// Name of the ConfigMap or Secret, in the test's namespace.
    pub name: String,

    /// Prefix prepended to every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// A Secret mounted as files in the Locust containers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretMount {
    /// Name of the Secret, in the test's namespace.
    pub name: String,

    /// Directory where the Secret's keys appear as files.
    pub mount_path: String,

    /// Mount read-only. Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub read_only: Option<bool>,
}

/// A volume mount (all `VolumeMount` fields) plus the role(s) it applies to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct TargetedVolumeMount {
    /// The mount itself: `name` (a volume in `spec.volumes`), `mountPath`, `readOnly`,
    /// `subPath`, ...
    #[serde(flatten)]
    #[schemars(schema_with = "embedded::<VolumeMount>")]
    pub mount: VolumeMount,

    /// Which pods get the mount: `master`, `worker` or `both` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<VolumeTarget>", extend("default" = "both"))]
    pub target: Option<VolumeTarget>,
}

/// Which role(s) a volume mount applies to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum VolumeTarget {
    /// The master pod only.
    Master,
    /// The worker pods only.
    Worker,
    /// Master and worker pods.
    #[default]
    Both,
}

/// Security contexts of the test pods.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecuritySpec {
    /// Pod security context. When set it replaces the operator's default
    /// (`seccompProfile: {type: RuntimeDefault}`) entirely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<PodSecurityContext>")]
    pub pod_security_context: Option<PodSecurityContext>,

    /// Security context of the Locust container (not of the metrics exporter sidecar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<SecurityContext>")]
    pub container_security_context: Option<SecurityContext>,
}

/// Metrics and tracing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObservabilitySpec {
    /// Locust's native OpenTelemetry export. When enabled, the Prometheus metrics exporter
    /// sidecar is not deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_telemetry: Option<OpenTelemetrySpec>,
}

/// OpenTelemetry export settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_enabled)]
#[x_kube(validation = kube::core::Rule::new("!self.enabled || (has(self.endpoint) && self.endpoint.size() > 0)")
    .message("endpoint is required when OpenTelemetry is enabled")
    .field_path(".endpoint")
    .reason(kube::core::Reason::FieldValueRequired))]
pub struct OpenTelemetrySpec {
    /// Pass `--otel` to Locust and export traces and metrics over OTLP. Default `false`.
    #[serde(default)]
    #[schemars(extend("default" = false))]
    pub enabled: bool,

    /// OTLP collector endpoint, e.g. `otel-collector:4317`. Required when `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,

    /// OTLP protocol: `grpc` (default) or `http/protobuf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<OtelProtocol>", extend("default" = "grpc"))]
    pub protocol: Option<OtelProtocol>,

    /// Connect to the collector without TLS. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub insecure: Option<bool>,

    /// Extra `OTEL_*` environment variables, injected sorted by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub extra_env_vars: Option<BTreeMap<String, String>>,
}

/// OTLP transport protocol.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum OtelProtocol {
    /// OTLP over gRPC.
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP over HTTP with protobuf bodies.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl OtelProtocol {
    /// The value as written in `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Observed state of a LocustTest, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LocustTestStatus {
    /// Lifecycle phase: `Pending` -> `Running` -> `Succeeded` | `Failed`. Terminal phases never change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Phase>")]
    pub phase: Option<Phase>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Number of workers the test expects (`spec.worker.replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_workers: Option<i32>,

    /// Number of worker pods that are ready (connected to the master).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_workers: Option<i32>,

    /// When the test entered `Running`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Time>")]
    pub start_time: Option<Time>,

    /// When the test entered `Succeeded` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Time>")]
    pub completion_time: Option<Time>,

    /// Latest observations: `Ready`, `WorkersConnected`, `PodsHealthy`, `TestCompleted`, `SpecDrifted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::conditions")]
    pub conditions: Option<Vec<Condition>>,

    /// The run as the Locust master reports it, read from its web API while the test runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<LiveStats>,

    /// The run's final numbers, kept when the run stops (or why they are missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Results>,

    /// The spec the test's Service and Jobs were built from (defaulted, as compact JSON),
    /// recorded by the operator with the first status write after creating them. Edits of
    /// `spec` after that are ignored (`SpecDrifted`), and children deleted by someone else are
    /// recreated from this spec. Only the status subresource writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_spec: Option<String>,
}

/// Numbers read from the Locust master's `GET /stats/requests`. When the master has not
/// answered yet, only `readError` says why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct LiveStats {
    /// Locust's runner state: `ready` (waiting for workers or a start), `spawning`, `running`,
    /// `stopping` or `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,

    /// Users running now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<i64>,

    /// Requests per second over Locust's recent window (about 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,

    /// Failed requests over all requests so far, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_ratio: Option<f64>,

    /// Requests so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<i64>,

    /// Failed requests so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<i64>,

    /// Median response time so far, in milliseconds (absent before the first request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_response_time_ms: Option<f64>,

    /// 95th percentile response time so far, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_response_time_ms: Option<f64>,

    /// 99th percentile response time so far, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_response_time_ms: Option<f64>,

    /// Workers the master counts as connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<i32>,

    /// Workers the master lost (no heartbeat), by Locust id (`<pod name>_<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_workers: Option<Vec<String>>,

    /// When these numbers were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Time>")]
    pub read_time: Option<Time>,

    /// Why the latest read failed, when it did: the numbers above, if any, are stale (as of
    /// `readTime`); without them, the master has not answered yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_error: Option<String>,
}

/// A run's final numbers and where its full report is kept.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    /// `true` when these are the numbers of the stopped run; `false` when the master exited
    /// before the operator read them (see `message`): the numbers are then absent.
    pub available: bool,

    /// Why the results are missing, or a summary of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// Requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<i64>,

    /// Failed requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<i64>,

    /// Failed requests over all requests, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_ratio: Option<f64>,

    /// Average requests per second over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,

    /// Median response time, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_response_time_ms: Option<f64>,

    /// 95th percentile response time, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_response_time_ms: Option<f64>,

    /// 99th percentile response time, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_response_time_ms: Option<f64>,

    /// The most requested endpoints (at most 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<EndpointResult>>,

    /// The most frequent errors (at most 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorResult>>,

    /// The ConfigMap holding the full report (Locust's HTML report and CSVs, gzip); write it
    /// out with `locust-operator report <test>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,

    /// When the numbers were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded::<Time>")]
    pub read_time: Option<Time>,
}

/// One endpoint's totals.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointResult {
    /// Request method (`GET`, …).
    pub method: String,
    /// Request name (the path, unless the locustfile names it).
    pub name: String,
    /// Requests.
    pub requests: i64,
    /// Failed requests.
    pub failures: i64,
    /// Median response time, in milliseconds.
    pub median_response_time_ms: f64,
    /// 95th percentile response time, in milliseconds.
    pub p95_response_time_ms: f64,
}

/// One error and how often it occurred.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResult {
    /// Request method.
    pub method: String,
    /// Request name.
    pub name: String,
    /// The error, as Locust reports it (cut to 256 characters).
    pub error: String,
    /// Occurrences.
    pub occurrences: i64,
}

/// Lifecycle phase of a LocustTest.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Hash, PartialOrd, Ord,
)]
pub enum Phase {
    /// Resources are being created and pods scheduled.
    Pending,
    /// The master pod is active and the test is executing.
    Running,
    /// The master Job completed successfully (exit code 0).
    Succeeded,
    /// The master Job failed, or pods were unhealthy after their grace period.
    Failed,
}

/// Where the record of a test's original spec lives: `status.originalSpec`.
pub const ORIGINAL_SPEC_FIELD: &str = "status.originalSpec";

impl LocustTest {
    /// The record of the spec the test's children were built from, as written, with where it
    /// was read: `status.originalSpec`, else the
    /// [`ANNOTATION_ORIGINAL_SPEC`](super::ANNOTATION_ORIGINAL_SPEC) of operators that recorded
    /// it there. `None` before the first child was recorded.
    pub fn recorded_spec(&self) -> Option<(&'static str, &str)> {
        let in_status = self
            .status
            .as_ref()
            .and_then(|s| s.original_spec.as_deref());
        match in_status {
            Some(text) => Some((ORIGINAL_SPEC_FIELD, text)),
            None => self
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(super::ANNOTATION_ORIGINAL_SPEC))
                .map(|text| (LEGACY_RECORD, text.as_str())),
        }
    }
}

/// [`LocustTest::recorded_spec`]'s name for the annotation.
const LEGACY_RECORD: &str = "annotation locust.io/original-spec";

impl Phase {
    /// The value as written in `.status.phase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
        }
    }

    /// `Succeeded` and `Failed` are terminal: a test never leaves them.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
