//! The canonical specs and the case tables several topics read: the base, full and rich specs,
//! the exact v1 <-> v2 pairs, and the v2 specs v1 cannot fully express with their v1 views.

use serde_json::{Value, json};

use crate::merged;

pub(crate) const MASTER_CMD: &str =
    "--locustfile /lotest/src/t.py --host https://example.com --users 10";
pub(crate) const WORKER_CMD: &str = "--locustfile /lotest/src/t.py";
pub(crate) const IMAGE: &str = "locustio/locust:2.43.3";

/// A v1 spec with the required fields only (explicit `workerReplicas`).
pub(crate) fn base_v1() -> Value {
    json!({
        "masterCommandSeed": MASTER_CMD,
        "workerCommandSeed": WORKER_CMD,
        "workerReplicas": 2,
        "image": IMAGE
    })
}

/// Exactly what `base_v1` becomes in v2: autostart and autoquit made explicit.
pub(crate) fn base_v2() -> Value {
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

/// Every v1 field set.
pub(crate) fn full_v1() -> Value {
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
pub(crate) fn rich_v2() -> Value {
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
            "connectTimeoutSeconds": 120,
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
        }},
        "thresholds": {"maxFailRatio": 0.01, "maxP95Ms": 500.5, "maxP99Ms": 1000, "minRps": 25}
    })
}

/// Exactly the v1 view of `rich_v2`.
pub(crate) fn rich_v2_as_v1() -> Value {
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

pub(crate) struct Pair {
    pub(crate) name: &'static str,
    pub(crate) v1: Value,
    pub(crate) v2: Value,
}

pub(crate) fn exact_pairs() -> Vec<Pair> {
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

pub(crate) struct Lossy {
    pub(crate) name: &'static str,
    /// Merged into `base_v2()`.
    pub(crate) v2_patch: Value,
    /// Merged into `base_v1()`: the expected v1 view.
    pub(crate) v1_patch: Value,
}

pub(crate) fn lossy_cases() -> Vec<Lossy> {
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
