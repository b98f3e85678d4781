//! `locust.io/v1` <-> `locust.io/v2` conversion (`locust_operator::conversion`), against
//! `docs/compatibility.md` A4, B15 and the Part C "Conversion" scenarios:
//!
//! - exact v1 <-> v2 spec pairs (full, minimal, every v1 field on its own), both directions;
//! - v2 specs v1 cannot express: the lossy v1 view, the `locust.io/v2-spec` stash, and
//!   lossless v2 -> v1 -> v2 (metadata and spec; status becomes an empty object);
//! - node affinity (`In` with a value only, first value, merged terms, later key wins, sorted),
//!   tolerations, pull secrets, per-role labels/annotations;
//! - stash semantics: a field a v1 client edits wins, every v2-only field comes back; a
//!   corrupt stash is ignored and removed;
//! - generated round trips (a small deterministic LCG, no extra dependencies);
//! - `convert_object` on the ConversionReview objects recorded from a real kube-apiserver
//!   (`tests/fixtures/apiserver-reviews/convert-*.json`) and its errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use locust_operator::api::{v1, v2};
use locust_operator::conversion::{
    ConversionError, V2_SPEC_ANNOTATION, convert_object, v1_spec_to_v2, v1_to_v2, v2_spec_to_v1,
    v2_to_v1,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const V1: &str = "locust.io/v1";
const V2: &str = "locust.io/v2";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

// =================================================================================================
// Helpers
// =================================================================================================

/// `assert_eq!` for whole LocustTest objects (the derived root types have no `PartialEq`):
/// compares metadata, spec and status.
macro_rules! assert_same_object {
    ($left:expr, $right:expr $(, $($arg:tt)+)?) => {{
        let (left, right) = (&$left, &$right);
        assert_eq!(
            (&left.metadata, &left.spec, &left.status),
            (&right.metadata, &right.spec, &right.status)
            $(, $($arg)+)?
        );
    }};
}

fn parse<T: DeserializeOwned>(what: &str, value: Value) -> T {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{what}: does not parse: {e}"))
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes")
}

fn v1_spec(value: Value) -> v1::LocustTestSpec {
    parse("v1 spec", value)
}

fn v2_spec(value: Value) -> v2::LocustTestSpec {
    parse("v2 spec", value)
}

/// `base` with the JSON merge patch (RFC 7386) `patch` applied.
fn merged(base: &Value, patch: &Value) -> Value {
    let mut out = base.clone();
    json_patch::merge(&mut out, patch);
    out
}

fn metadata_json() -> Value {
    json!({
        "name": "perf.checkout",
        "namespace": "loadtests",
        "uid": "136a2735-d729-425f-956e-1a7bb3871efe",
        "resourceVersion": "4242",
        "generation": 3,
        "creationTimestamp": "2026-11-24T04:52:39Z",
        "labels": {"team": "payments"},
        "annotations": {
            LAST_APPLIED: "{\"apiVersion\":\"locust.io/v2\",\"kind\":\"LocustTest\"}\n",
            "example.com/note": "keep me"
        }
    })
}

fn object_json(api_version: &str, metadata: Value, spec: Value) -> Value {
    json!({"apiVersion": api_version, "kind": "LocustTest", "metadata": metadata, "spec": spec})
}

fn v1_object(metadata: Value, spec: Value) -> v1::LocustTest {
    parse("v1 object", object_json(V1, metadata, spec))
}

fn v2_object(metadata: Value, spec: Value) -> v2::LocustTest {
    parse("v2 object", object_json(V2, metadata, spec))
}

fn annotations_of(metadata: &ObjectMeta) -> BTreeMap<String, String> {
    metadata.annotations.clone().unwrap_or_default()
}

fn stash_of(test: &v1::LocustTest) -> Option<String> {
    annotations_of(&test.metadata)
        .get(V2_SPEC_ANNOTATION)
        .cloned()
}

/// The v1 view of a v2 spec as a whole object, asserting the stash is present and holds the
/// complete v2 spec.
fn v1_view_with_stash(spec: &v2::LocustTestSpec) -> v1::LocustTest {
    let test = v2_to_v1(v2_object(metadata_json(), to_json(spec)));
    let stash = stash_of(&test).expect("the v1 form carries the v2-spec stash");
    assert!(!stash.contains('\n'), "stash is compact JSON: {stash}");
    let stashed: v2::LocustTestSpec = serde_json::from_str(&stash).expect("stash is a v2 spec");
    assert_eq!(&stashed, spec, "the stash holds the complete v2 spec");
    test
}

// ---- canonical specs -----------------------------------------------------------------------

const MASTER_CMD: &str = "--locustfile /lotest/src/t.py --host https://example.com --users 10";
const WORKER_CMD: &str = "--locustfile /lotest/src/t.py";
const IMAGE: &str = "locustio/locust:2.43.3";

/// A v1 spec with the required fields only (explicit `workerReplicas`).
fn base_v1() -> Value {
    json!({
        "masterCommandSeed": MASTER_CMD,
        "workerCommandSeed": WORKER_CMD,
        "workerReplicas": 2,
        "image": IMAGE
    })
}

/// Exactly what `base_v1` becomes in v2: autostart and autoquit made explicit.
fn base_v2() -> Value {
    json!({
        "image": IMAGE,
        "master": {
            "command": MASTER_CMD,
            "autostart": true,
            "autoquit": {"enabled": true, "timeout": 60}
        },
        "worker": {"command": WORKER_CMD, "replicas": 2}
    })
}

/// The smallest valid v2 spec (no autostart/autoquit: v1 cannot say "absent").
fn minimal_v2() -> Value {
    json!({
        "image": IMAGE,
        "master": {"command": MASTER_CMD},
        "worker": {"command": WORKER_CMD, "replicas": 2}
    })
}

/// Every v1 field set.
fn full_v1() -> Value {
    json!({
        "masterCommandSeed": "--locustfile /lotest/src/demo.py --host https://example.com --users 100 --spawn-rate 10 --run-time 3m",
        "workerCommandSeed": "--locustfile /lotest/src/demo.py",
        "workerReplicas": 7,
        "image": "registry.example.com/locust:2.43.3",
        "imagePullPolicy": "Always",
        "imagePullSecrets": ["regcred", "mirror-cred"],
        "configMap": "demo-scripts",
        "libConfigMap": "demo-lib",
        "labels": {
            "master": {"tier": "master", "team": "perf"},
            "worker": {"tier": "worker"}
        },
        "annotations": {
            "master": {"owner": "perf@example.com"},
            "worker": {"sidecar.istio.io/inject": "false"}
        },
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "zone": "eu-west-1a",
            "pool": "load",
            "kubernetes.io/arch": "amd64"
        }}},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"},
            {"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"},
            {"key": "maintenance", "operator": "Exists", "effect": "NoExecute"}
        ]
    })
}

/// Exactly what `full_v1` becomes in v2.
fn full_v1_as_v2() -> Value {
    json!({
        "image": "registry.example.com/locust:2.43.3",
        "imagePullPolicy": "Always",
        "imagePullSecrets": [{"name": "regcred"}, {"name": "mirror-cred"}],
        "master": {
            "command": "--locustfile /lotest/src/demo.py --host https://example.com --users 100 --spawn-rate 10 --run-time 3m",
            "labels": {"tier": "master", "team": "perf"},
            "annotations": {"owner": "perf@example.com"},
            "autostart": true,
            "autoquit": {"enabled": true, "timeout": 60}
        },
        "worker": {
            "command": "--locustfile /lotest/src/demo.py",
            "replicas": 7,
            "labels": {"tier": "worker"},
            "annotations": {"sidecar.istio.io/inject": "false"}
        },
        "testFiles": {"configMapRef": "demo-scripts", "libConfigMapRef": "demo-lib"},
        "scheduling": {
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                    {"key": "pool", "operator": "In", "values": ["load"]},
                    {"key": "zone", "operator": "In", "values": ["eu-west-1a"]}
                ]}]
            }}},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"},
                {"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"},
                {"key": "maintenance", "operator": "Exists", "effect": "NoExecute"}
            ]
        }
    })
}

/// Every v2 field set, with affinity and tolerations v1 can only partly express.
fn rich_v2() -> Value {
    json!({
        "image": "registry.example.com/locust:2.43.3",
        "imagePullPolicy": "Never",
        "imagePullSecrets": [{"name": "regcred"}],
        "master": {
            "command": "--locustfile /mnt/tests/checkout.py --host https://shop.example.com --users 400",
            "resources": {
                "requests": {"cpu": "500m", "memory": "512Mi"},
                "limits": {"memory": "1Gi"}
            },
            "labels": {"team": "payments"},
            "annotations": {"owner": "perf@example.com"},
            "autostart": false,
            "autoquit": {"enabled": true, "timeout": 120},
            "extraArgs": ["--csv=/data/run", "--loglevel=INFO"]
        },
        "worker": {
            "command": "--locustfile /mnt/tests/checkout.py",
            "replicas": 25,
            "resources": {
                "requests": {"cpu": "1"},
                "limits": {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "1Gi"}
            },
            "labels": {"team": "payments", "role": "load"},
            "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
            "extraArgs": ["--processes=4"]
        },
        "testFiles": {
            "configMapRef": "checkout-scripts",
            "libConfigMapRef": "shared-lib",
            "srcMountPath": "/mnt/tests",
            "libMountPath": "/mnt/lib"
        },
        "scheduling": {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [
                            {"key": "pool", "operator": "In", "values": ["load", "load-spot"]},
                            {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["arm64"]},
                            {"key": "gpu", "operator": "DoesNotExist"}
                        ]},
                        {"matchExpressions": [
                            {"key": "zone", "operator": "In", "values": ["eu-west-1a"]}
                        ]}
                    ]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 10,
                        "preference": {"matchExpressions": [
                            {"key": "disk", "operator": "In", "values": ["ssd"]}
                        ]}
                    }]
                },
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app": "checkout"}}
                    }
                }]}
            },
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"},
                {"key": "spot", "operator": "Exists"},
                {"key": "any-effect", "operator": "Exists", "effect": ""}
            ],
            "nodeSelector": {"pool": "load", "kubernetes.io/os": "linux"},
            "runtimeClassName": "gvisor"
        },
        "env": {
            "configMapRefs": [{"name": "app-config", "prefix": "APP_"}, {"name": "more-config"}],
            "secretRefs": [{"name": "api-creds"}, {"name": "db-creds", "prefix": "DB_"}],
            "variables": [
                {"name": "TARGET_ENV", "value": "staging"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "token"}}}
            ],
            "secretMounts": [
                {"name": "tls-client", "mountPath": "/etc/client-tls", "readOnly": true},
                {"name": "ssh", "mountPath": "/etc/ssh-keys", "readOnly": false},
                {"name": "plain", "mountPath": "/etc/plain"}
            ]
        },
        "volumes": [
            {"name": "results", "emptyDir": {}},
            {"name": "fixtures", "configMap": {"name": "checkout-fixtures"}},
            {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
        ],
        "volumeMounts": [
            {"name": "results", "mountPath": "/data", "target": "master"},
            {"name": "fixtures", "mountPath": "/fixtures", "readOnly": true, "subPath": "set-a", "target": "worker"},
            {"name": "cache", "mountPath": "/cache", "target": "both"},
            {"name": "cache", "mountPath": "/cache2"}
        ],
        "security": {
            "podSecurityContext": {
                "runAsNonRoot": true,
                "runAsUser": 1000,
                "fsGroup": 2000,
                "seccompProfile": {"type": "RuntimeDefault"}
            },
            "containerSecurityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"]}
            }
        },
        "observability": {"openTelemetry": {
            "enabled": true,
            "endpoint": "otel-collector.observability:4317",
            "protocol": "http/protobuf",
            "insecure": true,
            "extraEnvVars": {"OTEL_SERVICE_NAME": "checkout", "OTEL_RESOURCE_ATTRIBUTES": "env=staging"}
        }}
    })
}

/// Exactly the v1 view of `rich_v2`.
fn rich_v2_as_v1() -> Value {
    json!({
        "masterCommandSeed": "--locustfile /mnt/tests/checkout.py --host https://shop.example.com --users 400",
        "workerCommandSeed": "--locustfile /mnt/tests/checkout.py",
        "workerReplicas": 25,
        "image": "registry.example.com/locust:2.43.3",
        "imagePullPolicy": "Never",
        "imagePullSecrets": ["regcred"],
        "configMap": "checkout-scripts",
        "libConfigMap": "shared-lib",
        "labels": {
            "master": {"team": "payments"},
            "worker": {"team": "payments", "role": "load"}
        },
        "annotations": {
            "master": {"owner": "perf@example.com"},
            "worker": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
        },
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "pool": "load",
            "zone": "eu-west-1a"
        }}},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"}
        ]
    })
}

fn rich_status() -> Value {
    json!({
        "phase": "Running",
        "observedGeneration": 3,
        "expectedWorkers": 25,
        "connectedWorkers": 24,
        "startTime": "2026-11-24T04:53:10Z",
        "conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "ResourcesCreated",
            "message": "All resources created",
            "lastTransitionTime": "2026-11-24T04:52:40Z",
            "observedGeneration": 3
        }]
    })
}

// =================================================================================================
// Exact v1 <-> v2 pairs: each v1 spec converts to exactly its v2 spec and back, and
// the v2 side is fully expressible in v1 (no stash).
// =================================================================================================

struct Pair {
    name: &'static str,
    v1: Value,
    v2: Value,
}

fn exact_pairs() -> Vec<Pair> {
    let pair = |name, v1_patch: Value, v2_patch: Value| Pair {
        name,
        v1: merged(&base_v1(), &v1_patch),
        v2: merged(&base_v2(), &v2_patch),
    };
    vec![
        Pair {
            name: "minimal (required fields only)",
            v1: base_v1(),
            v2: base_v2(),
        },
        Pair {
            name: "full: every v1 field",
            v1: full_v1(),
            v2: full_v1_as_v2(),
        },
        pair(
            "imagePullPolicy Always",
            json!({"imagePullPolicy": "Always"}),
            json!({"imagePullPolicy": "Always"}),
        ),
        pair(
            "imagePullPolicy IfNotPresent",
            json!({"imagePullPolicy": "IfNotPresent"}),
            json!({"imagePullPolicy": "IfNotPresent"}),
        ),
        pair(
            "imagePullPolicy Never",
            json!({"imagePullPolicy": "Never"}),
            json!({"imagePullPolicy": "Never"}),
        ),
        pair(
            "pull secrets [a, b]",
            json!({"imagePullSecrets": ["a", "b"]}),
            json!({"imagePullSecrets": [{"name": "a"}, {"name": "b"}]}),
        ),
        pair(
            "pull secrets empty list",
            json!({"imagePullSecrets": []}),
            json!({"imagePullSecrets": []}),
        ),
        pair(
            "configMap only",
            json!({"configMap": "scripts"}),
            json!({"testFiles": {"configMapRef": "scripts"}}),
        ),
        pair(
            "libConfigMap only",
            json!({"libConfigMap": "lib"}),
            json!({"testFiles": {"libConfigMapRef": "lib"}}),
        ),
        pair(
            "labels: master only",
            json!({"labels": {"master": {"a": "1"}}}),
            json!({"master": {"labels": {"a": "1"}}}),
        ),
        pair(
            "labels: worker only",
            json!({"labels": {"worker": {"b": "2"}}}),
            json!({"worker": {"labels": {"b": "2"}}}),
        ),
        pair(
            "labels: both roles",
            json!({"labels": {"master": {"a": "1"}, "worker": {"b": "2", "c": "3"}}}),
            json!({"master": {"labels": {"a": "1"}}, "worker": {"labels": {"b": "2", "c": "3"}}}),
        ),
        pair(
            "labels: empty map for one role",
            json!({"labels": {"master": {}}}),
            json!({"master": {"labels": {}}}),
        ),
        pair(
            "annotations: master only",
            json!({"annotations": {"master": {"x/y": "z"}}}),
            json!({"master": {"annotations": {"x/y": "z"}}}),
        ),
        pair(
            "annotations: worker only",
            json!({"annotations": {"worker": {"x/y": "z"}}}),
            json!({"worker": {"annotations": {"x/y": "z"}}}),
        ),
        pair(
            "annotations: both roles",
            json!({"annotations": {"master": {"m": "1"}, "worker": {"w": "2"}}}),
            json!({"master": {"annotations": {"m": "1"}}, "worker": {"annotations": {"w": "2"}}}),
        ),
        pair(
            "labels on master, annotations on worker",
            json!({"labels": {"master": {"l": "1"}}, "annotations": {"worker": {"a": "2"}}}),
            json!({"master": {"labels": {"l": "1"}}, "worker": {"annotations": {"a": "2"}}}),
        ),
        pair(
            "affinity: one key",
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"pool": "load"}}}}),
            json!({"scheduling": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["load"]}]}]
            }}}}}),
        ),
        pair(
            "affinity: several keys -> one term, sorted by key",
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "zone": "z1", "app": "a1", "pool": "p1", "Zeta": "capital", "a.b/c": "d"
            }}}}),
            json!({"scheduling": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "Zeta", "operator": "In", "values": ["capital"]},
                    {"key": "a.b/c", "operator": "In", "values": ["d"]},
                    {"key": "app", "operator": "In", "values": ["a1"]},
                    {"key": "pool", "operator": "In", "values": ["p1"]},
                    {"key": "zone", "operator": "In", "values": ["z1"]}
                ]}]
            }}}}}),
        ),
        pair(
            "tolerations: every operator and effect",
            json!({"tolerations": [
                {"key": "k1", "operator": "Equal", "value": "v1", "effect": "NoSchedule"},
                {"key": "k2", "operator": "Equal", "value": "v2", "effect": "PreferNoSchedule"},
                {"key": "k3", "operator": "Equal", "value": "v3", "effect": "NoExecute"},
                {"key": "k4", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "k5", "operator": "Exists", "effect": "PreferNoSchedule"},
                {"key": "k6", "operator": "Exists", "effect": "NoExecute"},
                {"key": "k7", "operator": "Equal", "effect": "NoSchedule"}
            ]}),
            json!({"scheduling": {"tolerations": [
                {"key": "k1", "operator": "Equal", "value": "v1", "effect": "NoSchedule"},
                {"key": "k2", "operator": "Equal", "value": "v2", "effect": "PreferNoSchedule"},
                {"key": "k3", "operator": "Equal", "value": "v3", "effect": "NoExecute"},
                {"key": "k4", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "k5", "operator": "Exists", "effect": "PreferNoSchedule"},
                {"key": "k6", "operator": "Exists", "effect": "NoExecute"},
                {"key": "k7", "operator": "Equal", "effect": "NoSchedule"}
            ]}}),
        ),
        pair(
            "tolerations: empty key (matches every taint) has no key in v2",
            json!({"tolerations": [{"key": "", "operator": "Exists", "effect": "NoExecute"}]}),
            json!({"scheduling": {"tolerations": [{"operator": "Exists", "effect": "NoExecute"}]}}),
        ),
        pair(
            "tolerations: empty list",
            json!({"tolerations": []}),
            json!({"scheduling": {"tolerations": []}}),
        ),
        pair(
            "affinity and tolerations share one scheduling block",
            json!({
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"pool": "load"}}},
                "tolerations": [{"key": "d", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]
            }),
            json!({"scheduling": {
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["load"]}]}]
                }}},
                "tolerations": [{"key": "d", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]
            }}),
        ),
    ]
}

#[test]
fn v1_spec_converts_to_exact_v2_spec() {
    for case in exact_pairs() {
        let converted = v1_spec_to_v2(&v1_spec(case.v1.clone()));
        assert_eq!(converted, v2_spec(case.v2.clone()), "{}", case.name);
        // And on the wire: nothing extra (no nulls, no empty matchFields, ...).
        assert_eq!(
            to_json(&converted),
            case.v2,
            "{}: serialized form",
            case.name
        );
    }
}

#[test]
fn v2_spec_converts_to_exact_v1_spec() {
    for case in exact_pairs() {
        let converted = v2_spec_to_v1(&v2_spec(case.v2.clone()));
        assert_eq!(converted, v1_spec(case.v1.clone()), "{}", case.name);
        assert_eq!(
            to_json(&converted),
            case.v1,
            "{}: serialized form",
            case.name
        );
    }
}

#[test]
fn full_v1_makes_autostart_and_autoquit_explicit() {
    let v2 = v1_spec_to_v2(&v1_spec(full_v1()));
    assert_eq!(v2.master.autostart, Some(true));
    assert_eq!(
        v2.master.autoquit,
        Some(v2::AutoquitSpec {
            enabled: true,
            timeout: Some(60)
        })
    );
    // No v2-only field is invented.
    assert_eq!(v2.master.resources, None);
    assert_eq!(v2.master.extra_args, None);
    assert_eq!(v2.worker.resources, None);
    assert_eq!(v2.env, None);
    assert_eq!(v2.volumes, None);
    assert_eq!(v2.volume_mounts, None);
    assert_eq!(v2.security, None);
    assert_eq!(v2.observability, None);
    let scheduling = v2.scheduling.expect("scheduling");
    assert_eq!(scheduling.node_selector, None);
    assert_eq!(scheduling.runtime_class_name, None);
    let files = v2.test_files.expect("testFiles");
    assert_eq!((files.src_mount_path, files.lib_mount_path), (None, None));
}

#[test]
fn full_v1_node_affinity_becomes_one_term_of_in_requirements_sorted_by_key() {
    let v2 = v1_spec_to_v2(&v1_spec(full_v1()));
    let affinity = v2.scheduling.and_then(|s| s.affinity).expect("affinity");
    let expected = Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(
                        [
                            ("kubernetes.io/arch", "amd64"),
                            ("pool", "load"),
                            ("zone", "eu-west-1a"),
                        ]
                        .into_iter()
                        .map(|(key, value)| NodeSelectorRequirement {
                            key: key.to_owned(),
                            operator: "In".to_owned(),
                            values: Some(vec![value.to_owned()]),
                        })
                        .collect(),
                    ),
                    match_fields: None,
                }],
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        }),
        pod_affinity: None,
        pod_anti_affinity: None,
    };
    assert_eq!(affinity, expected);
}

#[test]
fn v1_without_worker_replicas_defaults_to_one() {
    let mut spec = base_v1();
    spec.as_object_mut().unwrap().remove("workerReplicas");
    let v1 = v1_spec(spec);
    assert_eq!(v1.worker_replicas, v1::DEFAULT_WORKER_REPLICAS);
    assert_eq!(v1_spec_to_v2(&v1).worker.replicas, 1);
}

#[test]
fn expressible_v2_object_gets_no_stash_and_keeps_its_annotations() {
    for case in exact_pairs() {
        // With other annotations: they are untouched.
        let test = v2_object(metadata_json(), case.v2.clone());
        let converted = v2_to_v1(test.clone());
        assert_eq!(
            stash_of(&converted),
            None,
            "{}: no stash expected",
            case.name
        );
        assert_eq!(
            converted.metadata, test.metadata,
            "{}: metadata untouched",
            case.name
        );
        assert_eq!(converted.spec, v1_spec(case.v1.clone()), "{}", case.name);

        // Without annotations: none are added (not even an empty map).
        let bare = v2_object(json!({"name": "t", "namespace": "ns"}), case.v2.clone());
        let converted = v2_to_v1(bare);
        assert_eq!(converted.metadata.annotations, None, "{}", case.name);
        let wire = to_json(&converted);
        assert_eq!(
            wire["metadata"],
            json!({"name": "t", "namespace": "ns"}),
            "{}",
            case.name
        );
    }
}

#[test]
fn exact_pairs_round_trip_through_objects_both_ways() {
    for case in exact_pairs() {
        let v1_test = v1_object(metadata_json(), case.v1.clone());
        let v2_test = v1_to_v2(v1_test.clone());
        assert_eq!(
            v2_test.metadata, v1_test.metadata,
            "{}: v1->v2 metadata",
            case.name
        );
        assert_eq!(
            v2_test.spec,
            v2_spec(case.v2.clone()),
            "{}: v1->v2 spec",
            case.name
        );
        assert_same_object!(v2_to_v1(v2_test), v1_test, "{}: v1->v2->v1", case.name);

        let v2_test = v2_object(metadata_json(), case.v2.clone());
        assert_same_object!(
            v1_to_v2(v2_to_v1(v2_test.clone())),
            v2_test,
            "{}: v2->v1->v2",
            case.name
        );
    }
}

// =================================================================================================
// v2 specs v1 cannot (fully) express: exact lossy v1 view, stash, lossless way back.
// =================================================================================================

struct Lossy {
    name: &'static str,
    /// Merged into `base_v2()`.
    v2_patch: Value,
    /// Merged into `base_v1()`: the expected v1 view.
    v1_patch: Value,
}

fn lossy_cases() -> Vec<Lossy> {
    let case = |name, v2_patch, v1_patch| Lossy {
        name,
        v2_patch,
        v1_patch,
    };
    vec![
        case(
            "minimal v2: autostart and autoquit absent",
            json!({"master": {"autostart": null, "autoquit": null}}),
            json!({}),
        ),
        case(
            "autostart false",
            json!({"master": {"autostart": false}}),
            json!({}),
        ),
        case(
            "autoquit disabled",
            json!({"master": {"autoquit": {"enabled": false}}}),
            json!({}),
        ),
        case(
            "autoquit timeout 30",
            json!({"master": {"autoquit": {"timeout": 30}}}),
            json!({}),
        ),
        case(
            "autoquit timeout absent",
            json!({"master": {"autoquit": {"timeout": null}}}),
            json!({}),
        ),
        case(
            "master resources",
            json!({"master": {"resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "1Gi"}}}}),
            json!({}),
        ),
        case(
            "worker resources",
            json!({"worker": {"resources": {"limits": {"cpu": "2"}}}}),
            json!({}),
        ),
        case(
            "empty resources",
            json!({"worker": {"resources": {}}}),
            json!({}),
        ),
        case(
            "master extraArgs",
            json!({"master": {"extraArgs": ["--csv=/tmp/x"]}}),
            json!({}),
        ),
        case(
            "worker extraArgs",
            json!({"worker": {"extraArgs": []}}),
            json!({}),
        ),
        case(
            "testFiles with custom mount paths",
            json!({"testFiles": {"configMapRef": "s", "libConfigMapRef": "l", "srcMountPath": "/src", "libMountPath": "/lib"}}),
            json!({"configMap": "s", "libConfigMap": "l"}),
        ),
        case(
            "testFiles with default mount paths spelled out (as the API server stores them)",
            json!({"testFiles": {"configMapRef": "s", "srcMountPath": "/lotest/src", "libMountPath": "/opt/locust/lib"}}),
            json!({"configMap": "s"}),
        ),
        case(
            "testFiles with mount paths only",
            json!({"testFiles": {"srcMountPath": "/src"}}),
            json!({}),
        ),
        case("empty testFiles", json!({"testFiles": {}}), json!({})),
        case("empty scheduling", json!({"scheduling": {}}), json!({})),
        case(
            "nodeSelector",
            json!({"scheduling": {"nodeSelector": {"pool": "load"}}}),
            json!({}),
        ),
        case(
            "runtimeClassName gvisor",
            json!({"scheduling": {"runtimeClassName": "gvisor"}}),
            json!({}),
        ),
        case(
            "runtimeClassName \"\" (opt-out)",
            json!({"scheduling": {"runtimeClassName": ""}}),
            json!({}),
        ),
        case(
            "env: every kind",
            json!({"env": {
                "configMapRefs": [{"name": "c", "prefix": "C_"}],
                "secretRefs": [{"name": "s"}],
                "variables": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
                "secretMounts": [{"name": "m", "mountPath": "/etc/m", "readOnly": false}]
            }}),
            json!({}),
        ),
        case(
            "volumes and volumeMounts with every target",
            json!({
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": [
                    {"name": "v", "mountPath": "/a", "target": "master"},
                    {"name": "v", "mountPath": "/b", "target": "worker"},
                    {"name": "v", "mountPath": "/c", "target": "both"},
                    {"name": "v", "mountPath": "/d"}
                ]
            }),
            json!({}),
        ),
        case(
            "security contexts",
            json!({"security": {"podSecurityContext": {"runAsUser": 1}, "containerSecurityContext": {"privileged": false}}}),
            json!({}),
        ),
        case(
            "observability",
            json!({"observability": {"openTelemetry": {"enabled": true, "endpoint": "otel:4317"}}}),
            json!({}),
        ),
        case(
            "affinity: In with two values keeps the first in v1",
            json!({"scheduling": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a", "b"]}]}]
            }}}}}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"pool": "a"}}}}),
        ),
        case(
            "affinity: NotIn only -> no v1 affinity",
            json!({"scheduling": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "NotIn", "values": ["a"]}]}]
            }}}}}),
            json!({}),
        ),
        case(
            "affinity: pod anti-affinity only",
            json!({"scheduling": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "x"}}}
            ]}}}}),
            json!({}),
        ),
        case(
            "affinity: two terms of In requirements (v1 would make one term)",
            json!({"scheduling": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]},
                    {"matchExpressions": [{"key": "b", "operator": "In", "values": ["2"]}]}
                ]
            }}}}}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"a": "1", "b": "2"}}}}),
        ),
        case(
            "affinity: In requirements not sorted by key",
            json!({"scheduling": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "b", "operator": "In", "values": ["2"]},
                    {"key": "a", "operator": "In", "values": ["1"]}
                ]}]
            }}}}}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"a": "1", "b": "2"}}}}),
        ),
        case(
            "toleration without effect is left out of v1",
            json!({"scheduling": {"tolerations": [
                {"key": "a", "operator": "Exists"},
                {"key": "b", "operator": "Equal", "value": "x", "effect": "NoSchedule"}
            ]}}),
            json!({"tolerations": [{"key": "b", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]}),
        ),
        case(
            "toleration with empty effect is left out of v1",
            json!({"scheduling": {"tolerations": [{"key": "a", "operator": "Exists", "effect": ""}]}}),
            json!({"tolerations": []}),
        ),
        case(
            "toleration without operator is Equal in v1",
            json!({"scheduling": {"tolerations": [{"key": "a", "value": "x", "effect": "NoSchedule"}]}}),
            json!({"tolerations": [{"key": "a", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]}),
        ),
        case("everything at once (rich v2)", rich_v2(), rich_v2_as_v1()),
    ]
}

#[test]
fn lossy_v2_spec_converts_to_exact_v1_view() {
    for case in lossy_cases() {
        let v2 = v2_spec(merged(&base_v2(), &case.v2_patch));
        let expected = merged(&base_v1(), &case.v1_patch);
        let v1 = v2_spec_to_v1(&v2);
        assert_eq!(v1, v1_spec(expected.clone()), "{}", case.name);
        assert_eq!(to_json(&v1), expected, "{}: serialized form", case.name);
    }
}

#[test]
fn lossy_v2_object_is_stashed_and_restored_exactly() {
    for case in lossy_cases() {
        let spec = merged(&base_v2(), &case.v2_patch);
        let original = v2_object(metadata_json(), spec);
        let v1_test = v2_to_v1(original.clone());

        let stash = stash_of(&v1_test).unwrap_or_else(|| panic!("{}: stash expected", case.name));
        let stashed: v2::LocustTestSpec = serde_json::from_str(&stash).expect("stash parses");
        assert_eq!(
            stashed, original.spec,
            "{}: stash holds the whole v2 spec",
            case.name
        );

        // Every other annotation and all other metadata is untouched.
        let mut annotations = annotations_of(&v1_test.metadata);
        annotations.remove(V2_SPEC_ANNOTATION);
        assert_eq!(
            annotations,
            annotations_of(&original.metadata),
            "{}",
            case.name
        );
        let mut metadata = v1_test.metadata.clone();
        metadata.annotations = original.metadata.annotations.clone();
        assert_eq!(metadata, original.metadata, "{}", case.name);

        let back = v1_to_v2(v1_test);
        assert_same_object!(back, original, "{}: v2 -> v1 -> v2", case.name);
        assert_eq!(
            back.metadata
                .annotations
                .unwrap_or_default()
                .get(V2_SPEC_ANNOTATION),
            None
        );
    }
}

#[test]
fn stash_is_added_to_an_object_without_annotations_and_removed_again() {
    let original = v2_object(json!({"name": "t", "namespace": "ns"}), rich_v2());
    let v1_test = v2_to_v1(original.clone());
    let annotations = annotations_of(&v1_test.metadata);
    assert_eq!(annotations.keys().collect::<Vec<_>>(), [V2_SPEC_ANNOTATION]);
    let back = v1_to_v2(v1_test);
    assert_eq!(
        back.metadata.annotations, None,
        "no empty annotation map left behind"
    );
    assert_same_object!(back, original);
}

#[test]
fn full_v2_object_round_trips_with_status_mapped_to_empty_object() {
    let mut wire = object_json(V2, metadata_json(), rich_v2());
    wire["status"] = rich_status();
    let original: v2::LocustTest = parse("v2 object", wire);

    let v1_test = v2_to_v1(original.clone());
    assert_eq!(v1_test.spec, v1_spec(rich_v2_as_v1()));
    assert_eq!(v1_test.status, Some(v1::LocustTestStatus {}));
    let v1_wire = to_json(&v1_test);
    assert_eq!(v1_wire["apiVersion"], V1);
    assert_eq!(v1_wire["kind"], "LocustTest");
    assert_eq!(v1_wire["status"], json!({}));
    assert_eq!(v1_wire["spec"], rich_v2_as_v1());

    let back = v1_to_v2(v1_test);
    assert_eq!(back.metadata, original.metadata);
    assert_eq!(back.spec, original.spec);
    assert_eq!(back.status, Some(v2::LocustTestStatus::default()));
    assert_eq!(to_json(&back)["status"], json!({}));
}

#[test]
fn no_status_stays_no_status() {
    let v1_test = v2_to_v1(v2_object(metadata_json(), rich_v2()));
    assert_eq!(v1_test.status, None);
    assert!(to_json(&v1_test).get("status").is_none());
    let back = v1_to_v2(v1_object(metadata_json(), base_v1()));
    assert_eq!(back.status, None);
    assert!(to_json(&back).get("status").is_none());
}

#[test]
fn a_stale_stash_on_a_v2_object_is_replaced_or_dropped() {
    let mut metadata = metadata_json();
    metadata["annotations"][V2_SPEC_ANNOTATION] = json!("{\"stale\":true}");

    // Expressible spec: the stale stash is dropped, the other annotations stay.
    let v1_test = v2_to_v1(v2_object(metadata.clone(), base_v2()));
    assert_eq!(stash_of(&v1_test), None);
    assert_eq!(
        v1_test.metadata,
        v2_object(metadata_json(), base_v2()).metadata
    );

    // Lossy spec: the stash holds the current spec.
    let spec = v2_spec(rich_v2());
    let v1_test = v2_to_v1(v2_object(metadata, rich_v2()));
    let stash: v2::LocustTestSpec =
        serde_json::from_str(&stash_of(&v1_test).expect("stash")).expect("stash parses");
    assert_eq!(stash, spec);
}

// =================================================================================================
// Node affinity
// =================================================================================================

/// A node-selector requirement with `values`.
fn req(key: &str, operator: &str, values: &[&str]) -> Value {
    json!({"key": key, "operator": operator, "values": values})
}

/// A node-selector requirement without `values`.
fn req_bare(key: &str, operator: &str) -> Value {
    json!({"key": key, "operator": operator})
}

fn required_terms(terms: Vec<Vec<Value>>) -> Value {
    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": terms.into_iter().map(|t| json!({"matchExpressions": t})).collect::<Vec<_>>()
    }}})
}

#[test]
fn node_affinity_to_v1_keeps_only_in_requirements_with_a_value() {
    let cases: Vec<(&str, Value, Option<Value>)> = vec![
        (
            "In, one value",
            required_terms(vec![vec![req("a", "In", &["1"])]]),
            Some(json!({"a": "1"})),
        ),
        (
            "In, several values: the first survives",
            required_terms(vec![vec![req("a", "In", &["1", "2", "3"])]]),
            Some(json!({"a": "1"})),
        ),
        (
            "In, empty values: dropped",
            required_terms(vec![vec![req("a", "In", &[])]]),
            None,
        ),
        (
            "In, values absent: dropped",
            required_terms(vec![vec![req_bare("a", "In")]]),
            None,
        ),
        (
            "NotIn: dropped",
            required_terms(vec![vec![req("a", "NotIn", &["1"])]]),
            None,
        ),
        (
            "Exists: dropped",
            required_terms(vec![vec![req_bare("a", "Exists")]]),
            None,
        ),
        (
            "DoesNotExist: dropped",
            required_terms(vec![vec![req_bare("a", "DoesNotExist")]]),
            None,
        ),
        (
            "Gt: dropped",
            required_terms(vec![vec![req("a", "Gt", &["5"])]]),
            None,
        ),
        (
            "lower-case in: dropped",
            required_terms(vec![vec![req("a", "in", &["1"])]]),
            None,
        ),
        (
            "mixed operators in one term",
            required_terms(vec![vec![
                req("a", "In", &["1"]),
                req("b", "NotIn", &["2"]),
                req_bare("c", "Exists"),
                req("d", "In", &[]),
                req("e", "In", &["5", "6"]),
            ]]),
            Some(json!({"a": "1", "e": "5"})),
        ),
        (
            "several terms are merged",
            required_terms(vec![
                vec![req("zone", "In", &["z"])],
                vec![req("pool", "In", &["p"]), req_bare("x", "Exists")],
                vec![],
            ]),
            Some(json!({"pool": "p", "zone": "z"})),
        ),
        (
            "same key twice in a term: the later wins",
            required_terms(vec![vec![
                req("a", "In", &["first"]),
                req("a", "In", &["second"]),
            ]]),
            Some(json!({"a": "second"})),
        ),
        (
            "same key in two terms: the later term wins",
            required_terms(vec![
                vec![req("a", "In", &["first"])],
                vec![req("a", "In", &["second"])],
            ]),
            Some(json!({"a": "second"})),
        ),
        (
            "a later non-In requirement for the same key does not erase it",
            required_terms(vec![vec![
                req("a", "In", &["1"]),
                req("a", "NotIn", &["2"]),
            ]]),
            Some(json!({"a": "1"})),
        ),
        (
            "a later In without values does not erase it",
            required_terms(vec![vec![req("a", "In", &["1"]), req("a", "In", &[])]]),
            Some(json!({"a": "1"})),
        ),
        ("no terms", required_terms(vec![]), None),
        (
            "term without matchExpressions",
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}}),
            None,
        ),
        (
            "matchFields are not node labels: dropped",
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}
            ]}}}),
            None,
        ),
        (
            "preferred node affinity only",
            json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [req("a", "In", &["1"])]}}
            ]}}),
            None,
        ),
        ("empty nodeAffinity", json!({"nodeAffinity": {}}), None),
        ("empty affinity", json!({}), None),
        (
            "pod affinity only",
            json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone"}]}}),
            None,
        ),
    ];
    for (name, affinity, expected) in cases {
        let spec = v2_spec(merged(
            &base_v2(),
            &json!({"scheduling": {"affinity": affinity}}),
        ));
        let v1 = v2_spec_to_v1(&spec);
        let expected_affinity = expected.clone().map(|map| {
            parse::<v1::Affinity>(
                name,
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": map}}),
            )
        });
        assert_eq!(v1.affinity, expected_affinity, "{name}");

        // Whatever v1 shows, the v2 affinity comes back exactly.
        let original = v2_object(metadata_json(), to_json(&spec));
        assert_same_object!(
            v1_to_v2(v2_to_v1(original.clone())),
            original,
            "{name}: round trip"
        );
    }
}

#[test]
fn node_affinity_map_to_v2_is_one_sorted_term() {
    // Keys given out of order (and as a JSON object whose order is irrelevant anyway).
    let keys = [
        "zone",
        "app",
        "topology.kubernetes.io/region",
        "Pool",
        "pool",
        "b",
    ];
    let map: serde_json::Map<String, Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.to_string(), json!(format!("v{i}"))))
        .collect();
    let spec = v1_spec(merged(
        &base_v1(),
        &json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": map}}}),
    ));
    let v2 = v1_spec_to_v2(&spec);
    let required = v2
        .scheduling
        .and_then(|s| s.affinity)
        .and_then(|a| a.node_affinity)
        .and_then(|n| n.required_during_scheduling_ignored_during_execution)
        .expect("required node affinity");
    assert_eq!(required.node_selector_terms.len(), 1, "exactly one term");
    let requirements = required.node_selector_terms[0]
        .match_expressions
        .clone()
        .expect("expressions");
    let got: Vec<(String, String, Vec<String>)> = requirements
        .into_iter()
        .map(|r| (r.key, r.operator, r.values.unwrap_or_default()))
        .collect();
    let mut expected: Vec<(String, String, Vec<String>)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.to_string(), "In".to_owned(), vec![format!("v{i}")]))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn empty_v1_affinity_map_produces_no_v2_affinity() {
    for affinity in [
        json!({}),
        json!({"nodeAffinity": {}}),
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}),
    ] {
        let v2 = v1_spec_to_v2(&v1_spec(merged(
            &base_v1(),
            &json!({"affinity": affinity.clone()}),
        )));
        assert_eq!(v2.scheduling, None, "{affinity}");
    }
}

// =================================================================================================
// Tolerations
// =================================================================================================

#[test]
fn tolerations_to_v1() {
    let cases: Vec<(&str, Value, Option<Value>)> = vec![
        (
            "Equal with value",
            json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}),
            Some(json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"})),
        ),
        (
            "Exists",
            json!({"key": "k", "operator": "Exists", "effect": "PreferNoSchedule"}),
            Some(json!({"key": "k", "operator": "Exists", "effect": "PreferNoSchedule"})),
        ),
        (
            "NoExecute",
            json!({"key": "k", "operator": "Exists", "effect": "NoExecute"}),
            Some(json!({"key": "k", "operator": "Exists", "effect": "NoExecute"})),
        ),
        (
            "operator absent means Equal",
            json!({"key": "k", "value": "v", "effect": "NoSchedule"}),
            Some(json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"})),
        ),
        (
            "operator empty means Equal",
            json!({"key": "k", "operator": "", "value": "v", "effect": "NoSchedule"}),
            Some(json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"})),
        ),
        (
            "key absent becomes empty key",
            json!({"operator": "Exists", "effect": "NoSchedule"}),
            Some(json!({"key": "", "operator": "Exists", "effect": "NoSchedule"})),
        ),
        (
            "effect absent (all effects): dropped",
            json!({"key": "k", "operator": "Exists"}),
            None,
        ),
        (
            "effect empty (all effects): dropped",
            json!({"key": "k", "operator": "Exists", "effect": ""}),
            None,
        ),
        (
            "unknown effect: dropped",
            json!({"key": "k", "operator": "Exists", "effect": "NoWay"}),
            None,
        ),
        (
            "unknown operator: dropped",
            json!({"key": "k", "operator": "Gt", "effect": "NoSchedule"}),
            None,
        ),
    ];
    for (name, toleration, expected) in &cases {
        let spec = v2_spec(merged(
            &base_v2(),
            &json!({"scheduling": {"tolerations": [toleration]}}),
        ));
        let v1 = v2_spec_to_v1(&spec);
        let expected_list: Vec<Value> = expected.iter().cloned().collect();
        assert_eq!(to_json(&v1.tolerations), json!(expected_list), "{name}");

        let original = v2_object(metadata_json(), to_json(&spec));
        let v1_test = v2_to_v1(original.clone());
        assert_eq!(
            stash_of(&v1_test).is_some(),
            v1_spec_to_v2(&v1_test.spec) != original.spec,
            "{name}: stash exactly when needed"
        );
        assert_same_object!(
            v1_to_v2(v1_test),
            original,
            "{name}: restored from the stash"
        );
    }

    // All of them in one list: order kept, unexpressible ones left out.
    let all: Vec<Value> = cases.iter().map(|(_, t, _)| t.clone()).collect();
    let expressible: Vec<Value> = cases.iter().filter_map(|(_, _, e)| e.clone()).collect();
    let spec = v2_spec(merged(
        &base_v2(),
        &json!({"scheduling": {"tolerations": all}}),
    ));
    assert_eq!(
        to_json(&v2_spec_to_v1(&spec).tolerations),
        json!(expressible)
    );
    let original = v2_object(metadata_json(), to_json(&spec));
    assert_same_object!(v1_to_v2(v2_to_v1(original.clone())), original);
}

#[test]
fn toleration_with_toleration_seconds_is_left_out_of_v1() {
    let toleration = json!({
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300
    });
    let spec = v2_spec(merged(
        &base_v2(),
        &json!({"scheduling": {"tolerations": [toleration]}}),
    ));
    assert_eq!(v2_spec_to_v1(&spec).tolerations, Some(vec![]));
}

#[test]
fn toleration_with_toleration_seconds_is_restored_from_the_stash() {
    let spec = merged(
        &base_v2(),
        &json!({"scheduling": {"tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "d", "operator": "Equal", "value": "x", "effect": "NoSchedule"}
        ]}}),
    );
    let original = v2_object(metadata_json(), spec);
    let v1_test = v2_to_v1(original.clone());
    assert!(stash_of(&v1_test).is_some());
    assert_same_object!(v1_to_v2(v1_test), original);
}

#[test]
fn v1_tolerations_to_v2_copy_every_field() {
    let spec = v1_spec(merged(
        &base_v1(),
        &json!({"tolerations": [
            {"key": "a", "operator": "Equal", "value": "1", "effect": "NoExecute"},
            {"key": "", "operator": "Exists", "effect": "PreferNoSchedule"},
            {"key": "b", "operator": "Equal", "value": "", "effect": "NoSchedule"}
        ]}),
    ));
    let tolerations = v1_spec_to_v2(&spec)
        .scheduling
        .and_then(|s| s.tolerations)
        .expect("tolerations");
    let toleration =
        |key: Option<&str>, operator: &str, value: Option<&str>, effect: &str| Toleration {
            key: key.map(str::to_owned),
            operator: Some(operator.to_owned()),
            value: value.map(str::to_owned),
            effect: Some(effect.to_owned()),
            toleration_seconds: None,
        };
    assert_eq!(
        tolerations,
        vec![
            toleration(Some("a"), "Equal", Some("1"), "NoExecute"),
            toleration(None, "Exists", None, "PreferNoSchedule"),
            toleration(Some("b"), "Equal", Some(""), "NoSchedule"),
        ]
    );
}

// =================================================================================================
// Round trips
// =================================================================================================

#[test]
fn v1_round_trips_are_lossless() {
    let mut specs: Vec<(String, Value)> = exact_pairs()
        .into_iter()
        .map(|p| (p.name.to_owned(), p.v1))
        .collect();
    specs.push(("fixture-like v1 test".to_owned(), fixture_v1_spec()));
    specs.push((
        "tolerations with empty values".to_owned(),
        merged(&base_v1(), &json!({"tolerations": [{"key": "k", "operator": "Equal", "value": "", "effect": "NoSchedule"}]})),
    ));
    for (name, spec) in specs {
        let original = v1_object(metadata_json(), spec.clone());
        let v2_test = v1_to_v2(original.clone());
        let back = v2_to_v1(v2_test);
        assert_eq!(
            stash_of(&back),
            None,
            "{name}: a v1-born object needs no stash"
        );
        assert_same_object!(back, original, "{name}");

        // The same through convert_object on the wire.
        let wire = to_json(&original);
        let v2_wire = convert_object(wire.clone(), V2).expect("v1 -> v2");
        assert_eq!(
            convert_object(v2_wire, V1).expect("v2 -> v1"),
            wire,
            "{name}: on the wire"
        );
    }
}

#[test]
fn v2_round_trips_are_lossless() {
    let mut specs: Vec<(String, Value)> = exact_pairs()
        .into_iter()
        .map(|p| (p.name.to_owned(), p.v2))
        .collect();
    specs.extend(
        lossy_cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), merged(&base_v2(), &c.v2_patch))),
    );
    specs.push(("minimal v2".to_owned(), minimal_v2()));
    for (name, spec) in specs {
        let original = v2_object(metadata_json(), spec);
        assert_same_object!(v1_to_v2(v2_to_v1(original.clone())), original, "{name}");

        let wire = to_json(&original);
        let v1_wire = convert_object(wire.clone(), V1).expect("v2 -> v1");
        assert_eq!(
            convert_object(v1_wire, V2).expect("v1 -> v2"),
            wire,
            "{name}: on the wire"
        );
    }
}

#[test]
fn v1_round_trip_normalises_only_empty_containers() {
    // v2 has no place for an empty v1 wrapper object, so `affinity: {}` or `labels: {}` comes
    // back absent (documented in the README). No data is involved: the specs are equal once
    // the empty wrapper is removed.
    for patch in [
        json!({"affinity": {}}),
        json!({"affinity": {"nodeAffinity": {}}}),
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}}),
        json!({"labels": {}}),
        json!({"annotations": {}}),
    ] {
        let original = v1_spec(merged(&base_v1(), &patch));
        let back = v2_spec_to_v1(&v1_spec_to_v2(&original));
        assert_eq!(back, v1_spec(base_v1()), "{patch}");
    }
}

// ---- generated inputs ----------------------------------------------------------------------

/// Deterministic linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn word(&mut self) -> String {
        const WORDS: &[&str] = &[
            "a",
            "app",
            "pool",
            "zone",
            "team",
            "tier",
            "kubernetes.io/arch",
            "example.com/owner",
            "x-y_z",
            "Z",
            "load",
            "perf",
            "",
            "eu-west-1a",
            "v1.2.3",
            "with space",
        ];
        self.pick(WORDS).to_owned()
    }

    fn maybe<T>(&mut self, percent: u64, make: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.chance(percent) {
            Some(make(self))
        } else {
            None
        }
    }

    fn map(&mut self, max: usize) -> BTreeMap<String, String> {
        (0..self.below(max + 1))
            .map(|_| (self.word(), self.word()))
            .collect()
    }

    fn non_empty_map(&mut self, max: usize) -> BTreeMap<String, String> {
        let mut map = self.map(max);
        map.insert(self.word(), self.word());
        map
    }

    fn list<T>(&mut self, max: usize, mut make: impl FnMut(&mut Self) -> T) -> Vec<T> {
        (0..self.below(max + 1)).map(|_| make(self)).collect()
    }
}

fn gen_per_role(rng: &mut Lcg) -> v1::PodMetadataMaps {
    // At least one role is set (an empty `labels: {}` is a known, ignored, degenerate case).
    match rng.below(3) {
        0 => v1::PodMetadataMaps {
            master: Some(rng.map(3)),
            worker: None,
        },
        1 => v1::PodMetadataMaps {
            master: None,
            worker: Some(rng.map(3)),
        },
        _ => v1::PodMetadataMaps {
            master: Some(rng.map(3)),
            worker: Some(rng.map(3)),
        },
    }
}

fn gen_v1_toleration(rng: &mut Lcg) -> v1::Toleration {
    v1::Toleration {
        key: rng.word(),
        operator: rng.pick(&[
            v1::TolerationOperator::Equal,
            v1::TolerationOperator::Exists,
        ]),
        value: rng.maybe(60, Lcg::word),
        effect: rng.pick(&[
            v1::TaintEffect::NoSchedule,
            v1::TaintEffect::PreferNoSchedule,
            v1::TaintEffect::NoExecute,
        ]),
    }
}

fn gen_v1_spec(rng: &mut Lcg) -> v1::LocustTestSpec {
    let policies = [
        v2::ImagePullPolicy::Always,
        v2::ImagePullPolicy::IfNotPresent,
        v2::ImagePullPolicy::Never,
    ];
    v1::LocustTestSpec {
        master_command_seed: format!(
            "--locustfile /lotest/src/{}.py --users {}",
            rng.word(),
            rng.below(1000)
        ),
        worker_command_seed: rng
            .pick(&["--locustfile /lotest/src/t.py", "", "-f x.py  --tags a"])
            .to_owned(),
        worker_replicas: 1 + rng.below(500) as i32,
        image: format!("locustio/locust:2.{}.{}", rng.below(50), rng.below(10)),
        image_pull_policy: rng.maybe(50, |r| r.pick(&policies)),
        image_pull_secrets: rng.maybe(40, |r| r.list(3, Lcg::word)),
        config_map: rng.maybe(60, Lcg::word),
        lib_config_map: rng.maybe(30, Lcg::word),
        labels: rng.maybe(40, gen_per_role),
        annotations: rng.maybe(40, gen_per_role),
        affinity: rng.maybe(40, |r| v1::Affinity {
            node_affinity: Some(v1::NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(r.non_empty_map(4)),
            }),
        }),
        tolerations: rng.maybe(40, |r| r.list(4, gen_v1_toleration)),
    }
}

#[test]
fn generated_v1_specs_round_trip_losslessly() {
    let mut rng = Lcg(0x5eed_1234_abcd_0001);
    for case in 0..500 {
        let spec = gen_v1_spec(&mut rng);
        let v2 = v1_spec_to_v2(&spec);
        assert_eq!(v2_spec_to_v1(&v2), spec, "case {case}: spec v1 -> v2 -> v1");

        let original = v1_object(
            json!({"name": format!("gen-{case}"), "namespace": "ns"}),
            to_json(&spec),
        );
        let v2_test = v1_to_v2(original.clone());
        assert_eq!(v2_test.spec, v2, "case {case}");
        let back = v2_to_v1(v2_test);
        assert_eq!(
            stash_of(&back),
            None,
            "case {case}: no stash for a v1-born object"
        );
        assert_same_object!(back, original, "case {case}: object v1 -> v2 -> v1");

        let wire = to_json(&original);
        let there = convert_object(wire.clone(), V2).expect("v1 -> v2");
        assert_eq!(
            convert_object(there, V1).expect("v2 -> v1"),
            wire,
            "case {case}: wire"
        );
    }
}

fn gen_requirement(rng: &mut Lcg) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: rng.word(),
        operator: rng
            .pick(&["In", "In", "NotIn", "Exists", "DoesNotExist", "Gt"])
            .to_owned(),
        values: rng.maybe(80, |r| r.list(3, Lcg::word)),
    }
}

fn gen_affinity(rng: &mut Lcg) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: rng.maybe(90, |r| NodeSelector {
                node_selector_terms: r.list(3, |r| NodeSelectorTerm {
                    match_expressions: r.maybe(90, |r| r.list(4, gen_requirement)),
                    match_fields: None,
                }),
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        }),
        pod_affinity: None,
        pod_anti_affinity: None,
    }
}

fn gen_v2_toleration(rng: &mut Lcg) -> Toleration {
    Toleration {
        key: rng.maybe(80, Lcg::word),
        operator: rng.maybe(80, |r| r.pick(&["Equal", "Exists", "", "Bogus"]).to_owned()),
        value: rng.maybe(50, Lcg::word),
        effect: rng.maybe(85, |r| {
            r.pick(&["NoSchedule", "PreferNoSchedule", "NoExecute", ""])
                .to_owned()
        }),
        toleration_seconds: rng.maybe(10, |r| r.below(600) as i64),
    }
}

fn gen_v2_spec(rng: &mut Lcg) -> v2::LocustTestSpec {
    // Start from a v1-born spec, then (mostly) perturb it with v2-only and v1-inexpressible
    // values.
    let mut spec = v1_spec_to_v2(&gen_v1_spec(rng));
    if rng.chance(35) {
        return spec;
    }
    if rng.chance(30) {
        spec.master.autostart = rng.pick(&[None, Some(false), Some(true)]);
    }
    if rng.chance(30) {
        spec.master.autoquit = rng.maybe(70, |r| v2::AutoquitSpec {
            enabled: r.chance(50),
            timeout: r.maybe(70, |r| r.below(300) as i32),
        });
    }
    if rng.chance(20) {
        spec.master.extra_args = Some(rng.list(3, Lcg::word));
    }
    if rng.chance(20) {
        spec.worker.extra_args = Some(rng.list(3, Lcg::word));
    }
    if rng.chance(20) {
        let files = spec.test_files.get_or_insert_with(Default::default);
        files.src_mount_path = rng.maybe(70, |r| format!("/src/{}", r.word()));
        files.lib_mount_path = rng.maybe(70, |r| format!("/lib/{}", r.word()));
    }
    if rng.chance(35) {
        let scheduling = spec.scheduling.get_or_insert_with(Default::default);
        if rng.chance(60) {
            scheduling.affinity = Some(gen_affinity(rng));
        }
        if rng.chance(60) {
            scheduling.tolerations = Some(rng.list(4, gen_v2_toleration));
        }
        scheduling.node_selector = rng.maybe(30, |r| r.map(2));
        scheduling.runtime_class_name =
            rng.maybe(30, |r| r.pick(&["", "gvisor", "kata"]).to_owned());
    }
    if rng.chance(20) {
        spec.env = Some(v2::EnvSpec {
            config_map_refs: rng.maybe(50, |r| {
                r.list(2, |r| v2::EnvFromRef {
                    name: r.word(),
                    prefix: r.maybe(50, Lcg::word),
                })
            }),
            secret_refs: rng.maybe(50, |r| {
                r.list(2, |r| v2::EnvFromRef {
                    name: r.word(),
                    prefix: None,
                })
            }),
            variables: None,
            secret_mounts: rng.maybe(50, |r| {
                r.list(2, |r| v2::SecretMount {
                    name: r.word(),
                    mount_path: format!("/etc/{}", r.word()),
                    read_only: r.pick(&[None, Some(true), Some(false)]),
                })
            }),
        });
    }
    if rng.chance(15) {
        spec.observability = Some(v2::ObservabilitySpec {
            open_telemetry: Some(v2::OpenTelemetrySpec {
                enabled: rng.chance(50),
                endpoint: rng.maybe(50, |_| "otel:4317".to_owned()),
                protocol: rng.maybe(50, |r| {
                    r.pick(&[v2::OtelProtocol::Grpc, v2::OtelProtocol::HttpProtobuf])
                }),
                insecure: rng.maybe(50, |r| r.chance(50)),
                extra_env_vars: rng.maybe(50, |r| r.map(2)),
            }),
        });
    }
    spec
}

#[test]
fn generated_v2_specs_round_trip_losslessly() {
    let mut rng = Lcg(0x0dd_ba11_cafe_f00d);
    let mut stashed = 0;
    for case in 0..500 {
        let spec = gen_v2_spec(&mut rng);
        let original = v2_object(
            json!({"name": format!("gen-{case}"), "namespace": "ns"}),
            to_json(&spec),
        );
        let v1_test = v2_to_v1(original.clone());
        assert_eq!(v1_test.spec, v2_spec_to_v1(&spec), "case {case}");
        let needs_stash = v1_spec_to_v2(&v1_test.spec) != spec;
        assert_eq!(
            stash_of(&v1_test).is_some(),
            needs_stash,
            "case {case}: stash exactly when needed"
        );
        stashed += usize::from(needs_stash);
        // The v1 view is a valid v1 object on the wire.
        let v1_wire = to_json(&v1_test);
        assert_same_object!(
            parse::<v1::LocustTest>("v1 view", v1_wire.clone()),
            v1_test,
            "case {case}"
        );

        assert_same_object!(v1_to_v2(v1_test), original, "case {case}: v2 -> v1 -> v2");
        let wire = to_json(&original);
        assert_eq!(
            convert_object(v1_wire, V2).expect("v1 -> v2"),
            wire,
            "case {case}: wire"
        );
    }
    // The generator exercises both paths.
    assert!((50..450).contains(&stashed), "stashed {stashed} of 500");
}

// =================================================================================================
// Stash semantics: a field edited through v1 wins, every v2-only field comes back.
// =================================================================================================

struct StashEdit {
    name: &'static str,
    /// The edit a v1 client makes to the v1 view of `rich_v2()`.
    edit_v1: fn(&mut v1::LocustTestSpec),
    /// The same edit, as it must show in the v2 result.
    expect_v2: fn(&mut v2::LocustTestSpec),
}

fn stash_edits() -> Vec<StashEdit> {
    vec![
        StashEdit {
            name: "workerReplicas",
            edit_v1: |s| s.worker_replicas = 3,
            expect_v2: |s| s.worker.replicas = 3,
        },
        StashEdit {
            name: "image",
            edit_v1: |s| s.image = "locustio/locust:2.50.0".to_owned(),
            expect_v2: |s| s.image = "locustio/locust:2.50.0".to_owned(),
        },
        StashEdit {
            name: "imagePullPolicy",
            edit_v1: |s| s.image_pull_policy = Some(v2::ImagePullPolicy::Always),
            expect_v2: |s| s.image_pull_policy = Some(v2::ImagePullPolicy::Always),
        },
        StashEdit {
            name: "imagePullPolicy removed",
            edit_v1: |s| s.image_pull_policy = None,
            expect_v2: |s| s.image_pull_policy = None,
        },
        StashEdit {
            name: "imagePullSecrets",
            edit_v1: |s| s.image_pull_secrets = Some(vec!["a".to_owned(), "b".to_owned()]),
            expect_v2: |s| {
                s.image_pull_secrets = Some(vec![
                    LocalObjectReference {
                        name: "a".to_owned(),
                    },
                    LocalObjectReference {
                        name: "b".to_owned(),
                    },
                ]);
            },
        },
        StashEdit {
            name: "masterCommandSeed",
            edit_v1: |s| s.master_command_seed = "--locustfile /mnt/tests/other.py".to_owned(),
            expect_v2: |s| s.master.command = "--locustfile /mnt/tests/other.py".to_owned(),
        },
        StashEdit {
            name: "workerCommandSeed",
            edit_v1: |s| s.worker_command_seed = "--locustfile /mnt/tests/other.py".to_owned(),
            expect_v2: |s| s.worker.command = "--locustfile /mnt/tests/other.py".to_owned(),
        },
        StashEdit {
            name: "configMap (mount paths stay)",
            edit_v1: |s| s.config_map = Some("other-scripts".to_owned()),
            expect_v2: |s| {
                s.test_files.as_mut().unwrap().config_map_ref = Some("other-scripts".to_owned())
            },
        },
        StashEdit {
            name: "configMap and libConfigMap removed (mount paths stay)",
            edit_v1: |s| {
                s.config_map = None;
                s.lib_config_map = None;
            },
            expect_v2: |s| {
                let files = s.test_files.as_mut().unwrap();
                files.config_map_ref = None;
                files.lib_config_map_ref = None;
            },
        },
        StashEdit {
            name: "worker labels",
            edit_v1: |s| {
                s.labels.as_mut().unwrap().worker =
                    Some(BTreeMap::from([("new".to_owned(), "label".to_owned())]));
            },
            expect_v2: |s| {
                s.worker.labels = Some(BTreeMap::from([("new".to_owned(), "label".to_owned())]))
            },
        },
        StashEdit {
            name: "master annotations removed",
            edit_v1: |s| s.annotations.as_mut().unwrap().master = None,
            expect_v2: |s| s.master.annotations = None,
        },
        StashEdit {
            name: "tolerations replaced (the v1 list replaces what v1 showed; hidden ones are kept)",
            edit_v1: |s| {
                s.tolerations = Some(vec![v1::Toleration {
                    key: "new".to_owned(),
                    operator: v1::TolerationOperator::Exists,
                    value: None,
                    effect: v1::TaintEffect::NoExecute,
                }]);
            },
            expect_v2: |s| {
                let scheduling = s.scheduling.as_mut().unwrap();
                let hidden = hidden_tolerations(scheduling.tolerations.as_deref());
                let new = Toleration {
                    key: Some("new".to_owned()),
                    operator: Some("Exists".to_owned()),
                    value: None,
                    effect: Some("NoExecute".to_owned()),
                    toleration_seconds: None,
                };
                scheduling.tolerations = Some(std::iter::once(new).chain(hidden).collect());
            },
        },
        StashEdit {
            name: "tolerations removed (the ones v1 never showed are kept)",
            edit_v1: |s| s.tolerations = None,
            expect_v2: |s| {
                let scheduling = s.scheduling.as_mut().unwrap();
                let hidden = hidden_tolerations(scheduling.tolerations.as_deref());
                assert!(!hidden.is_empty(), "rich_v2 has tolerations v1 cannot show");
                scheduling.tolerations = Some(hidden);
            },
        },
        StashEdit {
            name: "several fields at once",
            edit_v1: |s| {
                s.worker_replicas = 50;
                s.image = "img:2".to_owned();
                s.labels = None;
            },
            expect_v2: |s| {
                s.worker.replicas = 50;
                s.image = "img:2".to_owned();
                s.master.labels = None;
                s.worker.labels = None;
            },
        },
    ]
}

/// The tolerations of a v2 list that the v1 view leaves out (no effect, tolerationSeconds,
/// an unknown operator): a v1 edit of tolerations keeps them.
fn hidden_tolerations(list: Option<&[Toleration]>) -> Vec<Toleration> {
    list.into_iter()
        .flatten()
        .filter(|t| {
            t.toleration_seconds.is_some()
                || t.effect.as_deref().is_none_or(str::is_empty)
                || !matches!(t.operator.as_deref(), None | Some("" | "Equal" | "Exists"))
        })
        .cloned()
        .collect()
}

#[test]
fn a_field_edited_through_v1_wins_and_v2_only_fields_come_back() {
    for edit in stash_edits() {
        let original = v2_object(metadata_json(), rich_v2());
        let mut v1_test = v1_view_with_stash(&original.spec);
        (edit.edit_v1)(&mut v1_test.spec);

        let back = v1_to_v2(v1_test);
        let mut expected = original.clone();
        (edit.expect_v2)(&mut expected.spec);
        assert_eq!(back.spec, expected.spec, "{}", edit.name);
        assert_eq!(
            back.metadata, original.metadata,
            "{}: stash consumed, rest untouched",
            edit.name
        );

        // Spot checks of the v2-only fields the brief names.
        assert_eq!(back.spec.env, original.spec.env, "{}", edit.name);
        assert_eq!(back.spec.volumes, original.spec.volumes, "{}", edit.name);
        assert_eq!(
            back.spec.volume_mounts, original.spec.volume_mounts,
            "{}",
            edit.name
        );
        assert_eq!(
            back.spec.master.resources, original.spec.master.resources,
            "{}",
            edit.name
        );
        assert_eq!(
            back.spec.worker.resources, original.spec.worker.resources,
            "{}",
            edit.name
        );
        assert_eq!(back.spec.security, original.spec.security, "{}", edit.name);
        assert_eq!(
            back.spec.observability, original.spec.observability,
            "{}",
            edit.name
        );
    }
}

#[test]
fn a_v1_edit_of_tolerations_keeps_other_scheduling_fields() {
    let original = v2_object(metadata_json(), rich_v2());
    let mut v1_test = v1_view_with_stash(&original.spec);
    v1_test.spec.tolerations = None;
    let scheduling = v1_to_v2(v1_test).spec.scheduling.expect("scheduling kept");
    let before = original.spec.scheduling.expect("scheduling");
    let hidden = hidden_tolerations(before.tolerations.as_deref());
    assert!(!hidden.is_empty());
    assert_eq!(scheduling.tolerations, Some(hidden));
    assert_eq!(scheduling.affinity, before.affinity);
    assert_eq!(scheduling.node_selector, before.node_selector);
    assert_eq!(scheduling.runtime_class_name, before.runtime_class_name);
}

#[test]
fn a_v1_edit_that_empties_scheduling_drops_it() {
    // Only tolerations in scheduling; v1 removes them: no empty `scheduling: {}` is left.
    let spec = merged(
        &base_v2(),
        &json!({"master": {"extraArgs": ["--x"]}, "scheduling": {"tolerations": [
            {"key": "a", "operator": "Exists", "effect": "NoSchedule"}
        ]}}),
    );
    let original = v2_object(metadata_json(), spec);
    let mut v1_test = v1_view_with_stash(&original.spec);
    v1_test.spec.tolerations = None;
    let back = v1_to_v2(v1_test);
    assert_eq!(back.spec.scheduling, None);
    assert_eq!(back.spec.master.extra_args, Some(vec!["--x".to_owned()]));

    // Same for testFiles when both ConfigMaps are removed and no mount path is set.
    let spec = merged(
        &base_v2(),
        &json!({"master": {"extraArgs": ["--x"]}, "testFiles": {"configMapRef": "s"}}),
    );
    let original = v2_object(metadata_json(), spec);
    let mut v1_test = v1_view_with_stash(&original.spec);
    v1_test.spec.config_map = None;
    assert_eq!(v1_to_v2(v1_test).spec.test_files, None);
}

#[test]
fn a_v1_edit_of_node_affinity_keeps_v2_only_affinity() {
    let original = v2_object(metadata_json(), rich_v2());
    let mut v1_test = v1_view_with_stash(&original.spec);
    v1_test.spec.affinity = Some(parse(
        "v1 affinity",
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"pool": "other"}}}),
    ));
    let back = v1_to_v2(v1_test);
    let affinity = back
        .spec
        .scheduling
        .and_then(|s| s.affinity)
        .expect("affinity");
    let before = original
        .spec
        .scheduling
        .and_then(|s| s.affinity)
        .expect("affinity");

    // The v1 edit wins for what v1 expresses ...
    let required = affinity.node_affinity.as_ref().and_then(|n| {
        n.required_during_scheduling_ignored_during_execution
            .clone()
    });
    assert_eq!(
        to_json(&required),
        json!({"nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["other"]}]}]})
    );
    // ... and what v1 cannot express comes back from the stash.
    assert_eq!(affinity.pod_anti_affinity, before.pod_anti_affinity);
    assert_eq!(affinity.pod_affinity, before.pod_affinity);
    assert_eq!(
        affinity
            .node_affinity
            .and_then(|n| n.preferred_during_scheduling_ignored_during_execution),
        before
            .node_affinity
            .and_then(|n| n.preferred_during_scheduling_ignored_during_execution),
    );
}

#[test]
fn an_unchanged_v1_view_restores_the_stash_even_after_a_json_trip() {
    let original = v2_object(metadata_json(), rich_v2());
    let v1_wire = convert_object(to_json(&original), V1).expect("v2 -> v1");
    // Re-parse as a v1 client would send it back.
    let v1_test: v1::LocustTest = parse("v1 view", v1_wire);
    assert_same_object!(v1_to_v2(v1_test), original);
}

#[test]
fn a_corrupt_stash_is_ignored_and_removed() {
    let corrupt = [
        "not json{",
        "",
        "null",
        "42",
        "{\"image\": 5}",
        "{\"stale\": true}",
        "[]",
    ];
    for stash in corrupt {
        for keep_other in [true, false] {
            let mut metadata =
                json!({"name": "t", "namespace": "ns", "annotations": {V2_SPEC_ANNOTATION: stash}});
            if keep_other {
                metadata["annotations"]["example.com/note"] = json!("keep me");
            }
            let v1_test = v1_object(metadata, full_v1());
            let back = v1_to_v2(v1_test.clone());
            assert_eq!(
                back.spec,
                v1_spec_to_v2(&v1_test.spec),
                "{stash:?}: plain conversion"
            );
            let expected_annotations = keep_other
                .then(|| BTreeMap::from([("example.com/note".to_owned(), "keep me".to_owned())]));
            assert_eq!(
                back.metadata.annotations, expected_annotations,
                "{stash:?}: stash removed"
            );
        }
    }
}

#[test]
fn a_v2_object_asked_for_as_v2_is_untouched_even_with_a_stash_annotation() {
    // convert_object of a v2 object to v2 returns it unchanged, stash annotation and all (the
    // API server never stores one; nothing to repair there).
    let mut metadata = metadata_json();
    metadata["annotations"][V2_SPEC_ANNOTATION] = json!("not json{");
    let wire = object_json(V2, metadata, base_v2());
    assert_eq!(convert_object(wire.clone(), V2), Ok(wire));
}

// =================================================================================================
// convert_object: recorded ConversionReviews, same-version objects, errors.
// =================================================================================================

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apiserver-reviews")
}

/// `(file name, desiredAPIVersion, objects)` of every recorded ConversionReview.
fn recorded_reviews() -> Vec<(String, String, Vec<Value>)> {
    let mut reviews: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("convert-") && name.ends_with(".json")
        })
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable fixture");
            let review: Value = serde_json::from_str(&text).expect("fixture is JSON");
            let request = &review["body"]["request"];
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                request["desiredAPIVersion"]
                    .as_str()
                    .expect("desiredAPIVersion")
                    .to_owned(),
                request["objects"].as_array().expect("objects").clone(),
            )
        })
        .collect();
    reviews.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        reviews.len() >= 3,
        "expected the recorded convert-*.json fixtures, got {}",
        reviews.len()
    );
    reviews
}

fn fixture_object(file: &str) -> Value {
    let (_, _, objects) = recorded_reviews()
        .into_iter()
        .find(|(name, _, _)| name == file)
        .expect(file);
    objects[0].clone()
}

fn fixture_v1_spec() -> Value {
    fixture_object("convert-v1-to-v2.on-create.json")["spec"].clone()
}

#[test]
fn recorded_objects_convert_to_the_desired_version_with_metadata_kept() {
    for (file, desired, objects) in recorded_reviews() {
        assert!(!objects.is_empty(), "{file}");
        for object in objects {
            let source = object["apiVersion"]
                .as_str()
                .expect("apiVersion")
                .to_owned();
            assert_ne!(
                source, desired,
                "{file}: the API server only asks for real conversions"
            );
            let converted =
                convert_object(object.clone(), &desired).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(converted["apiVersion"], json!(desired), "{file}");
            assert_eq!(converted["kind"], "LocustTest", "{file}");

            let (before, after) = (&object["metadata"], &converted["metadata"]);
            for field in [
                "name",
                "namespace",
                "uid",
                "generation",
                "creationTimestamp",
                "managedFields",
            ] {
                assert_eq!(after[field], before[field], "{file}: metadata.{field}");
            }
            assert_eq!(
                after["annotations"][LAST_APPLIED], before["annotations"][LAST_APPLIED],
                "{file}: last-applied-configuration"
            );
            // All metadata is identical apart from the stash on a v1 result.
            let mut after = after.clone();
            let stash = after["annotations"]
                .as_object_mut()
                .and_then(|a| a.remove(V2_SPEC_ANNOTATION));
            assert_eq!(&after, before, "{file}: metadata");
            // These v2 objects use env, volumes, resources, ...: v1 needs the stash.
            assert_eq!(stash.is_some(), desired == V1, "{file}: stash");

            // And back: exactly the recorded object.
            let back =
                convert_object(converted, &source).unwrap_or_else(|e| panic!("{file}: back: {e}"));
            assert_eq!(back, object, "{file}: round trip");
        }
    }
}

#[test]
fn recorded_v1_object_converts_to_the_expected_v2_spec() {
    let converted =
        convert_object(fixture_object("convert-v1-to-v2.on-create.json"), V2).expect("converts");
    assert_eq!(
        converted["spec"],
        json!({
            "image": "locustio/locust:2.43.3",
            "master": {
                "command": "--locustfile /lotest/src/legacy.py --host https://legacy.example.com --users 50 --spawn-rate 5 --run-time 2m",
                "labels": {"tier": "master"},
                "autostart": true,
                "autoquit": {"enabled": true, "timeout": 60}
            },
            "worker": {
                "command": "--locustfile /lotest/src/legacy.py",
                "replicas": 4,
                "labels": {"tier": "worker"}
            },
            "testFiles": {"configMapRef": "legacy-scripts"},
            "scheduling": {
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "pool", "operator": "In", "values": ["load"]},
                        {"key": "zone", "operator": "In", "values": ["eu-west-1a"]}
                    ]}]
                }}},
                "tolerations": [
                    {"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"}
                ]
            }
        })
    );
}

#[test]
fn recorded_v2_objects_convert_to_the_expected_v1_spec() {
    for (file, replicas) in [
        ("convert-v2-to-v1.after-create.json", 10),
        ("convert-v2-to-v1.after-status-patch.json", 20),
    ] {
        let object = fixture_object(file);
        let converted = convert_object(object.clone(), V1).expect("converts");
        assert_eq!(
            converted["spec"],
            json!({
                "masterCommandSeed": "--locustfile /lotest/src/checkout.py --host https://shop.example.com --users 400 --spawn-rate 20 --run-time 5m",
                "workerCommandSeed": "--locustfile /lotest/src/checkout.py",
                "workerReplicas": replicas,
                "image": "locustio/locust:2.43.3",
                "imagePullPolicy": "IfNotPresent",
                "imagePullSecrets": ["regcred"],
                "configMap": "checkout-scripts",
                "libConfigMap": "shared-lib",
                "labels": {"master": {"team": "payments"}, "worker": {"team": "payments"}},
                "annotations": {"master": {"owner": "perf@example.com"}},
                "tolerations": [
                    {"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"}
                ]
            }),
            "{file}"
        );
        let stash = converted["metadata"]["annotations"][V2_SPEC_ANNOTATION]
            .as_str()
            .expect("stash");
        let stash: Value = serde_json::from_str(stash).expect("stash is JSON");
        assert_eq!(
            stash, object["spec"],
            "{file}: the stash is the recorded v2 spec"
        );
    }
}

#[test]
fn same_version_objects_are_returned_unchanged() {
    let mut objects: Vec<Value> = recorded_reviews()
        .into_iter()
        .flat_map(|(_, _, o)| o)
        .collect();
    // Even objects that would not parse: nothing is converted, nothing is checked.
    objects.push(object_json(
        V1,
        json!({"name": "x"}),
        json!({"workerReplicas": "three"}),
    ));
    objects.push(object_json(
        V2,
        json!({"name": "x"}),
        json!({"unknown": true}),
    ));
    objects.push(json!({"apiVersion": V2, "kind": "LocustTest"}));
    for object in objects {
        let version = object["apiVersion"].as_str().unwrap().to_owned();
        assert_eq!(convert_object(object.clone(), &version), Ok(object));
    }
}

#[test]
fn convert_object_rejects_what_it_cannot_convert() {
    let v1_wire = || object_json(V1, json!({"name": "t"}), base_v1());
    let without = |key: &str| {
        let mut object = v1_wire();
        object.as_object_mut().unwrap().remove(key);
        object
    };
    let with = |key: &str, value: Value| {
        let mut object = v1_wire();
        object[key] = value;
        object
    };
    let cases: Vec<(&str, Value, &str, ConversionError)> = vec![
        (
            "apiVersion locust.io/v3",
            with("apiVersion", json!("locust.io/v3")),
            V2,
            ConversionError::UnsupportedVersion("locust.io/v3".to_owned()),
        ),
        (
            "apiVersion missing",
            without("apiVersion"),
            V2,
            ConversionError::UnsupportedVersion(String::new()),
        ),
        (
            "apiVersion not a string",
            with("apiVersion", json!(1)),
            V2,
            ConversionError::UnsupportedVersion(String::new()),
        ),
        (
            "another group",
            with("apiVersion", json!("example.com/v1")),
            V2,
            ConversionError::UnsupportedVersion("example.com/v1".to_owned()),
        ),
        (
            "desired version unsupported",
            v1_wire(),
            "locust.io/v3",
            ConversionError::UnsupportedVersion("locust.io/v3".to_owned()),
        ),
        (
            "desired version empty",
            v1_wire(),
            "",
            ConversionError::UnsupportedVersion(String::new()),
        ),
        (
            "wrong kind",
            with("kind", json!("Job")),
            V2,
            ConversionError::UnsupportedKind("Job".to_owned()),
        ),
        (
            "kind missing",
            without("kind"),
            V2,
            ConversionError::UnsupportedKind(String::new()),
        ),
        (
            "kind in the wrong case",
            with("kind", json!("locusttest")),
            V2,
            ConversionError::UnsupportedKind("locusttest".to_owned()),
        ),
    ];
    for (name, object, desired, expected) in cases {
        assert_eq!(convert_object(object, desired), Err(expected), "{name}");
    }
}

#[test]
fn convert_object_reports_the_path_of_an_invalid_field() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "v1 workerReplicas is a string",
            object_json(
                V1,
                json!({"name": "t"}),
                merged(&base_v1(), &json!({"workerReplicas": "4"})),
            ),
            V2,
            "spec.workerReplicas",
        ),
        (
            "v1 tolerations[0].effect unknown",
            object_json(
                V1,
                json!({"name": "t"}),
                merged(
                    &base_v1(),
                    &json!({"tolerations": [{"key": "k", "operator": "Equal", "effect": "Nope"}]}),
                ),
            ),
            V2,
            "spec.tolerations[0].effect",
        ),
        (
            "v2 worker.replicas is a string",
            object_json(
                V2,
                json!({"name": "t"}),
                merged(&base_v2(), &json!({"worker": {"replicas": "4"}})),
            ),
            V1,
            "spec.worker.replicas",
        ),
        (
            "v2 imagePullPolicy unknown",
            object_json(
                V2,
                json!({"name": "t"}),
                merged(&base_v2(), &json!({"imagePullPolicy": "Sometimes"})),
            ),
            V1,
            "spec.imagePullPolicy",
        ),
    ];
    for (name, object, desired, path) in cases {
        let source = object["apiVersion"].as_str().unwrap().to_owned();
        match convert_object(object, desired) {
            Err(ConversionError::Invalid {
                api_version,
                path: got,
                message,
            }) => {
                assert_eq!(api_version, source, "{name}");
                assert_eq!(got, path, "{name}");
                assert!(!message.is_empty(), "{name}");
                let shown = ConversionError::Invalid {
                    api_version,
                    path: got,
                    message,
                }
                .to_string();
                assert!(
                    shown.contains(path) && shown.contains(&source),
                    "{name}: {shown}"
                );
            }
            other => panic!("{name}: expected Invalid at {path}, got {other:?}"),
        }
    }

    // A missing required field is Invalid too.
    let mut spec = base_v1();
    spec.as_object_mut().unwrap().remove("image");
    let result = convert_object(object_json(V1, json!({"name": "t"}), spec), V2);
    assert!(
        matches!(&result, Err(ConversionError::Invalid { message, .. }) if message.contains("image")),
        "{result:?}"
    );
}

#[test]
fn converted_objects_always_carry_the_target_api_version_and_kind() {
    let v1_out =
        convert_object(object_json(V2, json!({"name": "t"}), base_v2()), V1).expect("v2 -> v1");
    assert_eq!(
        (&v1_out["apiVersion"], &v1_out["kind"]),
        (&json!(V1), &json!("LocustTest"))
    );
    let v2_out =
        convert_object(object_json(V1, json!({"name": "t"}), base_v1()), V2).expect("v1 -> v2");
    assert_eq!(
        (&v2_out["apiVersion"], &v2_out["kind"]),
        (&json!(V2), &json!("LocustTest"))
    );
    assert_eq!(v2_out["spec"], base_v2());
    assert_eq!(v1_out["spec"], base_v1());
}
