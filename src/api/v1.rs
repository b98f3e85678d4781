//! `locust.io/v1` `LocustTest`: served, deprecated, converted to and from v2 by the
//! conversion webhook (see [`crate::conversion`]). Kept field-for-field compatible with the
//! Go operator's v1 so old manifests apply unchanged.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::string_map;

/// Deprecation warning `kubectl` prints for every v1 request.
pub const DEPRECATION_WARNING: &str =
    "locust.io/v1 LocustTest is deprecated, migrate to locust.io/v2";

/// Default `spec.workerReplicas`.
pub const DEFAULT_WORKER_REPLICAS: i32 = 1;

/// Desired state of a v1 LocustTest.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[kube(
    doc = "A distributed Locust load test (deprecated v1 form: use locust.io/v2).",
    group = "locust.io",
    version = "v1",
    kind = "LocustTest",
    plural = "locusttests",
    singular = "locusttest",
    shortname = "lotest",
    category = "locust",
    namespaced,
    status = "LocustTestStatus",
    deprecated = "locust.io/v1 LocustTest is deprecated, migrate to locust.io/v2",
    validation = super::name_length_rule(),
    printcolumn = r#"{"name":"master_cmd","type":"string","jsonPath":".spec.masterCommandSeed","description":"Master pod command seed"}"#,
    printcolumn = r#"{"name":"worker_replica_count","type":"integer","jsonPath":".spec.workerReplicas","description":"Number of requested worker pods"}"#,
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".spec.image","description":"Locust image"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_worker_replicas)]
pub struct LocustTestSpec {
    /// Locust command line of the master pod (v2: `master.command`).
    pub master_command_seed: String,

    /// Locust command line of the worker pods (v2: `worker.command`).
    pub worker_command_seed: String,

    /// Number of worker pods, 1 to 500. Default `1` (v2: `worker.replicas`).
    #[serde(default = "default_worker_replicas")]
    #[schemars(range(min = 1, max = 500), extend("default" = 1))]
    pub worker_replicas: i32,

    /// Container image for the master and worker pods.
    pub image: String,

    /// When to pull the image: `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::embedded::<super::v2::ImagePullPolicy>")]
    pub image_pull_policy: Option<super::v2::ImagePullPolicy>,

    /// Names of Secrets used to pull the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<String>>,

    /// Name of the ConfigMap holding the locustfile(s) (v2: `testFiles.configMapRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,

    /// Name of the ConfigMap holding library modules (v2: `testFiles.libConfigMapRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lib_config_map: Option<String>,

    /// Labels for the master and worker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PodMetadataMaps>,

    /// Annotations for the master and worker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<PodMetadataMaps>,

    /// Node affinity, as a map of node label to required value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Tolerations for the test pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
}

fn default_worker_replicas() -> i32 {
    DEFAULT_WORKER_REPLICAS
}

/// `workerReplicas` is required in the schema (as in the Go operator's CRD) and defaulted.
fn require_worker_replicas(schema: &mut schemars::Schema) {
    super::schema::require(schema, "workerReplicas");
}

/// Per-role label or annotation maps.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodMetadataMaps {
    /// For the master pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub master: Option<BTreeMap<String, String>>,

    /// For the worker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub worker: Option<BTreeMap<String, String>>,
}

/// Affinity rules (v1 supports required node affinity only).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    /// Node affinity rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
}

/// Required node affinity as a map.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    /// Node label key to the value a node must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map")]
    pub required_during_scheduling_ignored_during_execution: Option<BTreeMap<String, String>>,
}

/// A toleration (v1 form).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    /// The taint key the toleration applies to.
    pub key: String,

    /// `Exists` or `Equal`.
    #[schemars(schema_with = "super::schema::embedded::<TolerationOperator>")]
    pub operator: TolerationOperator,

    /// The taint value the toleration matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,

    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[schemars(schema_with = "super::schema::embedded::<TaintEffect>")]
    pub effect: TaintEffect,
}

/// How a toleration matches a taint's value.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum TolerationOperator {
    /// Any value matches.
    Exists,
    /// The value must be equal.
    #[default]
    Equal,
}

impl TolerationOperator {
    /// The value as written in a pod spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exists => "Exists",
            Self::Equal => "Equal",
        }
    }
}

/// The taint effect a toleration matches.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum TaintEffect {
    /// Do not schedule new pods.
    #[default]
    NoSchedule,
    /// Avoid scheduling new pods.
    PreferNoSchedule,
    /// Evict running pods.
    NoExecute,
}

impl TaintEffect {
    /// The value as written in a pod spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }
}

/// v1 has no status fields; the operator reports status through v2.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
pub struct LocustTestStatus {}
