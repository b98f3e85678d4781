//! The values tables: bad values the schema (and Helm) must reject, good values it must accept,
//! every locust-pod value, and the certificate modes (self-managed, and provided with its CA
//! bundle).

use base64::Engine;
use serde_json::{Value, json};

/// Values the schema (and Helm) must reject, with the JSON pointer of the offending value.
pub(crate) fn bad_values() -> Vec<(&'static str, Value, &'static str)> {
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    vec![
        ("misspelled top-level key", json!({"replica": 3}), ""),
        (
            "misspelled image key",
            json!({"image": {"tags": "v1"}}),
            "/image",
        ),
        (
            "misspelled locust-pod resource",
            json!({"locustPods": {"resources": {"cpuLimits": "1"}}}),
            "/locustPods/resources",
        ),
        (
            "misspelled role",
            json!({"locustPods": {"resources": {"masters": {"cpuLimit": "1"}}}}),
            "/locustPods/resources",
        ),
        (
            "misspelled kafka secret key",
            json!({"locustPods": {"kafka": {"passwordSecret": {"secretName": "k"}}}}),
            "/locustPods/kafka/passwordSecret",
        ),
        (
            "misspelled toleration field",
            json!({"tolerations": [{"key": "a", "operater": "Exists"}]}),
            "/tolerations/0",
        ),
        (
            "misspelled affinity",
            json!({"affinity": {"podAntiAfinity": {}}}),
            "/affinity",
        ),
        ("log format", json!({"logFormat": "xml"}), "/logFormat"),
        (
            "certificate mode",
            json!({"certificates": {"mode": "manual"}}),
            "/certificates/mode",
        ),
        (
            "image pull policy",
            json!({"image": {"pullPolicy": "Sometimes"}}),
            "/image/pullPolicy",
        ),
        (
            "exporter pull policy",
            json!({"locustPods": {"metricsExporter": {"pullPolicy": "always"}}}),
            "/locustPods/metricsExporter/pullPolicy",
        ),
        (
            "failure policy",
            json!({"webhook": {"failurePolicy": "Deny"}}),
            "/webhook/failurePolicy",
        ),
        (
            "webhook port 0",
            json!({"webhook": {"port": 0}}),
            "/webhook/port",
        ),
        (
            "webhook port as a string",
            json!({"webhook": {"port": "9443"}}),
            "/webhook/port",
        ),
        (
            "metrics port 65536",
            json!({"metrics": {"port": 65536}}),
            "/metrics/port",
        ),
        (
            "exporter port 0",
            json!({"locustPods": {"metricsExporter": {"port": 0}}}),
            "/locustPods/metricsExporter/port",
        ),
        (
            "webhook timeout above the API server's 30s",
            json!({"webhook": {"timeoutSeconds": 31}}),
            "/webhook/timeoutSeconds",
        ),
        ("replicas 0", json!({"replicas": 0}), "/replicas"),
        (
            "2 replicas without leader election",
            json!({"replicas": 2, "leaderElection": {"enabled": false}}),
            "/replicas",
        ),
        (
            "negative TTL",
            json!({"locustPods": {"ttlSecondsAfterFinished": -1}}),
            "/locustPods/ttlSecondsAfterFinished",
        ),
        (
            "TTL in words",
            json!({"locustPods": {"ttlSecondsAfterFinished": "1h"}}),
            "/locustPods/ttlSecondsAfterFinished",
        ),
        (
            "TTL as a negative string",
            json!({"locustPods": {"ttlSecondsAfterFinished": "-1"}}),
            "/locustPods/ttlSecondsAfterFinished",
        ),
        (
            "provided mode without caBundle",
            json!({"certificates": {"mode": "provided", "provided": {"secretName": "my-cert"}}}),
            "/certificates/provided/caBundle",
        ),
        (
            "provided mode without secretName",
            json!({"certificates": {"mode": "provided", "provided": {"caBundle": "Y2E="}}}),
            "/certificates/provided/secretName",
        ),
        (
            "provided caBundle as PEM, not base64",
            json!({"certificates": {"mode": "provided", "provided": {"secretName": "c", "caBundle": pem}}}),
            "/certificates/provided/caBundle",
        ),
        (
            "quantity \"lots\"",
            json!({"locustPods": {"resources": {"cpuLimit": "lots"}}}),
            "/locustPods/resources/cpuLimit",
        ),
        (
            "quantity with a space",
            json!({"locustPods": {"resources": {"master": {"memLimit": "1 Gi"}}}}),
            "/locustPods/resources/master/memLimit",
        ),
        (
            "negative quantity",
            json!({"locustPods": {"metricsExporter": {"resources": {"cpuRequest": "-100m"}}}}),
            "/locustPods/metricsExporter/resources/cpuRequest",
        ),
        (
            "quantity as a number",
            json!({"locustPods": {"resources": {"worker": {"cpuLimit": 1}}}}),
            "/locustPods/resources/worker/cpuLimit",
        ),
        (
            "operator quantity",
            json!({"resources": {"requests": {"cpu": "fast"}}}),
            "/resources/requests/cpu",
        ),
        (
            "runtime class name",
            json!({"locustPods": {"runtimeClassName": "Kata_QEMU"}}),
            "/locustPods/runtimeClassName",
        ),
        (
            "injection flag as a string",
            json!({"locustPods": {"affinityInjection": "yes"}}),
            "/locustPods/affinityInjection",
        ),
        (
            "namespaced without namespaces",
            json!({"namespaced": {"enabled": true}}),
            "/namespaced/namespaces",
        ),
        (
            "namespace name",
            json!({"namespaced": {"enabled": true, "namespaces": ["Load_Tests"]}}),
            "/namespaced/namespaces/0",
        ),
        (
            "duplicate namespaces",
            json!({"namespaced": {"enabled": true, "namespaces": ["a", "a"]}}),
            "/namespaced/namespaces",
        ),
        (
            "grace period in words",
            json!({"podHealthGracePeriod": "2 minutes"}),
            "/podHealthGracePeriod",
        ),
        (
            "image pull secret as a string",
            json!({"imagePullSecrets": ["regcred"]}),
            "/imagePullSecrets/0",
        ),
        // The Go operator's chart's keys are typed as there.
        (
            "Go replicaCount 0",
            json!({"replicaCount": 0}),
            "/replicaCount",
        ),
        (
            "misspelled Go key",
            json!({"kafka": {"bootstrapServer": "kafka:9092"}}),
            "/kafka",
        ),
        (
            "Go webhook.enabled as a string",
            json!({"webhook": {"enabled": "yes"}}),
            "/webhook/enabled",
        ),
        (
            "Go quantity",
            json!({"locustPods": {"masterResources": {"limits": {"cpu": "lots"}}}}),
            "/locustPods/masterResources/limits/cpu",
        ),
        (
            "Go pull secret as an object",
            json!({"image": {"pullSecrets": [{"name": "regcred"}]}}),
            "/image/pullSecrets/0",
        ),
        (
            "Go budget of 0",
            json!({"podDisruptionBudget": {"maxUnavailable": 0}}),
            "/podDisruptionBudget/maxUnavailable",
        ),
    ]
}

/// A base64 CA bundle for the provided mode (any PEM will do for rendering).
fn ca_pem() -> &'static str {
    "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
}

pub(crate) fn ca_bundle() -> String {
    base64::engine::general_purpose::STANDARD.encode(ca_pem())
}

/// Every locust-pod value set, for the end-to-end environment tests.
pub(crate) fn all_locust_pod_values() -> Value {
    json!({"locustPods": {
        "resources": {
            "cpuRequest": "300m", "memRequest": "256Mi", "ephemeralRequest": "40M",
            "cpuLimit": "", "memLimit": "2Gi", "ephemeralLimit": "",
            "master": {"cpuRequest": "1", "memRequest": "", "ephemeralRequest": "10M",
                       "cpuLimit": "2", "memLimit": "3Gi", "ephemeralLimit": "60M"},
            "worker": {"cpuRequest": "500m", "memRequest": "512Mi", "ephemeralRequest": "",
                       "cpuLimit": "1500m", "memLimit": "", "ephemeralLimit": "70M"}
        },
        "ttlSecondsAfterFinished": 0,
        "runtimeClassName": "gvisor",
        "affinityInjection": false,
        "tolerationsInjection": false,
        "metricsExporter": {
            "image": "example.org/exporter:v1", "port": 9999, "pullPolicy": "Always",
            "resources": {"cpuRequest": "", "memRequest": "32Mi", "ephemeralRequest": "1M",
                          "cpuLimit": "500m", "memLimit": "", "ephemeralLimit": "2M"}
        },
        "kafka": {
            "bootstrapServers": "kafka:9092", "securityEnabled": true,
            "securityProtocol": "SASL_SSL", "saslMechanism": "PLAIN",
            "saslJaasConfig": "org.apache.kafka.common.security.plain.PlainLoginModule required;",
            "username": "locust",
            "passwordSecret": {"name": "kafka-credentials", "key": "pass"}
        }
    }})
}

/// Values the schema (and Helm) must accept.
pub(crate) fn good_values() -> Vec<(&'static str, Value)> {
    vec![
        ("defaults", json!({})),
        (
            "self-managed certificates",
            json!({"certificates": {"mode": "selfManaged"}}),
        ),
        (
            "provided certificate",
            json!({"certificates": {"mode": "provided", "provided": {"secretName": "my-cert", "caBundle": ca_bundle()}}}),
        ),
        (
            "namespaced",
            json!({"namespaced": {"enabled": true, "namespaces": ["team-a", "team-b"]}}),
        ),
        (
            "one replica without leader election",
            json!({"replicas": 1, "leaderElection": {"enabled": false}}),
        ),
        ("every locust-pod value", all_locust_pod_values()),
        (
            "TTL 0 and removed limits",
            json!({"locustPods": {"ttlSecondsAfterFinished": 0, "resources": {"cpuLimit": "", "memLimit": ""}}}),
        ),
        (
            "a value reset to null",
            json!({"locustPods": {"ttlSecondsAfterFinished": null}}),
        ),
        (
            "the Go chart's forms of the TTL",
            json!({"locustPods": {"ttlSecondsAfterFinished": "3600"}}),
        ),
        (
            "scheduling and text logs",
            json!({
                "logFormat": "text", "metrics": {"enabled": false, "port": 9090},
                "webhook": {"port": 10250, "timeoutSeconds": 10, "failurePolicy": "Ignore"},
                "podHealthGracePeriod": "1h30m",
                "imagePullSecrets": [{"name": "regcred"}],
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}]}}},
                "podAnnotations": {"example.org/team": "perf"},
                "installCRDs": false
            }),
        ),
    ]
}

pub(crate) fn self_managed() -> Value {
    json!({"certificates": {"mode": "selfManaged"}})
}

pub(crate) fn provided() -> Value {
    json!({"certificates": {"mode": "provided", "provided": {"secretName": "my-webhook-tls", "caBundle": ca_bundle()}}})
}
