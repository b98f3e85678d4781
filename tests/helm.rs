//! The Helm chart `deploy/helm/locust-operator/`.
//!
//! Always (no Helm needed):
//! - `Chart.yaml` parses, with the crate's version as appVersion;
//! - `values.yaml` validates against `values.schema.json` (draft-07, as Helm reads it), every
//!   object level of the schema is closed (`additionalProperties: false`), the schema and
//!   `values.yaml` have the same keys, and a table of bad values is rejected (misspelled keys,
//!   enums, ports, replicas, TTL, the provided-certificate mode without its CA bundle,
//!   malformed quantities) while a table of good ones is accepted; the schema's quantity and
//!   duration patterns accept only what the operator parses;
//! - every `.Values` path a template uses (directly or through a `$variable`) exists in
//!   `values.yaml` and in the schema, and every `{{` is closed;
//! - the chart's copy of the CRD (`templates/crd.yaml`) equals `locust-operator crd` from
//!   `spec.group` on (`UPDATE_GOLDEN=1` rewrites it); its templated head mirrors the generated
//!   conversion block;
//! - the values of the Go operator's chart 2.3.0 (its `values.yaml` and `values.schema.json`,
//!   copied into `tests/fixtures/go-chart-2.3.0/`) satisfy the schema, which has every key of
//!   theirs; every Go key the templates translate exists there, every key they translate it to
//!   exists here.
//!
//! With a Helm renderer (the `helm_python` module of the PyPI package `helm-python-sdk`, which
//! embeds Helm's Go SDK, in `HELM_PYTHON` or `.venv/bin/python`; else a `helm` binary on
//! `PATH`): the chart is rendered in every mode, every object parses strictly into its typed
//! form (k8s-openapi; an unknown or misspelled field fails), each render is internally
//! consistent (names, selectors, ports, webhook and conversion service references, the
//! certificate chain, RBAC subjects, flags parsed by the operator's own flag parser, the
//! environment read by the operator's own configuration reader), the locust-pod values reach
//! the operator's configuration, Helm itself rejects the bad values, and the objects equal
//! those of `kubectl kustomize deploy/overlays/<overlay>` (when that overlay exists), up to the
//! labels only Helm adds and flag spellings that mean the same. Values files of the Go
//! operator's chart (its defaults, and one setting every key this chart translates) install
//! exactly the objects of this chart's own keys with the same meaning; each Go key without a
//! meaning here, and each conflict with this chart's key, fails with its message, tested word
//! for word. Without a renderer these tests
//! print why and pass, unless one is required: `HELM_REQUIRED=1`, or `helm-python-sdk` listed
//! in `.ci/requirements-test.txt`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use base64::Engine;
use clap::Parser;
use k8s_openapi::Resource;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use locust_operator::config::Config;
use locust_operator::crd::{locust_test_crd, locust_test_crd_yaml};
use locust_operator::flags::{CertMode, ProcessFlags};
use locust_operator::quantity;
use locust_operator::telemetry::LogFormat;
use locust_operator::webhook::server::{CONVERT_PATH, HANDLER_TIMEOUT, MUTATE_PATH, VALIDATE_PATH};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CHART: &str = "deploy/helm/locust-operator";
/// Values files of the Go operator's chart 2.3.0 (origin in its README.md).
const GO_CHART_FIXTURES: &str = "tests/fixtures/go-chart-2.3.0";
/// With this release name and namespace the chart's objects have the kustomize install's names.
const RELEASE: &str = "locust-operator";
const NAMESPACE: &str = "locust-operator-system";
const CRD_NAME: &str = "locusttests.locust.io";
const CERT_DIR: &str = "/tmp/k8s-webhook-server/serving-certs";
/// The marker line of `templates/crd.yaml` after which the generated CRD is copied verbatim.
const CRD_MARKER: &str =
    "# ---- generated: `locust-operator crd` from spec.group on (tests/helm.rs) ----";
/// Labels and annotations only Helm sets; the comparison with kustomize ignores them.
const HELM_ONLY_KEYS: [&str; 5] = [
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
    "helm.sh/chart",
    "helm.sh/resource-policy",
];

// ---------------------------------------------------------------------------------------------
// Files

fn chart_file(relative: &str) -> PathBuf {
    Path::new(ROOT).join(CHART).join(relative)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The YAML documents of a stream (`---` separated), without empty ones.
fn yaml_documents(text: &str, origin: &str) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut chunks = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            chunks.push(String::new());
        } else {
            let chunk = chunks.last_mut().expect("one chunk");
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    for chunk in chunks {
        let content = chunk
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if !content {
            continue;
        }
        let value: Value = serde_saphyr::from_str(&chunk)
            .unwrap_or_else(|e| panic!("{origin}: not YAML: {e}\n{chunk}"));
        if !value.is_null() {
            documents.push(value);
        }
    }
    documents
}

fn values_yaml() -> Value {
    serde_saphyr::from_str(&read(&chart_file("values.yaml"))).expect("values.yaml is YAML")
}

/// A fixture of the Go operator's chart (YAML or JSON).
fn go_chart_file(name: &str) -> Value {
    let path = Path::new(ROOT).join(GO_CHART_FIXTURES).join(name);
    serde_saphyr::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Go operator's chart's `values.yaml`: its defaults, as a user passing the whole file has.
fn go_chart_defaults() -> Value {
    go_chart_file("values.yaml")
}

/// Keys the Go chart's templates read that its `values.yaml` only mentions in comments (its
/// deprecated 1.x paths).
const GO_CHART_COMMENTED_KEYS: [&str; 1] = ["config"];

/// Every key of either chart's `values.yaml` (and the Go chart's commented ones), merged: the
/// keys the schema must have.
fn both_charts_keys() -> Value {
    fn union(a: &Value, b: &Value) -> Value {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                let mut out = a.clone();
                for (key, value) in b {
                    let merged = match a.get(key) {
                        Some(inner) => union(inner, value),
                        None => value.clone(),
                    };
                    out.insert(key.clone(), merged);
                }
                Value::Object(out)
            }
            (_, b) => b.clone(),
        }
    }
    let mut go = go_chart_defaults();
    for key in GO_CHART_COMMENTED_KEYS {
        go[key] = json!({});
    }
    union(&go, &values_yaml())
}

fn schema() -> Value {
    serde_json::from_str(&read(&chart_file("values.schema.json")))
        .expect("values.schema.json is JSON")
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema = schema();
        assert_eq!(
            schema["$schema"], "http://json-schema.org/draft-07/schema#",
            "values.schema.json must declare draft-07, which every Helm 3 and 4 reads"
        );
        jsonschema::draft7::new(&schema).expect("values.schema.json is a valid draft-07 schema")
    })
}

/// Helm's coalescing of user values over the chart's: maps merge, `null` removes a key,
/// anything else replaces.
fn coalesce(base: &Value, overrides: &Value) -> Value {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            let mut out = base.clone();
            for (key, value) in overrides {
                if value.is_null() {
                    out.remove(key);
                } else if let Some(inner) = base.get(key) {
                    out.insert(key.clone(), coalesce(inner, value));
                } else {
                    out.insert(key.clone(), value.clone());
                }
            }
            Value::Object(out)
        }
        (_, overrides) => overrides.clone(),
    }
}

/// Schema violations of `overrides` coalesced over `values.yaml`, as `pointer: message`.
fn schema_errors(overrides: &Value) -> Vec<(String, String)> {
    let values = coalesce(&values_yaml(), overrides);
    validator()
        .iter_errors(&values)
        .map(|e| (e.instance_path().to_string(), e.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Values tables

/// Values the schema (and Helm) must reject, with the JSON pointer of the offending value.
fn bad_values() -> Vec<(&'static str, Value, &'static str)> {
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

fn ca_bundle() -> String {
    base64::engine::general_purpose::STANDARD.encode(ca_pem())
}

/// Every locust-pod value set, for the end-to-end environment tests.
fn all_locust_pod_values() -> Value {
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
fn good_values() -> Vec<(&'static str, Value)> {
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

// ---------------------------------------------------------------------------------------------
// Static checks: Chart.yaml, values.yaml, the schema

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChartYaml {
    api_version: String,
    name: String,
    description: String,
    #[serde(rename = "type")]
    chart_type: String,
    version: String,
    app_version: String,
    kube_version: String,
    keywords: Vec<String>,
}

#[test]
fn chart_yaml_describes_this_version() {
    let chart: ChartYaml =
        serde_saphyr::from_str(&read(&chart_file("Chart.yaml"))).expect("Chart.yaml parses");
    assert_eq!(chart.api_version, "v2");
    assert_eq!(chart.name, "locust-operator");
    assert_eq!(chart.chart_type, "application");
    assert_eq!(chart.version, "0.1.0");
    assert_eq!(
        chart.app_version,
        env!("CARGO_PKG_VERSION"),
        "appVersion (the default image tag) must be the operator's version"
    );
    assert!(!chart.description.is_empty() && !chart.keywords.is_empty());
    assert!(chart.kube_version.starts_with(">="));
    for required in [
        "values.yaml",
        "values.schema.json",
        "README.md",
        "templates/_helpers.tpl",
        "templates/NOTES.txt",
        "templates/crd.yaml",
        "templates/deployment.yaml",
        "templates/webhooks.yaml",
    ] {
        assert!(
            chart_file(required).is_file(),
            "{CHART}/{required} is missing"
        );
    }
}

#[test]
fn values_yaml_satisfies_the_schema() {
    let errors: Vec<_> = validator()
        .iter_errors(&values_yaml())
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "values.yaml: {errors:#?}");
}

#[test]
fn schema_rejects_bad_values() {
    for (what, overrides, pointer) in bad_values() {
        let errors = schema_errors(&overrides);
        assert!(
            errors.iter().any(|(at, _)| at == pointer),
            "{what}: {overrides} should be rejected at {pointer:?}; errors: {errors:#?}"
        );
    }
}

#[test]
fn schema_accepts_good_values() {
    for (what, overrides) in good_values() {
        let errors = schema_errors(&overrides);
        assert!(errors.is_empty(), "{what}: {overrides}: {errors:#?}");
    }
}

/// The Go operator's chart's whole `values.yaml`, and a file of its keys setting everything this
/// chart translates, satisfy the schema: Helm validates before the templates run, so a schema
/// error ("additional properties not allowed") would hide the templates' messages. Every
/// property of the Go chart's own schema is one here, at the same path (or a key of a map whose
/// values the schema checks, like `resources.limits`).
#[test]
fn schema_accepts_the_go_charts_values() {
    for (what, values) in [
        ("the Go chart's values.yaml", go_chart_defaults()),
        (
            "non-default-values.yaml",
            go_chart_file("non-default-values.yaml"),
        ),
    ] {
        let errors = schema_errors(&values);
        assert!(errors.is_empty(), "{what}: {errors:#?}");
    }
    fn properties(schema: &Value, path: &[String], out: &mut Vec<Vec<String>>) {
        let children = schema.get("properties").and_then(Value::as_object);
        for (key, child) in children.into_iter().flatten() {
            let mut at = path.to_vec();
            at.push(key.clone());
            out.push(at.clone());
            properties(child, &at, out);
        }
    }
    fn covered(schema: &Value, path: &[String]) -> bool {
        match path.split_first() {
            None => true,
            Some((key, rest)) => match schema.get("properties").and_then(|p| p.get(key)) {
                Some(child) => covered(child, rest),
                None => schema
                    .get("additionalProperties")
                    .is_some_and(Value::is_object),
            },
        }
    }
    let mut theirs = Vec::new();
    properties(&go_chart_file("values.schema.json"), &[], &mut theirs);
    let ours = schema();
    let missing: Vec<_> = theirs.iter().filter(|p| !covered(&ours, p)).collect();
    assert!(theirs.len() > 50, "only {} Go properties", theirs.len());
    assert!(
        missing.is_empty(),
        "Go chart properties not in the schema: {missing:#?}"
    );
}

/// Object levels of the schema that are maps by nature (keys are data, not settings), or
/// Kubernetes types the API server validates, or values of the Go operator's chart that the
/// templates check themselves (accepted only where they change nothing, else rejected naming
/// the key).
const OPEN_OBJECTS: [&str; 16] = [
    "/properties/global",
    "/properties/podAnnotations",
    "/properties/nodeSelector",
    "/properties/resources/properties/requests",
    "/properties/resources/properties/limits",
    "/properties/affinity/properties/nodeAffinity",
    "/properties/affinity/properties/podAffinity",
    "/properties/affinity/properties/podAntiAffinity",
    "/properties/extraEnv/items",
    "/properties/otelCollector/properties/resources",
    "/properties/otelCollector/properties/podSecurityContext",
    "/properties/otelCollector/properties/containerSecurityContext",
    "/properties/serviceAccount/properties/annotations",
    "/properties/podSecurityContext",
    "/properties/containerSecurityContext",
    "/properties/config",
];

fn closed_objects(node: &Value, pointer: &str, open: &mut Vec<String>) {
    let Some(map) = node.as_object() else { return };
    let is_object = map.contains_key("properties")
        || match map.get("type") {
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
            _ => false,
        };
    let in_combinator = ["/if", "/then", "/else", "/allOf"]
        .iter()
        .any(|c| pointer.contains(c));
    if is_object && !in_combinator && map.get("additionalProperties") != Some(&json!(false)) {
        open.push(pointer.to_owned());
    }
    for (key, child) in map {
        match key.as_str() {
            "properties" => {
                for (name, property) in child.as_object().into_iter().flatten() {
                    closed_objects(property, &format!("{pointer}/properties/{name}"), open);
                }
            }
            "items" | "if" | "then" | "else" | "additionalProperties" => {
                closed_objects(child, &format!("{pointer}/{key}"), open)
            }
            "allOf" | "anyOf" | "oneOf" => {
                for (i, item) in child.as_array().into_iter().flatten().enumerate() {
                    closed_objects(item, &format!("{pointer}/{key}/{i}"), open);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn every_object_level_of_the_schema_is_closed() {
    let mut open = Vec::new();
    closed_objects(&schema(), "", &mut open);
    let unexpected: Vec<_> = open
        .iter()
        .filter(|p| !OPEN_OBJECTS.contains(&p.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "objects without additionalProperties: false (a misspelled key would pass): {unexpected:#?}"
    );
}

/// Walks the values and the schema together: same keys at every closed level (an empty map in
/// the values, like `affinity: {}`, is an optional object whose keys are documented by the
/// schema alone).
fn same_keys(values: &Value, schema: &Value, path: &str, problems: &mut Vec<String>) {
    let (Some(values), Some(properties)) = (
        values.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) else {
        return;
    };
    if values.is_empty() {
        return;
    }
    for key in values.keys() {
        if !properties.contains_key(key) {
            problems.push(format!("values.yaml {path}.{key} is not in the schema"));
        }
    }
    for (key, property) in properties {
        match values.get(key) {
            None if key != "global" => {
                problems.push(format!("schema {path}.{key} is not in values.yaml"))
            }
            None => {}
            Some(value) => same_keys(value, property, &format!("{path}.{key}"), problems),
        }
    }
}

/// The schema has the keys of `values.yaml` and those of the Go operator's chart, no others.
#[test]
fn schema_and_values_yaml_have_the_same_keys() {
    let mut problems = Vec::new();
    same_keys(&both_charts_keys(), &schema(), "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    // Not vacuous: a key of either chart only is among those compared.
    let schema = schema();
    for key in ["replicas", "replicaCount", "otelCollector", "config"] {
        assert!(schema["properties"].get(key).is_some(), "{key}");
    }
}

fn schema_node<'a>(schema: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(schema, |node, key| &node["properties"][key])
}

fn matches(sub_schema: &Value, value: &str) -> bool {
    let mut sub = sub_schema.clone();
    sub.as_object_mut()
        .expect("an object")
        .remove("description");
    sub["type"] = json!("string");
    jsonschema::draft7::is_valid(&sub, &json!(value))
}

#[test]
fn quantity_pattern_accepts_only_what_the_operator_parses() {
    let schema = schema();
    let samples = [
        "0", "1", "250m", "1000m", "1.5", ".5", "5.", "+2", "128Mi", "1Gi", "30M", "1k", "100n",
        "3u", "1e3", "1E-3", "2e+2", "1Ei", "", "lots", "1 Gi", "1.2.3", "1x", "Mi", "1MiB", "-2",
        "1e", "m", ".", "1KI", " 1",
    ];
    let fields: [&[&str]; 4] = [
        &["locustPods", "resources", "cpuLimit"],
        &["locustPods", "resources", "master", "memRequest"],
        &["locustPods", "resources", "worker", "ephemeralLimit"],
        &["locustPods", "metricsExporter", "resources", "cpuRequest"],
    ];
    for field in fields {
        let node = schema_node(&schema, field);
        for sample in samples {
            let accepted = matches(node, sample);
            // "" is the chart's "remove it"; the operator reads it as such, not as a quantity.
            let operator = sample.is_empty()
                || (!sample.starts_with('-') && quantity::quantity(sample).is_ok());
            assert_eq!(
                accepted, operator,
                "{field:?} {sample:?}: schema accepts: {accepted}, operator parses: {operator}"
            );
        }
    }
}

#[test]
fn grace_period_pattern_accepts_only_durations_the_operator_parses() {
    let schema = schema();
    let node = schema_node(&schema, &["podHealthGracePeriod"]);
    for sample in ["2m", "90s", "1h30m", "500ms", "1d", "2m30s", "0s"] {
        assert!(matches(node, sample), "{sample:?} should be accepted");
        assert!(humantime::parse_duration(sample).is_ok(), "{sample:?}");
    }
    for sample in ["", "2", "2 minutes", "m", "-1s", "1.5h"] {
        assert!(!matches(node, sample), "{sample:?} should be rejected");
    }
}

// ---------------------------------------------------------------------------------------------
// Static checks: templates

fn templates() -> Vec<(String, String)> {
    let dir = chart_file("templates");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("templates/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read(&p),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn template_actions_are_balanced() {
    for (name, text) in templates() {
        let mut rest = text.as_str();
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .unwrap_or_else(|| panic!("{name}: `{{{{` never closed"));
            assert!(
                !after[..close].contains("{{"),
                "{name}: `{{{{` opened twice before `}}}}`: {}",
                &after[..close]
            );
            rest = &after[close + 2..];
        }
        assert!(!rest.contains("}}"), "{name}: `}}}}` without `{{{{`");
    }
}

/// Does `path` exist as nested keys of `values` and as nested properties of the schema? Below
/// an empty map of `values` (like `masterResources: {}`), only the schema documents the keys.
fn value_path_problems(path: &[String], values: &Value, schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut value = values;
    let mut node = schema;
    for (i, key) in path.iter().enumerate() {
        let shown = path[..=i].join(".");
        match value.as_object() {
            Some(map) if map.is_empty() => {}
            _ => match value.as_object().and_then(|m| m.get(key)) {
                Some(v) => value = v,
                None => problems.push(format!(".Values.{shown} is not in the values")),
            },
        }
        match node.get("properties").and_then(|p| p.get(key)) {
            Some(n) => node = n,
            None => {
                problems.push(format!(".Values.{shown} is not in values.schema.json"));
                break;
            }
        }
        if !problems.is_empty() {
            break;
        }
    }
    problems
}

/// Every value path the templates read: `.Values.a.b`, `$x.b` where `$x := .Values.a` or
/// `$x := include "locust-operator.values" . | fromJson` (the values with the Go operator's
/// chart's keys translated), and the resource maps read field by field: keys of `values.yaml`.
/// The Go chart's keys, named as strings (looked up, renamed, checked): keys of its
/// `values.yaml`; the keys they are translated into: keys of `values.yaml`. All of them in the
/// schema.
#[test]
fn templates_use_only_values_that_exist() {
    let values = values_yaml();
    let schema = schema();
    let both = both_charts_keys();
    let mut go = go_chart_defaults();
    for key in GO_CHART_COMMENTED_KEYS {
        go[key] = json!({});
    }
    let direct = regex::Regex::new(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let alias = regex::Regex::new(
        r#"\$([A-Za-z_][A-Za-z0-9_]*) :?= (\.Values|\$[A-Za-z_][A-Za-z0-9_]*|include "locust-operator\.values" \. \| fromJson)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)"#,
    )
    .unwrap();
    // `(list $values "a.b")` (a lookup), `(list $values "a.b" VALUE SHOWN)` (a translation's
    // target), `(list "go.key" "our.key" "plain")` (a rename), `(list "go.key" DEFAULT "why")`
    // and `(list "goKey" "locust-operator.helper")` (Go keys checked, not translated).
    let looked_up =
        regex::Regex::new(r#"locust-operator\.lookup" \(list \$values "([A-Za-z.]+)"\)"#).unwrap();
    let target = regex::Regex::new(r#"goChart\.set" \(list \$values "([A-Za-z.]+)""#).unwrap();
    let rename =
        regex::Regex::new(r#"\(list "([A-Za-z.]+)" "([A-Za-z.]+)" "(?:plain|quantity)"\)"#)
            .unwrap();
    let checked_go = regex::Regex::new(
        r#"\(list "([A-Za-z.]+)" (?:\(list\)|\(dict\)|true|false|""|"locust-operator\.[A-Za-z]+")[ )]"#,
    )
    .unwrap();
    let use_of =
        regex::Regex::new(r"\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let resource_field = regex::Regex::new(r#"\(list "([A-Z_]+)" "([A-Za-z]+)"\)"#).unwrap();
    let split = |s: &str| -> Vec<String> {
        s.split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut checked_strings = 0;
    for (name, text) in templates() {
        // `$x := .Values.a.b` and `$y := $x.c`: variables standing for value paths.
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for captures in alias.captures_iter(&text) {
            let base = if !captures[2].starts_with('$') {
                Some(Vec::new())
            } else {
                aliases.get(&captures[2][1..]).cloned()
            };
            if let Some(mut path) = base {
                path.extend(split(&captures[3]));
                aliases.insert(captures[1].to_owned(), path);
            }
        }
        let mut paths = Vec::new();
        for captures in direct.captures_iter(&text) {
            paths.push(split(&captures[1]));
        }
        for captures in use_of.captures_iter(&text) {
            if let Some(base) = aliases.get(&captures[1]) {
                let mut path = base.clone();
                path.extend(split(&captures[2]));
                paths.push(path);
            }
        }
        for path in paths {
            checked += 1;
            for problem in value_path_problems(&path, &values, &schema) {
                problems.push(format!("{name}: {problem}"));
            }
        }
        // The resource maps are read field by field through a list of (SUFFIX, key) pairs.
        for captures in resource_field.captures_iter(&text) {
            for map in [
                &["locustPods", "resources"][..],
                &["locustPods", "resources", "master"],
                &["locustPods", "resources", "worker"],
                &["locustPods", "metricsExporter", "resources"],
            ] {
                let mut path: Vec<String> = map.iter().map(|s| (*s).to_owned()).collect();
                path.push(captures[2].to_owned());
                checked += 1;
                for problem in value_path_problems(&path, &values, &schema) {
                    problems.push(format!("{name} ({}): {problem}", &captures[1]));
                }
            }
        }
        // The Go operator's chart's keys and their translations, named as strings.
        let mut check = |path: &str, values: &Value, what: &str| {
            checked_strings += 1;
            for problem in value_path_problems(&split(path), values, &schema) {
                problems.push(format!("{name} ({what} {path}): {problem}"));
            }
        };
        for captures in looked_up.captures_iter(&text) {
            check(&captures[1], &both, "lookup of");
        }
        for captures in target.captures_iter(&text) {
            check(&captures[1], &values, "translation into");
        }
        for captures in rename.captures_iter(&text) {
            check(&captures[1], &go, "Go key");
            check(&captures[2], &values, "translation into");
        }
        for captures in checked_go.captures_iter(&text) {
            check(&captures[1], &go, "Go key");
        }
    }
    assert!(checked > 50, "only {checked} value references found");
    assert!(
        checked_strings > 60,
        "only {checked_strings} Go chart keys and translations found"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Keys the Go operator's chart shares with this one, with the same meaning: a value there is a
/// value here (each is a key of `values.yaml`). A path stands for the keys below it too.
const SHARED_WITH_THE_GO_CHART: [&str; 21] = [
    "image.repository",
    "image.tag",
    "image.pullPolicy",
    "resources",
    "nameOverride",
    "fullnameOverride",
    "terminationGracePeriodSeconds",
    "leaderElection.enabled",
    "metrics.enabled",
    "metrics.port",
    "webhook.port",
    "locustPods.affinityInjection",
    "locustPods.tolerationsInjection",
    "locustPods.ttlSecondsAfterFinished",
    "locustPods.metricsExporter.image",
    "locustPods.metricsExporter.port",
    "locustPods.metricsExporter.pullPolicy",
    "podAnnotations",
    "nodeSelector",
    "tolerations",
    "affinity",
];

/// The paths of the leaves of a values tree (an empty map or list is a leaf).
fn leaves(value: &Value, path: &str, out: &mut Vec<String>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (key, child) in map {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                leaves(child, &at, out);
            }
        }
        _ => out.push(path.to_owned()),
    }
}

/// Every key of the Go operator's chart's `values.yaml` is handled: shared with this chart, or
/// named by `templates/_go-chart.tpl` (translated, or checked to change nothing, else
/// rejected), or inside `otelCollector`, which changes nothing while its `enabled` (checked) is
/// false. No Go key can be ignored.
#[test]
fn every_key_of_the_go_chart_is_handled() {
    let (values, schema) = (values_yaml(), schema());
    for shared in SHARED_WITH_THE_GO_CHART {
        let path: Vec<String> = shared.split('.').map(str::to_owned).collect();
        let problems = value_path_problems(&path, &values, &schema);
        assert!(problems.is_empty(), "{shared}: {problems:?}");
    }
    let text = read(&chart_file("templates/_go-chart.tpl"));
    let quoted = regex::Regex::new(r#""([A-Za-z0-9.]+)""#).unwrap();
    let named: BTreeSet<String> = quoted
        .captures_iter(&text)
        .map(|c| c[1].to_owned())
        .collect();
    assert!(named.contains("otelCollector.enabled"));
    let mut all = Vec::new();
    leaves(&go_chart_defaults(), "", &mut all);
    all.extend(GO_CHART_COMMENTED_KEYS.map(str::to_owned));
    let under =
        |path: &str, prefix: &str| path == prefix || path.starts_with(&format!("{prefix}."));
    let unhandled: Vec<_> = all
        .iter()
        .filter(|leaf| {
            !SHARED_WITH_THE_GO_CHART.iter().any(|s| under(leaf, s))
                && !named.iter().any(|n| under(leaf, n) || under(n, leaf))
                && !under(leaf, "otelCollector")
        })
        .collect();
    assert!(all.len() > 60, "only {} Go keys", all.len());
    assert!(
        unhandled.is_empty(),
        "Go chart keys nothing handles: {unhandled:#?}"
    );
}

/// The Go operator's chart's deprecated `config.*` paths are rejected naming the key to use
/// instead: one entry for each path its templates read, and each key named exists here.
#[test]
fn go_config_paths_name_keys_of_this_chart() {
    let ours = read(&chart_file("templates/_go-chart.tpl"));
    let entry = regex::Regex::new(r#""(config\.[A-Za-z0-9.]+)" "([^"]+)""#).unwrap();
    let named = regex::Regex::new(r"`([A-Za-z.]+)`").unwrap();
    let (values, schema) = (values_yaml(), schema());
    let mut entries = BTreeSet::new();
    for captures in entry.captures_iter(&ours) {
        entries.insert(captures[1].to_owned());
        let keys: Vec<_> = named.captures_iter(&captures[2]).collect();
        assert!(!keys.is_empty(), "{} names no key", &captures[1]);
        for key in keys {
            let path: Vec<String> = key[1].split('.').map(str::to_owned).collect();
            let problems = value_path_problems(&path, &values, &schema);
            assert!(problems.is_empty(), "{}: {problems:?}", &captures[1]);
        }
    }
    // What the Go chart's templates read: the paths that are no prefix of another.
    let theirs = read(
        &Path::new(ROOT)
            .join(GO_CHART_FIXTURES)
            .join("templates/_helpers.tpl"),
    );
    let read_paths: BTreeSet<String> = regex::Regex::new(r"\.Values\.(config(?:\.[A-Za-z0-9]+)+)")
        .unwrap()
        .captures_iter(&theirs)
        .map(|c| c[1].to_owned())
        .collect();
    let read_leaves: BTreeSet<String> = read_paths
        .iter()
        .filter(|p| !read_paths.iter().any(|q| q.starts_with(&format!("{p}."))))
        .cloned()
        .collect();
    assert!(read_leaves.len() > 20, "{read_leaves:?}");
    assert_eq!(entries, read_leaves);
}

// ---------------------------------------------------------------------------------------------
// The CRD copy

fn generated_crd_body() -> String {
    let yaml = locust_test_crd_yaml().expect("CRD renders");
    let start = yaml
        .find("\n  group: ")
        .expect("the generated CRD has spec.group");
    let body = yaml[start + 1..].to_owned();
    assert!(
        !body.contains("\n  conversion:"),
        "spec.conversion no longer comes before spec.group in the generated CRD; \
         templates/crd.yaml templates that block and copies the rest"
    );
    body
}

#[test]
fn chart_crd_equals_the_generated_crd() {
    let path = chart_file("templates/crd.yaml");
    let text = read(&path);
    let (head, rest) = text
        .split_once(&format!("{CRD_MARKER}\n"))
        .unwrap_or_else(|| panic!("{}: no marker line {CRD_MARKER:?}", path.display()));
    const END: &str = "{{- end }}\n";
    let copy = rest
        .strip_suffix(END)
        .unwrap_or_else(|| panic!("{}: must end with {END:?}", path.display()));
    let generated = generated_crd_body();
    assert!(
        !generated.contains("{{") && !generated.contains("}}"),
        "the generated CRD contains template delimiters; it cannot be copied verbatim"
    );
    if copy != generated {
        if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
            std::fs::write(&path, format!("{head}{CRD_MARKER}\n{generated}{END}")).unwrap();
            eprintln!("rewrote {}", path.display());
        } else {
            let line = copy
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "the length".to_owned(), |i| format!("line {}", i + 1));
            panic!(
                "{} differs from `locust-operator crd` (from spec.group on; first difference at \
                 {line} after the marker): rewrite it with `UPDATE_GOLDEN=1 cargo test --test helm`",
                path.display()
            );
        }
    }

    // The templated head mirrors the generated conversion block, with the release's Service.
    let crd = locust_test_crd().unwrap();
    let conversion = crd.spec.conversion.expect("conversion");
    assert_eq!(conversion.strategy, "Webhook");
    let webhook = conversion.webhook.expect("conversion webhook");
    assert_eq!(webhook.conversion_review_versions, vec!["v1".to_owned()]);
    let service = webhook
        .client_config
        .and_then(|c| c.service)
        .expect("service");
    assert_eq!(service.path.as_deref(), Some(CONVERT_PATH));
    assert_eq!(service.port, Some(443));
    for line in [
        "  conversion:\n    strategy: Webhook\n    webhook:\n      clientConfig:\n".to_owned(),
        format!("          path: {CONVERT_PATH}\n          port: 443\n"),
        "      conversionReviewVersions:\n      - v1\n".to_owned(),
        format!("  name: {CRD_NAME}\n"),
    ] {
        assert!(
            head.contains(&line),
            "templates/crd.yaml head lacks {line:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

enum Renderer {
    /// A Python with `helm_python` (PyPI `helm-python-sdk`: Helm's Go SDK as a library).
    Python(PathBuf),
    /// A `helm` binary.
    Binary(PathBuf),
}

fn python_has_helm(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import helm_python"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn find_renderer() -> Result<Renderer, String> {
    if let Some(python) = std::env::var_os("HELM_PYTHON") {
        let python = PathBuf::from(python);
        assert!(
            python_has_helm(&python),
            "HELM_PYTHON={} cannot import helm_python (pip install helm-python-sdk)",
            python.display()
        );
        return Ok(Renderer::Python(python));
    }
    let venv = Path::new(ROOT).join(".venv/bin/python");
    if venv.is_file() && python_has_helm(&venv) {
        return Ok(Renderer::Python(venv));
    }
    let helm = Command::new("helm")
        .args(["version", "--short"])
        .stdin(Stdio::null())
        .output();
    if let Ok(out) = helm
        && out.status.success()
        && String::from_utf8_lossy(&out.stdout).starts_with('v')
    {
        return Ok(Renderer::Binary(PathBuf::from("helm")));
    }
    Err(format!(
        "no Helm renderer: HELM_PYTHON is unset, {} cannot import helm_python \
         (pip install helm-python-sdk), and there is no `helm` on PATH",
        venv.display()
    ))
}

fn renderer_required() -> bool {
    std::env::var_os("HELM_REQUIRED").is_some_and(|v| v == "1")
        || std::fs::read_to_string(Path::new(ROOT).join(".ci/requirements-test.txt"))
            .is_ok_and(|r| r.contains("helm-python-sdk"))
}

/// The renderer, or `None` (with the reason printed) when there is none and none is required.
fn renderer() -> Option<&'static Renderer> {
    static RENDERER: OnceLock<Result<Renderer, String>> = OnceLock::new();
    match RENDERER.get_or_init(find_renderer) {
        Ok(renderer) => Some(renderer),
        Err(why) if renderer_required() => panic!("{why}"),
        Err(why) => {
            eprintln!("skipped (the chart is not rendered): {why}");
            None
        }
    }
}

#[derive(Clone)]
struct Case {
    what: String,
    values: Value,
    release: String,
    namespace: String,
}

fn case(what: &str, values: Value) -> Case {
    Case {
        what: what.to_owned(),
        values,
        release: RELEASE.to_owned(),
        namespace: NAMESPACE.to_owned(),
    }
}

struct Rendered {
    case: Case,
    documents: Vec<Value>,
    /// NOTES.txt, when the renderer gives it.
    notes: Option<String>,
}

const RENDER_PY: &str = r#"
import json, sys
import helm_python as helm
request = json.load(sys.stdin)
results = []
with helm.Chart.load(request["chart"]) as chart:
    for case in request["cases"]:
        try:
            files = chart.render(case["values"], name=case["release"],
                                 namespace=case["namespace"], is_install=True)
            results.append({"files": files})
        except helm.HelmError as error:
            results.append({"error": str(error)})
json.dump(results, sys.stdout)
"#;

/// Renders every case like `helm install` (values validated against the schema): the
/// documents, or Helm's error.
fn render_all(renderer: &Renderer, cases: &[Case]) -> Vec<Result<Rendered, String>> {
    let chart = Path::new(ROOT).join(CHART);
    match renderer {
        Renderer::Python(python) => {
            let request = json!({
                "chart": chart,
                "cases": cases.iter().map(|c| json!({
                    "values": c.values, "release": c.release, "namespace": c.namespace,
                })).collect::<Vec<_>>(),
            });
            let mut child = Command::new(python)
                .args(["-c", RENDER_PY])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
            child
                .stdin
                .take()
                .unwrap()
                .write_all(request.to_string().as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "the Helm renderer failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(results.len(), cases.len());
            results
                .into_iter()
                .zip(cases)
                .map(|(result, case)| {
                    if let Some(error) = result.get("error") {
                        return Err(error.as_str().unwrap_or_default().to_owned());
                    }
                    let files: BTreeMap<String, String> =
                        serde_json::from_value(result["files"].clone()).unwrap();
                    let mut documents = Vec::new();
                    let mut notes = None;
                    for (file, text) in files {
                        if file.ends_with("NOTES.txt") {
                            notes = Some(text);
                        } else if file.ends_with(".yaml") {
                            documents.extend(yaml_documents(&text, &file));
                        }
                    }
                    Ok(Rendered {
                        case: case.clone(),
                        documents,
                        notes,
                    })
                })
                .collect()
        }
        Renderer::Binary(helm) => cases
            .iter()
            .enumerate()
            .map(|(i, case)| {
                let values = std::env::temp_dir().join(format!(
                    "locust-operator-helm-test-{}-{i}.json",
                    std::process::id()
                ));
                std::fs::write(&values, case.values.to_string()).unwrap();
                let out = Command::new(helm)
                    .arg("template")
                    .arg(&case.release)
                    .arg(&chart)
                    .args(["--namespace", &case.namespace, "--values"])
                    .arg(&values)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                let _ = std::fs::remove_file(&values);
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                }
                Ok(Rendered {
                    case: case.clone(),
                    documents: yaml_documents(&String::from_utf8_lossy(&out.stdout), "helm"),
                    notes: None,
                })
            })
            .collect(),
    }
}

/// Renders cases that must render.
fn render_ok(renderer: &Renderer, cases: &[Case]) -> Vec<Rendered> {
    render_all(renderer, cases)
        .into_iter()
        .zip(cases)
        .map(|(result, case)| {
            result.unwrap_or_else(|e| panic!("{}: {} does not render: {e}", case.what, case.values))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Typed objects

/// Names of fields in `original` that the typed round trip lost (unknown or misspelled).
fn lost_in_round_trip(original: &Value, back: &Value, path: &str, lost: &mut Vec<String>) {
    match (original, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (key, value) in o {
                match b.get(key) {
                    Some(inner) => lost_in_round_trip(value, inner, &format!("{path}.{key}"), lost),
                    None => lost.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(o), Value::Array(b)) if o.len() == b.len() => {
            for (i, (value, inner)) in o.iter().zip(b).enumerate() {
                lost_in_round_trip(value, inner, &format!("{path}[{i}]"), lost);
            }
        }
        // A float field reads `0` and writes `0.0`: the same number.
        (Value::Number(o), Value::Number(b)) if o.as_f64() == b.as_f64() => {}
        (o, b) if o != b => lost.push(format!("{path} ({o} became {b})")),
        _ => {}
    }
}

/// Parses `value` into `T`, failing on any field `T` does not have.
fn strict<T: DeserializeOwned + Serialize>(value: &Value) -> T {
    let typed: T = serde_path_to_error::deserialize(value.clone()).unwrap_or_else(|e| {
        panic!(
            "not a {}: {}: {}\n{value:#}",
            std::any::type_name::<T>(),
            e.path(),
            e.inner()
        )
    });
    let back = serde_json::to_value(&typed).unwrap();
    let mut lost = Vec::new();
    lost_in_round_trip(value, &back, "", &mut lost);
    assert!(
        lost.is_empty(),
        "unknown or misspelled field(s) of {}: {lost:?}",
        std::any::type_name::<T>()
    );
    typed
}

/// cert-manager's `Issuer` and `Certificate`, with the fields this chart uses (strict).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CertManagerObject<S> {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: S,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IssuerSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    self_signed: Option<serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<CaIssuer>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CaIssuer {
    secret_name: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CertificateSpec {
    #[serde(rename = "isCA", skip_serializing_if = "Option::is_none")]
    is_ca: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    common_name: Option<String>,
    secret_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_template: Option<SecretTemplate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    renew_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<PrivateKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usages: Option<Vec<String>>,
    issuer_ref: IssuerRef,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SecretTemplate {
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PrivateKey {
    algorithm: String,
    size: u32,
    rotation_policy: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct IssuerRef {
    group: String,
    kind: String,
    name: String,
}

type Issuer = CertManagerObject<IssuerSpec>;
type Certificate = CertManagerObject<CertificateSpec>;
const CERT_MANAGER: &str = "cert-manager.io/v1";

fn kind_of(value: &Value) -> (&str, &str) {
    (
        value["apiVersion"].as_str().unwrap_or_default(),
        value["kind"].as_str().unwrap_or_default(),
    )
}

/// Parses a document into its typed form, by apiVersion and kind.
fn check_typed(value: &Value) {
    macro_rules! dispatch {
        ($($kind:ty),* $(,)?) => {{
            $(
                if kind_of(value) == (<$kind>::API_VERSION, <$kind>::KIND) {
                    strict::<$kind>(value);
                    return;
                }
            )*
        }};
    }
    dispatch!(
        Namespace,
        ServiceAccount,
        Service,
        Deployment,
        PodDisruptionBudget,
        ClusterRole,
        ClusterRoleBinding,
        Role,
        RoleBinding,
        MutatingWebhookConfiguration,
        ValidatingWebhookConfiguration,
        CustomResourceDefinition,
    );
    match kind_of(value) {
        (CERT_MANAGER, "Issuer") => drop(strict::<Issuer>(value)),
        (CERT_MANAGER, "Certificate") => drop(strict::<Certificate>(value)),
        other => panic!("unexpected object kind {other:?}"),
    }
}

impl Rendered {
    fn all<T: Resource + DeserializeOwned + Serialize>(&self) -> Vec<T> {
        self.documents
            .iter()
            .filter(|d| kind_of(d) == (T::API_VERSION, T::KIND))
            .map(strict)
            .collect()
    }

    fn find<T: Resource + DeserializeOwned + Serialize>(&self, name: &str) -> Option<T> {
        self.documents
            .iter()
            .find(|d| kind_of(d) == (T::API_VERSION, T::KIND) && d["metadata"]["name"] == name)
            .map(strict)
    }

    fn one<T: Resource + DeserializeOwned + Serialize>(&self, name: &str) -> T {
        self.find(name)
            .unwrap_or_else(|| panic!("{}: no {} {name}", self.case.what, T::KIND))
    }

    fn cert_manager<S: DeserializeOwned + Serialize>(
        &self,
        kind: &str,
    ) -> Vec<CertManagerObject<S>> {
        self.documents
            .iter()
            .filter(|d| kind_of(d) == (CERT_MANAGER, kind))
            .map(strict)
            .collect()
    }

    fn deployment(&self) -> Deployment {
        let mut all = self.all::<Deployment>();
        assert_eq!(all.len(), 1, "{}: one Deployment", self.case.what);
        all.remove(0)
    }

    fn fullname(&self) -> String {
        self.deployment().metadata.name.unwrap()
    }
}

fn container(deployment: &Deployment) -> Container {
    let spec = deployment.spec.clone().unwrap().template.spec.unwrap();
    assert_eq!(spec.containers.len(), 1);
    let container = spec.containers[0].clone();
    assert_eq!(container.name, "operator");
    container
}

/// `run` and its flags, parsed by the operator's own flag definitions.
#[derive(Parser, Debug, PartialEq)]
struct RunArgs {
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(flatten)]
    flags: ProcessFlags,
}

fn run_args(container: &Container) -> RunArgs {
    let args = container.args.clone().unwrap_or_default();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
    // The first argument stands where the program name would.
    RunArgs::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The container's literal environment (`valueFrom` entries left out).
fn literal_env(container: &Container) -> BTreeMap<String, String> {
    container
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
        .collect()
}

/// The operator's configuration from the container's environment, as the operator reads it.
fn operator_config(container: &Container) -> Config {
    let env = literal_env(container);
    let (config, warnings) = Config::from_lookup(&|name| env.get(name).cloned())
        .unwrap_or_else(|e| panic!("the operator would not start: {e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    config
}

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn service_reference(
    r: &Rendered,
    config: &WebhookClientConfig,
    path: &str,
    what: &str,
) -> Option<String> {
    let reference = config.service.as_ref().expect("a service reference");
    assert_eq!(reference.namespace, r.case.namespace, "{what}");
    assert_eq!(reference.path.as_deref(), Some(path), "{what}");
    let port = reference.port.unwrap_or(443);
    let service: Service = r.one(&reference.name);
    assert!(
        service
            .spec
            .unwrap()
            .ports
            .unwrap()
            .iter()
            .any(|p| p.port == port),
        "{what}: Service {} has no port {port}",
        reference.name
    );
    config
        .ca_bundle
        .as_ref()
        .map(|b| String::from_utf8(b.0.clone()).expect("PEM"))
}

/// Everything in one render refers to objects of the same render, and the operator accepts
/// its flags and environment.
fn check_consistency(r: &Rendered) {
    let what = &r.case.what;
    let ns = &r.case.namespace;

    // Typed, unique, namespaced where they should be.
    let mut keys = BTreeSet::new();
    for document in &r.documents {
        check_typed(document);
        let key = (
            kind_of(document).1.to_owned(),
            document["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            document["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        );
        assert!(keys.insert(key.clone()), "{what}: {key:?} twice");
    }
    let cluster_scoped = [
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "CustomResourceDefinition",
    ];
    for (kind, namespace, name) in &keys {
        if cluster_scoped.contains(&kind.as_str()) {
            assert!(
                namespace.is_empty(),
                "{what}: {kind} {name} has a namespace"
            );
        } else if !(kind.starts_with("Role") && name == &r.fullname()) {
            assert_eq!(namespace, ns, "{what}: {kind} {name}");
        }
    }

    // The Deployment, its pods, flags and environment.
    let deployment = r.deployment();
    let fullname = r.fullname();
    let spec = deployment.spec.clone().unwrap();
    let pod_labels = spec.template.metadata.clone().unwrap().labels.unwrap();
    let selector = spec.selector.match_labels.clone().unwrap();
    assert!(
        labels_match(&selector, &pod_labels),
        "{what}: Deployment selector"
    );
    let pod = spec.template.spec.clone().unwrap();
    let account = pod.service_account_name.clone().unwrap();
    r.one::<ServiceAccount>(&account);
    let container = container(&deployment);
    let args = run_args(&container);
    let config = operator_config(&container);
    drop(config);
    let port_names: BTreeMap<String, i32> = container
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap(), p.container_port))
        .collect();
    let bound = |address: std::net::SocketAddr| i32::from(address.port());
    assert_eq!(
        port_names["webhook"],
        bound(args.flags.server.webhook_bind_address)
    );
    assert_eq!(
        port_names["metrics"],
        bound(args.flags.server.metrics_bind_address)
    );
    assert_eq!(
        port_names["probes"],
        bound(args.flags.server.health_probe_bind_address)
    );
    for probe in [&container.liveness_probe, &container.readiness_probe] {
        let get = probe.clone().unwrap().http_get.unwrap();
        assert_eq!(get.port, IntOrString::String("probes".into()), "{what}");
    }
    if r.case.values.pointer("/image/tag").is_none() {
        assert!(
            container
                .image
                .clone()
                .unwrap()
                .ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
            "{what}: the image tag defaults to the operator's version"
        );
    }

    // Services and the PDB select the operator pods; target ports exist.
    for service in r.all::<Service>() {
        let service_spec = service.spec.unwrap();
        assert!(
            labels_match(&service_spec.selector.unwrap(), &pod_labels),
            "{what}: Service selector"
        );
        for port in service_spec.ports.unwrap() {
            match port.target_port.unwrap() {
                IntOrString::String(name) => {
                    assert!(port_names.contains_key(&name), "{what}: targetPort {name}")
                }
                IntOrString::Int(number) => panic!("{what}: numeric targetPort {number}"),
            }
        }
    }
    for pdb in r.all::<PodDisruptionBudget>() {
        let pdb_selector = pdb.spec.unwrap().selector.unwrap().match_labels.unwrap();
        assert_eq!(pdb_selector, selector, "{what}: PDB selector");
    }

    // Webhooks and the CRD conversion go through a rendered Service, with the server's paths.
    let mut ca_bundles = Vec::new();
    let mut inject = Vec::new();
    let mutating: Vec<MutatingWebhookConfiguration> = r.all();
    let validating: Vec<ValidatingWebhookConfiguration> = r.all();
    assert_eq!((mutating.len(), validating.len()), (1, 1), "{what}");
    for webhook in mutating[0].webhooks.iter().flatten() {
        ca_bundles.push(service_reference(
            r,
            &webhook.client_config,
            MUTATE_PATH,
            what,
        ));
        assert!(i64::from(webhook.timeout_seconds.unwrap()) > HANDLER_TIMEOUT.as_secs() as i64);
    }
    for webhook in validating[0].webhooks.iter().flatten() {
        ca_bundles.push(service_reference(
            r,
            &webhook.client_config,
            VALIDATE_PATH,
            what,
        ));
        assert!(i64::from(webhook.timeout_seconds.unwrap()) > HANDLER_TIMEOUT.as_secs() as i64);
    }
    inject.push(mutating[0].metadata.annotations.clone());
    inject.push(validating[0].metadata.annotations.clone());
    if let Some(crd) = r.find::<CustomResourceDefinition>(CRD_NAME) {
        let webhook = crd.spec.conversion.unwrap().webhook.unwrap();
        let config = webhook.client_config.unwrap();
        let reference = config.service.clone().unwrap();
        let as_admission = WebhookClientConfig {
            ca_bundle: config.ca_bundle.clone(),
            service: Some(
                k8s_openapi::api::admissionregistration::v1::ServiceReference {
                    name: reference.name,
                    namespace: reference.namespace,
                    path: reference.path,
                    port: reference.port,
                },
            ),
            url: None,
        };
        ca_bundles.push(service_reference(r, &as_admission, CONVERT_PATH, what));
        inject.push(crd.metadata.annotations.clone());
        assert_eq!(
            crd.spec.versions,
            locust_test_crd().unwrap().spec.versions,
            "{what}: the chart's CRD versions are the generated ones"
        );
    }

    // The certificate, by mode.
    let volumes = pod.volumes.clone().unwrap_or_default();
    let mode = r
        .case
        .values
        .pointer("/certificates/mode")
        .and_then(Value::as_str);
    let inject_from = |annotations: &Option<BTreeMap<String, String>>| {
        annotations
            .as_ref()
            .and_then(|a| a.get("cert-manager.io/inject-ca-from").cloned())
    };
    let certificates: Vec<Certificate> = r.cert_manager("Certificate");
    let issuers: Vec<Issuer> = r.cert_manager("Issuer");
    match mode.unwrap_or("certManager") {
        "certManager" => {
            assert_eq!(args.flags.certs.mode, CertMode::Files, "{what}");
            let serving = certificates
                .iter()
                .find(|c| c.spec.dns_names.is_some())
                .expect("the serving Certificate");
            let serving_name = serving.metadata.name.clone().unwrap();
            for annotations in &inject {
                assert_eq!(
                    inject_from(annotations),
                    Some(format!("{ns}/{serving_name}")),
                    "{what}: CA injection"
                );
            }
            assert!(ca_bundles.iter().all(Option::is_none), "{what}");
            assert_eq!(volumes.len(), 1, "{what}");
            let secret = volumes[0].secret.clone().unwrap().secret_name.unwrap();
            assert_eq!(secret, serving.spec.secret_name, "{what}: mounted Secret");
            let service = mutating[0].webhooks.as_ref().unwrap()[0]
                .client_config
                .service
                .clone()
                .unwrap()
                .name;
            let dns_names = serving.spec.dns_names.clone().unwrap();
            assert!(
                dns_names.contains(&format!("{service}.{ns}.svc")),
                "{what}: {dns_names:?}"
            );
            // The chain: self-signed Issuer -> CA Certificate -> CA Issuer -> serving Certificate.
            let issuer = |name: &str| {
                issuers
                    .iter()
                    .find(|i| i.metadata.name.as_deref() == Some(name))
                    .unwrap_or_else(|| panic!("{what}: no Issuer {name}"))
            };
            let ca_issuer = issuer(&serving.spec.issuer_ref.name);
            let ca_secret = &ca_issuer.spec.ca.as_ref().expect("a CA issuer").secret_name;
            let ca = certificates
                .iter()
                .find(|c| &c.spec.secret_name == ca_secret)
                .expect("the CA Certificate");
            assert_eq!(ca.spec.is_ca, Some(true));
            assert!(issuer(&ca.spec.issuer_ref.name).spec.self_signed.is_some());
        }
        "selfManaged" => {
            let certs = &args.flags.certs;
            assert_eq!(certs.mode, CertMode::SelfManaged, "{what}");
            assert!(volumes.is_empty(), "{what}: no Secret is mounted");
            assert!(certificates.is_empty() && issuers.is_empty(), "{what}");
            assert!(inject.iter().all(|a| inject_from(a).is_none()), "{what}");
            assert!(ca_bundles.iter().all(Option::is_none), "{what}");
            r.one::<Service>(&certs.webhook_service);
            r.one::<MutatingWebhookConfiguration>(&certs.mutating_webhook_configuration);
            r.one::<ValidatingWebhookConfiguration>(&certs.validating_webhook_configuration);
            let role: Role = r.one(&format!("{fullname}-certs"));
            let names: BTreeSet<String> = role
                .rules
                .iter()
                .flatten()
                .flat_map(|rule| rule.resource_names.clone().unwrap_or_default())
                .collect();
            assert_eq!(names, BTreeSet::from([certs.cert_secret.clone()]), "{what}");
            let cluster_role: ClusterRole = r.one(&format!("{fullname}-certs"));
            let names: BTreeSet<String> = cluster_role
                .rules
                .iter()
                .flatten()
                .flat_map(|rule| rule.resource_names.clone().unwrap_or_default())
                .collect();
            assert_eq!(
                names,
                BTreeSet::from([
                    certs.mutating_webhook_configuration.clone(),
                    certs.validating_webhook_configuration.clone(),
                    CRD_NAME.to_owned(),
                ]),
                "{what}"
            );
        }
        "provided" => {
            assert_eq!(args.flags.certs.mode, CertMode::Files, "{what}");
            assert!(certificates.is_empty() && issuers.is_empty(), "{what}");
            assert!(inject.iter().all(|a| inject_from(a).is_none()), "{what}");
            let expected = r
                .case
                .values
                .pointer("/certificates/provided/caBundle")
                .and_then(Value::as_str)
                .map(|b| {
                    let pem = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
                    String::from_utf8(pem).unwrap()
                });
            assert!(
                ca_bundles.iter().all(|b| b == &expected) && expected.is_some(),
                "{what}: every caBundle is the provided one: {ca_bundles:?}"
            );
            let secret = volumes[0].secret.clone().unwrap().secret_name.unwrap();
            assert_eq!(
                Some(secret.as_str()),
                r.case
                    .values
                    .pointer("/certificates/provided/secretName")
                    .and_then(Value::as_str)
            );
        }
        other => panic!("{what}: mode {other}"),
    }
    if !volumes.is_empty() {
        let mounts = container.volume_mounts.clone().unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].name, volumes[0].name);
        assert_eq!(mounts[0].mount_path, CERT_DIR);
        assert_eq!(args.flags.server.cert_dir, Path::new(CERT_DIR));
    }

    // RBAC: bindings name rendered roles and the operator's ServiceAccount.
    let subjects_ok = |subjects: &Option<Vec<Subject>>| {
        let subjects = subjects.clone().unwrap();
        subjects.len() == 1
            && subjects[0].kind == "ServiceAccount"
            && subjects[0].name == account
            && subjects[0].namespace.as_deref() == Some(ns.as_str())
    };
    for binding in r.all::<ClusterRoleBinding>() {
        assert!(subjects_ok(&binding.subjects), "{what}");
        assert_eq!(binding.role_ref.kind, "ClusterRole");
        r.one::<ClusterRole>(&binding.role_ref.name);
    }
    for binding in r.all::<RoleBinding>() {
        assert!(subjects_ok(&binding.subjects), "{what}");
        assert_eq!(binding.role_ref.kind, "Role");
        let role_namespace = binding.metadata.namespace.clone();
        assert!(
            r.all::<Role>()
                .iter()
                .any(
                    |role| role.metadata.name.as_deref() == Some(binding.role_ref.name.as_str())
                        && role.metadata.namespace == role_namespace
                ),
            "{what}: RoleBinding {:?} names a missing Role",
            binding.metadata.name
        );
    }
    let leases = r.all::<Role>().into_iter().any(|role| {
        role.metadata.namespace.as_deref() == Some(ns.as_str())
            && role
                .rules
                .iter()
                .flatten()
                .any(|rule| rule.resources.iter().flatten().any(|res| res == "leases"))
    });
    assert_eq!(
        leases, args.flags.leader_elect,
        "{what}: leader-election RBAC"
    );

    // Namespaced mode: the controller's rules in each watched namespace, none cluster-wide.
    // WATCH_NAMESPACE comes from the environment (clap would read the test's own).
    let watched: Vec<String> = match literal_env(&container).get("WATCH_NAMESPACE") {
        Some(list) => list.split(',').map(str::to_owned).collect(),
        None => args.flags.watch_namespace.0.clone(),
    };
    let controller_rules = |rules: &Option<Vec<k8s_openapi::api::rbac::v1::PolicyRule>>| {
        rules.iter().flatten().any(|rule| {
            rule.resources
                .iter()
                .flatten()
                .any(|res| res == "locusttests")
        })
    };
    let cluster_wide = r
        .all::<ClusterRole>()
        .iter()
        .any(|c| controller_rules(&c.rules));
    assert_eq!(
        cluster_wide,
        watched.is_empty(),
        "{what}: controller ClusterRole"
    );
    for namespace in &watched {
        assert!(
            r.all::<Role>().iter().any(|role| {
                role.metadata.namespace.as_deref() == Some(namespace.as_str())
                    && controller_rules(&role.rules)
            }),
            "{what}: no controller Role in watched namespace {namespace}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Rendered: the tests

fn self_managed() -> Value {
    json!({"certificates": {"mode": "selfManaged"}})
}

fn provided() -> Value {
    json!({"certificates": {"mode": "provided", "provided": {"secretName": "my-webhook-tls", "caBundle": ca_bundle()}}})
}

#[test]
fn every_render_is_typed_and_consistent() {
    let Some(renderer) = renderer() else { return };
    let mut cases = vec![
        case("defaults", json!({})),
        case("self-managed", self_managed()),
        case("provided", provided()),
        case(
            "namespaced",
            json!({"namespaced": {"enabled": true, "namespaces": ["team-a", "team-b"]}}),
        ),
        case(
            "namespaced, self-managed",
            json!({"namespaced": {"enabled": true, "namespaces": ["load-tests"]}, "certificates": {"mode": "selfManaged"}}),
        ),
        case(
            "one replica",
            json!({"replicas": 1, "leaderElection": {"enabled": false}}),
        ),
        case("every locust-pod value", all_locust_pod_values()),
    ];
    for (what, values) in good_values() {
        cases.push(case(what, values));
    }
    for (what, values) in [
        ("another release, cert-manager", json!({})),
        ("another release, self-managed", self_managed()),
        ("another release, provided", provided()),
    ] {
        cases.push(Case {
            what: what.to_owned(),
            values,
            release: "perf".to_owned(),
            namespace: "perf-system".to_owned(),
        });
    }
    cases.push(case(
        "fullnameOverride",
        json!({"fullnameOverride": "lo", "certificates": {"mode": "selfManaged"}}),
    ));
    for rendered in render_ok(renderer, &cases) {
        check_consistency(&rendered);
    }
}

#[test]
fn names_follow_the_release() {
    let Some(renderer) = renderer() else { return };
    let cases = [
        case("default release", json!({})),
        Case {
            what: "release perf".to_owned(),
            values: json!({}),
            release: "perf".to_owned(),
            namespace: "perf-system".to_owned(),
        },
        Case {
            what: "release my-locust-operator".to_owned(),
            values: json!({}),
            release: "my-locust-operator".to_owned(),
            namespace: "x".to_owned(),
        },
    ];
    let rendered = render_ok(renderer, &cases);
    let names = |r: &Rendered| -> BTreeSet<(String, String)> {
        r.documents
            .iter()
            .map(|d| {
                (
                    kind_of(d).1.to_owned(),
                    d["metadata"]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let expected: BTreeSet<(String, String)> = [
        ("ServiceAccount", "locust-operator"),
        ("ClusterRole", "locust-operator"),
        ("ClusterRoleBinding", "locust-operator"),
        ("Role", "locust-operator-leader-election"),
        ("RoleBinding", "locust-operator-leader-election"),
        ("Deployment", "locust-operator"),
        ("PodDisruptionBudget", "locust-operator"),
        ("Service", "locust-operator-webhook"),
        ("Service", "locust-operator-metrics"),
        (
            "MutatingWebhookConfiguration",
            "locust-operator-mutating-webhook",
        ),
        (
            "ValidatingWebhookConfiguration",
            "locust-operator-validating-webhook",
        ),
        ("CustomResourceDefinition", CRD_NAME),
        ("Issuer", "locust-operator-selfsigned"),
        ("Issuer", "locust-operator-ca-issuer"),
        ("Certificate", "locust-operator-ca"),
        ("Certificate", "locust-operator-webhook-cert"),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_owned(), n.to_owned()))
    .collect();
    assert_eq!(names(&rendered[0]), expected);
    let prefixed = |prefix: &str| -> BTreeSet<(String, String)> {
        expected
            .iter()
            .map(|(kind, name)| {
                let name = match name.strip_prefix("locust-operator") {
                    Some(rest) if name != CRD_NAME => format!("{prefix}{rest}"),
                    _ => name.clone(),
                };
                (kind.clone(), name)
            })
            .collect()
    };
    assert_eq!(names(&rendered[1]), prefixed("perf-locust-operator"));
    assert_eq!(names(&rendered[2]), prefixed("my-locust-operator"));
}

#[test]
fn optional_objects_follow_their_values() {
    let Some(renderer) = renderer() else { return };
    let cases = [
        case(
            "one replica",
            json!({"replicas": 1, "leaderElection": {"enabled": false}}),
        ),
        case("no metrics Service", json!({"metrics": {"enabled": false}})),
        case("no CRD", json!({"installCRDs": false})),
        case("defaults", json!({})),
    ];
    let r = render_ok(renderer, &cases);
    assert!(r[0].all::<PodDisruptionBudget>().is_empty());
    assert!(!run_args(&container(&r[0].deployment())).flags.leader_elect);
    assert!(r[1].find::<Service>("locust-operator-metrics").is_none());
    assert!(r[2].find::<CustomResourceDefinition>(CRD_NAME).is_none());

    let defaults = &r[3];
    assert_eq!(defaults.all::<PodDisruptionBudget>().len(), 1);
    let deployment = defaults.deployment();
    let spec = deployment.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    let pod_security = pod.security_context.unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(pod_security.run_as_user, Some(65532));
    assert_eq!(
        pod_security.seccomp_profile.unwrap().type_,
        "RuntimeDefault"
    );
    let anti = pod.affinity.unwrap().pod_anti_affinity.unwrap();
    let preferred = anti
        .preferred_during_scheduling_ignored_during_execution
        .unwrap();
    assert_eq!(
        preferred[0].pod_affinity_term.topology_key,
        "kubernetes.io/hostname"
    );
    let container = container(&deployment);
    let security = container.security_context.clone().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.unwrap().drop,
        Some(vec!["ALL".to_owned()])
    );
    let resources = container.resources.clone().unwrap();
    assert_eq!(resources.requests.unwrap()["cpu"].0, "50m");
    assert_eq!(resources.limits.unwrap()["memory"].0, "256Mi");
    let labels = deployment.metadata.labels.unwrap();
    for (key, value) in [
        ("app.kubernetes.io/name", "locust-operator"),
        ("app.kubernetes.io/instance", RELEASE),
        ("app.kubernetes.io/component", "controller"),
        ("app.kubernetes.io/part-of", "locust-operator"),
    ] {
        assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
    }
    // No locust-pod variable unless a value is set: the operator's defaults apply.
    assert_eq!(
        literal_env(&container),
        BTreeMap::new(),
        "default values set no variable"
    );
    assert_eq!(operator_config(&container), Config::defaults());
    let mutating: MutatingWebhookConfiguration = defaults.one("locust-operator-mutating-webhook");
    let webhook = &mutating.webhooks.unwrap()[0];
    assert_eq!(webhook.name, "mutate.locusttests.locust.io");
    assert_eq!(webhook.failure_policy.as_deref(), Some("Fail"));
    assert_eq!(webhook.side_effects, "None");
    assert_eq!(webhook.match_policy.as_deref(), Some("Equivalent"));
    assert_eq!(webhook.admission_review_versions, vec!["v1".to_owned()]);
    let rule = &webhook.rules.as_ref().unwrap()[0];
    assert_eq!(rule.api_versions, Some(vec!["v1".into(), "v2".into()]));
    assert_eq!(
        rule.operations,
        Some(vec!["CREATE".into(), "UPDATE".into()])
    );
    if let Some(notes) = &defaults.notes {
        assert!(
            notes.contains(NAMESPACE) && notes.contains("certManager"),
            "{notes}"
        );
    }
}

#[test]
fn locust_pod_values_reach_the_operator_configuration() {
    let Some(renderer) = renderer() else { return };
    let r = render_ok(
        renderer,
        &[case("every locust-pod value", all_locust_pod_values())],
    );
    let operator = container(&r[0].deployment());
    let env = literal_env(&operator);
    // "" is rendered, not dropped: it removes that request or limit.
    assert_eq!(env.get("POD_CPU_LIMIT").map(String::as_str), Some(""));
    assert_eq!(
        env.get("JOB_TTL_SECONDS_AFTER_FINISHED")
            .map(String::as_str),
        Some("0")
    );
    let config = operator_config(&operator);

    let quantities = |map: &Option<
        BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >|
     -> BTreeMap<String, String> {
        map.iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect()
    };
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    // Master: its own values, "" removing the memory request.
    assert_eq!(
        quantities(&config.master_resources.requests),
        map(&[("cpu", "1"), ("ephemeral-storage", "10M")])
    );
    assert_eq!(
        quantities(&config.master_resources.limits),
        map(&[
            ("cpu", "2"),
            ("ephemeral-storage", "60M"),
            ("memory", "3Gi")
        ])
    );
    // Worker: its own values, falling back to POD_* where unset is impossible here; "" removes.
    assert_eq!(
        quantities(&config.worker_resources.requests),
        map(&[("cpu", "500m"), ("memory", "512Mi")])
    );
    assert_eq!(
        quantities(&config.worker_resources.limits),
        map(&[("cpu", "1500m"), ("ephemeral-storage", "70M")])
    );
    assert_eq!(config.job_ttl_seconds_after_finished, Some(0));
    assert_eq!(config.default_runtime_class_name.as_deref(), Some("gvisor"));
    assert!(!config.affinity_injection && !config.tolerations_injection);
    assert_eq!(config.exporter.image, "example.org/exporter:v1");
    assert_eq!(config.exporter.port, 9999);
    assert_eq!(config.exporter.pull_policy, "Always");
    assert_eq!(
        quantities(&config.exporter.resources.requests),
        map(&[("ephemeral-storage", "1M"), ("memory", "32Mi")])
    );
    assert_eq!(
        quantities(&config.exporter.resources.limits),
        map(&[("cpu", "500m"), ("ephemeral-storage", "2M")])
    );
    let kafka = config.kafka.expect("Kafka configured");
    assert_eq!(kafka.bootstrap_servers, "kafka:9092");
    assert!(kafka.security_enabled);
    assert_eq!(kafka.security_protocol, "SASL_SSL");
    assert_eq!(kafka.sasl_mechanism, "PLAIN");
    assert_eq!(
        kafka.sasl_jaas_config.as_deref(),
        Some("org.apache.kafka.common.security.plain.PlainLoginModule required;")
    );
    assert_eq!(kafka.username.as_deref(), Some("locust"));
    assert_eq!(
        kafka.password_secret,
        Some(("kafka-credentials".to_owned(), "pass".to_owned()))
    );

    // Global values reach both roles where a role sets nothing.
    let r = render_ok(
        renderer,
        &[case(
            "global only",
            json!({"locustPods": {"resources": {"cpuRequest": "300m", "cpuLimit": "", "master": {"cpuLimit": "2"}}}}),
        )],
    );
    let config = operator_config(&container(&r[0].deployment()));
    assert_eq!(quantities(&config.worker_resources.requests)["cpu"], "300m");
    assert!(!quantities(&config.worker_resources.limits).contains_key("cpu"));
    assert_eq!(quantities(&config.master_resources.limits)["cpu"], "2");
    assert_eq!(quantities(&config.master_resources.requests)["cpu"], "300m");
}

#[test]
fn every_operator_variable_can_be_set_from_values() {
    let Some(renderer) = renderer() else { return };
    let r = render_ok(
        renderer,
        &[case("every locust-pod value", all_locust_pod_values())],
    );
    let env = literal_env(&container(&r[0].deployment()));
    let asked = RefCell::new(BTreeSet::new());
    Config::from_lookup(&|name| {
        asked.borrow_mut().insert(name.to_owned());
        env.get(name).cloned()
    })
    .expect("valid");
    let asked = asked.into_inner();
    let settable: BTreeSet<String> = env.keys().cloned().collect();
    // A literal password is deliberately never passed (only a secretKeyRef).
    let missing: Vec<_> = asked
        .difference(&settable)
        .filter(|name| *name != "KAFKA_PASSWORD")
        .collect();
    assert!(
        missing.is_empty(),
        "read by the operator, not settable from values: {missing:?}"
    );
    let unread: Vec<_> = settable.difference(&asked).collect();
    assert!(
        unread.is_empty(),
        "set by the chart, never read by the operator: {unread:?}"
    );
}

#[test]
fn helm_applies_the_schema() {
    let Some(renderer) = renderer() else { return };
    let bad = bad_values();
    let cases: Vec<Case> = bad
        .iter()
        .map(|(what, values, _)| case(what, values.clone()))
        .collect();
    for ((what, values, _), result) in bad.iter().zip(render_all(renderer, &cases)) {
        let error = match result {
            Ok(_) => panic!("{what}: Helm rendered {values}"),
            Err(error) => error,
        };
        assert!(
            error.contains("schema") || error.contains("values don't meet"),
            "{what}: Helm failed for another reason: {error}"
        );
    }
    let good = good_values();
    let cases: Vec<Case> = good
        .iter()
        .map(|(what, values)| case(what, values.clone()))
        .collect();
    render_ok(renderer, &cases);
}

// ---------------------------------------------------------------------------------------------
// Against kustomize

/// Removes what only Helm adds (its labels and annotations, then empty maps), replaces the
/// operator's arguments by their parsed meaning (so `--leader-elect=true` equals its absence),
/// and sorts its environment by name.
fn normalize(document: &Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for key in HELM_ONLY_KEYS {
                    map.remove(key);
                }
                for child in map.values_mut() {
                    strip(child);
                }
                for key in ["labels", "annotations"] {
                    if map
                        .get(key)
                        .is_some_and(|v| v.as_object().is_some_and(|m| m.is_empty()))
                    {
                        map.remove(key);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = document.clone();
    strip(&mut value);
    if kind_of(&value) == (Deployment::API_VERSION, Deployment::KIND) {
        let deployment: Deployment = strict(&value);
        let args = run_args(&container(&deployment));
        let container = &mut value["spec"]["template"]["spec"]["containers"][0];
        container["args"] = json!(format!("{args:?}"));
        // Order matters only between variables that reference each other (none do); kustomize
        // puts a patched-in variable first.
        if let Some(env) = container.get_mut("env").and_then(Value::as_array_mut) {
            env.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        }
    }
    value
}

fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .find_map(|key| match (x.get(key), y.get(key)) {
                    (Some(v), Some(w)) => first_difference(v, w, &format!("{path}.{key}")),
                    (v, w) => Some(format!("{path}.{key}: {v:?} vs {w:?}")),
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]"))),
        // kustomize writes the CRD's `minimum: 0.0` as `0`: the same number.
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        (x, y) if x != y => Some(format!("{path}: {x} vs {y}")),
        _ => None,
    }
}

type Key = (String, String, String);

fn by_key(documents: &[Value]) -> BTreeMap<Key, Value> {
    documents
        .iter()
        .map(|d| {
            let key = (
                kind_of(d).1.to_owned(),
                d["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                d["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            );
            (key, normalize(d))
        })
        .collect()
}

fn kustomize(overlay: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(overlay)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("kubectl (for `kubectl kustomize`) must be on PATH: {e}"));
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        overlay.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_documents(&String::from_utf8_lossy(&out.stdout), "kustomize")
}

#[test]
fn helm_renders_the_kustomize_objects() {
    let Some(renderer) = renderer() else { return };
    let overlays = [
        ("cert-manager", json!({})),
        ("self-managed-certs", self_managed()),
        (
            "namespaced",
            json!({"namespaced": {"enabled": true, "namespaces": ["load-tests"]}}),
        ),
    ];
    let mut compared = Vec::new();
    let mut not_compared = Vec::new();
    let mut failures = Vec::new();
    for (overlay, values) in overlays {
        let dir = Path::new(ROOT).join("deploy/overlays").join(overlay);
        if !dir.join("kustomization.yaml").is_file() {
            not_compared.push(overlay);
            continue;
        }
        let theirs = kustomize(&dir);
        for document in &theirs {
            check_typed(document);
        }
        let ours = render_ok(renderer, &[case(overlay, values)]).remove(0);
        let mut theirs = by_key(&theirs);
        let ours = by_key(&ours.documents);
        // Helm installs into an existing namespace (`--create-namespace`): it owns no Namespace.
        theirs.retain(|(kind, _, _), _| kind != "Namespace");
        for key in theirs.keys().filter(|k| !ours.contains_key(*k)) {
            failures.push(format!("{overlay}: only kustomize has {key:?}"));
        }
        for key in ours.keys().filter(|k| !theirs.contains_key(*k)) {
            failures.push(format!("{overlay}: only Helm has {key:?}"));
        }
        for (key, value) in &ours {
            if let Some(other) = theirs.get(key)
                && let Some(difference) = first_difference(value, other, "")
            {
                failures.push(format!(
                    "{overlay}: {key:?} differs (Helm vs kustomize) at {difference}"
                ));
            }
        }
        compared.push(overlay);
    }
    eprintln!("compared with kustomize: {compared:?}; overlays not there yet: {not_compared:?}");
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// Values files of the Go operator's chart

/// The documents of a render by (kind, namespace, name), as rendered.
fn documents_by_key(r: &Rendered) -> BTreeMap<Key, Value> {
    r.documents
        .iter()
        .map(|d| {
            let key = (
                kind_of(d).1.to_owned(),
                d["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                d["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            );
            (key, d.clone())
        })
        .collect()
}

/// Renders each (what, the Go chart's values, this chart's values with the same meaning) and
/// asserts the same objects, field for field, and the same notes; each render of this chart's
/// keys is also checked for consistency. Returns the renders of the Go values.
fn assert_same_install(renderer: &Renderer, pairs: &[(&str, Value, Value)]) -> Vec<Rendered> {
    let cases: Vec<Case> = pairs
        .iter()
        .flat_map(|(what, go, ours)| {
            [
                case(&format!("{what}, in the Go chart's keys"), go.clone()),
                case(&format!("{what}, in this chart's keys"), ours.clone()),
            ]
        })
        .collect();
    let mut renders = render_ok(renderer, &cases).into_iter();
    let mut go_renders = Vec::new();
    while let (Some(go), Some(ours)) = (renders.next(), renders.next()) {
        check_consistency(&ours);
        let (theirs, mine) = (documents_by_key(&go), documents_by_key(&ours));
        assert_eq!(
            theirs.keys().collect::<Vec<_>>(),
            mine.keys().collect::<Vec<_>>(),
            "{}: other objects than {}",
            go.case.what,
            ours.case.what
        );
        for (key, document) in &theirs {
            if let Some(difference) = first_difference(document, &mine[key], "") {
                panic!(
                    "{}: {key:?} differs from {} at {difference}",
                    go.case.what, ours.case.what
                );
            }
        }
        assert_eq!(go.notes, ours.notes, "{}: notes", go.case.what);
        go_renders.push(go);
    }
    go_renders
}

/// Someone switching passes the Go chart's whole `values.yaml`: a working install, the objects
/// of this chart's keys with the same meaning (where their defaults differ, the Go values win:
/// they are what the user's file says).
#[test]
fn go_chart_defaults_install_like_this_chart() {
    let Some(renderer) = renderer() else { return };
    let ours = json!({
        "fullnameOverride": "locust-operator",
        "replicas": 2,
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                      "requests": {"cpu": "10m", "memory": "64Mi"}},
        "terminationGracePeriodSeconds": 10,
        "metrics": {"enabled": false},
        // Without webhooks the Go chart needed no certificate: here the operator makes its own.
        "certificates": {"mode": "selfManaged"},
        "namespaced": {"enabled": false},
        "locustPods": {
            "resources": {"cpuRequest": "250m", "memRequest": "128Mi", "ephemeralRequest": "30M",
                          "cpuLimit": "1000m", "memLimit": "1024Mi", "ephemeralLimit": "50M"},
            "affinityInjection": true,
            "tolerationsInjection": true,
            "metricsExporter": {
                "image": "containersol/locust_exporter:v0.5.0", "port": 9646,
                "pullPolicy": "IfNotPresent",
                "resources": {"cpuRequest": "100m", "memRequest": "64Mi", "ephemeralRequest": "30M",
                              "cpuLimit": "250m", "memLimit": "128Mi", "ephemeralLimit": "50M"}
            }
        }
    });
    let r = assert_same_install(
        renderer,
        &[("the Go chart's values.yaml", go_chart_defaults(), ours)],
    )
    .remove(0);

    // What that means, checked on the render itself.
    let deployment = r.deployment();
    let spec = deployment.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.termination_grace_period_seconds, Some(10));
    let operator = container(&deployment);
    assert_eq!(
        operator.image.as_deref(),
        Some(
            format!(
                "ghcr.io/locust-operator/locust-operator:{}",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        ),
        "the Go chart's image stands for the operator's image"
    );
    assert_eq!(
        operator.resources.clone().unwrap().requests.unwrap()["cpu"].0,
        "10m"
    );
    assert_eq!(run_args(&operator).flags.certs.mode, CertMode::SelfManaged);
    // The Go chart's defaults for the test pods are the operator's own.
    assert_eq!(literal_env(&operator)["POD_CPU_LIMIT"], "1000m");
    assert_eq!(operator_config(&operator), Config::defaults());
    assert!(r.find::<Service>("locust-operator-metrics").is_none());
    assert_eq!(r.all::<PodDisruptionBudget>().len(), 1);
    assert!(r.cert_manager::<CertificateSpec>("Certificate").is_empty());
}

/// A Go values file setting every key this chart translates (and the rest at values that
/// change nothing), and one case for each other meaning of the Go keys: the objects of this
/// chart's keys with the same meaning.
#[test]
fn go_chart_values_are_translated() {
    let Some(renderer) = renderer() else { return };
    let file = go_chart_file("non-default-values.yaml");
    // The Go operator read the Kafka user name from the credentials Secret; this one takes it
    // as a value (rejected without it, below).
    let go = coalesce(
        &file,
        &json!({"locustPods": {"kafka": {"username": "locust"}}}),
    );
    let mut ours = json!({
        "image": {"repository": "registry.example.com/locust-operator", "tag": "0.1.0-rc.1",
                  "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "regcred"}, {"name": "mirror-credentials"}],
        "replicas": 3,
        "fullnameOverride": "lo-operator",
        "terminationGracePeriodSeconds": 45,
        "metrics": {"enabled": true, "port": 9090},
        "webhook": {"port": 10250},
        "certificates": {"mode": "certManager"},
        "namespaced": {"enabled": true, "namespaces": [NAMESPACE]},
        "locustPods": {
            // The Go chart's "" (ephemeralStorage request) is its default, not a removal.
            "resources": {
                "cpuRequest": "300m", "memRequest": "256Mi",
                "cpuLimit": "2", "memLimit": "2Gi", "ephemeralLimit": "100M",
                "master": {"cpuRequest": "500m", "memLimit": "3Gi"},
                "worker": {"memRequest": "512Mi", "ephemeralRequest": "40M", "cpuLimit": "1.5"}
            },
            "affinityInjection": false,
            "tolerationsInjection": false,
            "ttlSecondsAfterFinished": 3600,
            "metricsExporter": {
                "image": "registry.example.com/locust_exporter:v0.5.0", "port": 9999,
                "pullPolicy": "Always",
                "resources": {"cpuRequest": "50m", "memRequest": "32Mi", "cpuLimit": "500m",
                              "ephemeralLimit": "60M"}
            },
            "kafka": {
                "bootstrapServers": "kafka.example.org:9093", "securityEnabled": true,
                "securityProtocol": "SASL_SSL", "saslMechanism": "PLAIN",
                "saslJaasConfig": "org.apache.kafka.common.security.plain.PlainLoginModule required;",
                "username": "locust",
                "passwordSecret": {"name": "kafka-credentials", "key": "pass"}
            }
        }
    });
    // The same keys in both charts, with the same meaning.
    for key in [
        "resources",
        "podAnnotations",
        "nodeSelector",
        "tolerations",
        "affinity",
    ] {
        ours[key] = file[key].clone();
    }
    let bundle = ca_bundle();
    let go_provided = json!({"webhook": {"enabled": true, "certManager": {"enabled": false}}});
    let ours_provided = |secret: &str| {
        json!({"certificates": {"mode": "provided",
        "provided": {"secretName": secret, "caBundle": bundle}}})
    };
    let renders = assert_same_install(
        renderer,
        &[
            ("every translated key", go, ours),
            (
                "webhooks with your certificate",
                coalesce(
                    &go_provided,
                    &json!({"certificates": {"provided": {"caBundle": bundle}}}),
                ),
                ours_provided("locust-operator-webhook-certs"),
            ),
            (
                "webhooks with your certificate in your Secret",
                coalesce(
                    &go_provided,
                    &json!({"certificates": {"provided": {"secretName": "my-tls", "caBundle": bundle}}}),
                ),
                ours_provided("my-tls"),
            ),
            (
                "cert-manager without webhooks",
                json!({"webhook": {"certManager": {"enabled": true}}}),
                json!({"certificates": {"mode": "selfManaged"}}),
            ),
            (
                "webhooks with cert-manager by default",
                json!({"webhook": {"enabled": true}}),
                json!({"certificates": {"mode": "certManager"}}),
            ),
            (
                "a cluster role",
                json!({"k8s": {"clusterRole": {"enabled": true}}}),
                json!({"namespaced": {"enabled": false}}),
            ),
            (
                "agreeing keys of both charts",
                json!({
                    "replicaCount": 3, "replicas": 3,
                    "webhook": {"enabled": false}, "certificates": {"mode": "selfManaged"},
                    "image": {"pullSecrets": ["regcred"]}, "imagePullSecrets": [{"name": "regcred"}],
                    "k8s": {"clusterRole": {"enabled": false}},
                    "namespaced": {"enabled": true, "namespaces": [NAMESPACE]},
                    "locustPods": {"resources": {"limits": {"cpu": "2"}, "cpuLimit": "2"}}
                }),
                json!({
                    "replicas": 3, "certificates": {"mode": "selfManaged"},
                    "imagePullSecrets": [{"name": "regcred"}],
                    "namespaced": {"enabled": true, "namespaces": [NAMESPACE]},
                    "locustPods": {"resources": {"cpuLimit": "2"}}
                }),
            ),
            (
                "Kafka with the Go chart's defaults",
                json!({"kafka": {"enabled": true}}),
                json!({"locustPods": {"kafka": {"bootstrapServers": "localhost:9092"}}}),
            ),
            (
                "Kafka servers from this chart's key",
                json!({"kafka": {"enabled": true},
                       "locustPods": {"kafka": {"bootstrapServers": "kafka:9092"}}}),
                json!({"locustPods": {"kafka": {"bootstrapServers": "kafka:9092"}}}),
            ),
            (
                "Kafka security off: its settings change nothing, as in the Go chart",
                json!({"kafka": {"enabled": true, "bootstrapServers": "kafka:9092",
                                 "security": {"enabled": false, "protocol": "SSL", "jaasConfig": "x"},
                                 "credentials": {"secretName": "kafka-credentials"}}}),
                json!({"locustPods": {"kafka": {"bootstrapServers": "kafka:9092",
                                                "securityEnabled": false}}}),
            ),
            (
                "Kafka off: its settings change nothing, as in the Go chart",
                json!({"kafka": {"enabled": false, "bootstrapServers": "kafka:9092",
                                 "security": {"enabled": true, "protocol": "SSL"}}}),
                json!({}),
            ),
            (
                "quantities as numbers",
                json!({"locustPods": {
                    "resources": {"limits": {"cpu": 2, "memory": ""}},
                    "metricsExporter": {"resources": {"requests": {"cpu": 0.5}}}}}),
                json!({"locustPods": {
                    "resources": {"cpuLimit": "2"},
                    "metricsExporter": {"resources": {"cpuRequest": "0.5"}}}}),
            ),
            (
                "no TTL, the Go chart's way",
                json!({"locustPods": {"ttlSecondsAfterFinished": ""}}),
                json!({}),
            ),
            (
                "TTL 0 in quotes",
                json!({"locustPods": {"ttlSecondsAfterFinished": "0"}}),
                json!({"locustPods": {"ttlSecondsAfterFinished": 0}}),
            ),
            (
                "the Go operator's image, untagged",
                json!({"image": {"repository": "lotest/locust-k8s-operator", "tag": ""}}),
                json!({}),
            ),
            (
                "one replica",
                json!({"replicaCount": 1, "leaderElection": {"enabled": false},
                       "podDisruptionBudget": {"enabled": false}}),
                json!({"replicas": 1, "leaderElection": {"enabled": false}}),
            ),
            (
                "one replica with the Go chart's budget",
                json!({"replicaCount": 1, "leaderElection": {"enabled": false},
                       "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1}}),
                json!({"replicas": 1, "leaderElection": {"enabled": false}}),
            ),
            (
                "three replicas with this chart's budget",
                json!({"replicaCount": 3, "podDisruptionBudget": {"maxUnavailable": 2}}),
                json!({"replicas": 3}),
            ),
            (
                "keys without a meaning here, at values that change nothing",
                json!({
                    "extraEnv": [],
                    "metrics": {"secure": false},
                    "serviceAccount": {"create": true, "name": "", "annotations": {}},
                    "otelCollector": {"enabled": false, "image": "example.org/collector:1",
                                      "replicas": 3, "config": "receivers: {}"},
                    "podSecurityContext": {"runAsUser": 65532, "fsGroup": 65532},
                    "containerSecurityContext": {"readOnlyRootFilesystem": true,
                                                 "capabilities": {"drop": ["ALL"]}},
                    "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1},
                    "config": {}
                }),
                json!({}),
            ),
        ],
    );

    // What the file means, checked on its render itself.
    let r = &renders[0];
    let deployment = r.deployment();
    let spec = deployment.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(3));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.termination_grace_period_seconds, Some(45));
    let secrets: Vec<String> = pod
        .image_pull_secrets
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(secrets, ["regcred", "mirror-credentials"]);
    let operator = container(&deployment);
    assert_eq!(
        literal_env(&operator)
            .get("WATCH_NAMESPACE")
            .map(String::as_str),
        Some(NAMESPACE)
    );
    assert_eq!(run_args(&operator).flags.certs.mode, CertMode::Files);
    assert_eq!(r.cert_manager::<CertificateSpec>("Certificate").len(), 2);
    let budget = r.all::<PodDisruptionBudget>().remove(0).spec.unwrap();
    assert_eq!(budget.min_available, Some(IntOrString::Int(1)));
    let config = operator_config(&operator);
    let quantity =
        |list: &Option<
            BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
        >,
         key: &str| { list.as_ref().and_then(|l| l.get(key)).map(|q| q.0.clone()) };
    assert_eq!(
        quantity(&config.master_resources.requests, "cpu").as_deref(),
        Some("500m")
    );
    assert_eq!(
        quantity(&config.worker_resources.requests, "cpu").as_deref(),
        Some("300m")
    );
    assert_eq!(
        quantity(&config.worker_resources.limits, "cpu").as_deref(),
        Some("1.5")
    );
    // "" in the Go chart: the default, not a removal.
    assert_eq!(
        quantity(&config.master_resources.requests, "ephemeral-storage").as_deref(),
        Some("30M")
    );
    assert_eq!(config.job_ttl_seconds_after_finished, Some(3600));
    assert!(!config.affinity_injection && !config.tolerations_injection);
    assert_eq!(config.exporter.port, 9999);
    let kafka = config.kafka.expect("Kafka");
    assert_eq!(kafka.bootstrap_servers, "kafka.example.org:9093");
    assert_eq!(kafka.username.as_deref(), Some("locust"));
    assert_eq!(
        kafka.password_secret,
        Some(("kafka-credentials".to_owned(), "pass".to_owned()))
    );
    // Webhooks with your certificate: the Secret the Go chart mounted, no cert-manager objects.
    let provided = &renders[1];
    assert!(
        provided
            .cert_manager::<CertificateSpec>("Certificate")
            .is_empty()
    );
    let pod = provided.deployment().spec.unwrap().template.spec.unwrap();
    let secret = pod.volumes.unwrap()[0].secret.clone().unwrap().secret_name;
    assert_eq!(secret.as_deref(), Some("locust-operator-webhook-certs"));
    let role_namespaces: Vec<_> = r
        .all::<Role>()
        .into_iter()
        .filter(|role| role.metadata.name.as_deref() == Some("lo-operator"))
        .map(|role| role.metadata.namespace.unwrap())
        .collect();
    assert_eq!(role_namespaces, [NAMESPACE]);
}

/// Each Go key without a meaning here, each value of one that would change something, and
/// each conflict with this chart's key: rendering fails with this message, word for word.
#[test]
fn go_chart_values_without_a_meaning_here_are_rejected() {
    let Some(renderer) = renderer() else { return };
    let unsupported = |key: &str, why: &str| {
        format!(
            "locust-operator: value `{key}` of the Go operator's chart is not supported here: {why}"
        )
    };
    let conflict = |go: &str, ours: &str, meant: &str, set: &str| {
        format!(
            "locust-operator: value {go} of the Go operator's chart means `{ours}: {meant}` here, \
             which conflicts with `{ours}: {set}`: keep only one of them"
        )
    };
    let deprecated = |key: &str, instead: &str| {
        format!(
            "locust-operator: value `{key}` of the Go operator's chart (a deprecated path of its \
             1.x values) is not supported here: use {instead} instead"
        )
    };
    let pod_context = r#"{"fsGroup":65532,"runAsGroup":65532,"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}}"#;
    let container_context = r#"{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true,"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}"#;
    let keeps = |replicas: i32| {
        format!(
            "this chart keeps one of the {replicas} replicas available (minAvailable: 1, which is \
             maxUnavailable: {}) so that the webhooks stay served: remove it",
            replicas - 1
        )
    };
    let rejected: Vec<(&str, Value, String)> = vec![
        (
            "extra environment",
            json!({"extraEnv": [{"name": "LOG_LEVEL", "value": "debug"}]}),
            unsupported("extraEnv", "the operator takes its settings from this chart's values (its environment variables from `locustPods`): remove it"),
        ),
        (
            "HTTPS metrics",
            json!({"metrics": {"secure": true}}),
            unsupported("metrics.secure", "the operator serves /metrics over plain HTTP only: remove it"),
        ),
        (
            "no ServiceAccount",
            json!({"serviceAccount": {"create": false}}),
            unsupported("serviceAccount.create", "the chart always creates the operator's ServiceAccount, with exactly the permissions it uses: remove it"),
        ),
        (
            "a ServiceAccount name",
            json!({"serviceAccount": {"name": "locust"}}),
            unsupported("serviceAccount.name", "the ServiceAccount is named like every object of the release: use `fullnameOverride` instead"),
        ),
        (
            "ServiceAccount annotations",
            json!({"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/locust"}}}),
            unsupported("serviceAccount.annotations", "the operator needs no cloud identity (it only talks to the Kubernetes API), so the chart sets no ServiceAccount annotations: remove it"),
        ),
        (
            "an OpenTelemetry Collector",
            json!({"otelCollector": {"enabled": true}}),
            unsupported("otelCollector.enabled", "the chart installs no OpenTelemetry Collector: deploy one separately, point the tests' `spec.observability.openTelemetry.endpoint` at it, and remove `otelCollector`"),
        ),
        (
            "another user",
            json!({"podSecurityContext": {"runAsUser": 1000}}),
            unsupported("podSecurityContext", &format!("the chart always sets the restricted security context {pod_context}: remove it (fields that agree with it are accepted)")),
        ),
        (
            "no pod security context",
            json!({"podSecurityContext": {}}),
            unsupported("podSecurityContext", &format!("the chart always sets the restricted security context {pod_context}: remove it (fields that agree with it are accepted)")),
        ),
        (
            "a writable root file system",
            json!({"containerSecurityContext": {"readOnlyRootFilesystem": false}}),
            unsupported("containerSecurityContext", &format!("the chart always sets the restricted security context {container_context}: remove it (fields that agree with it are accepted)")),
        ),
        (
            "no disruption budget",
            json!({"podDisruptionBudget": {"enabled": false}}),
            format!("locust-operator: value `podDisruptionBudget.enabled: false` of the Go operator's chart is not supported here: {}", keeps(2)),
        ),
        (
            "the Go chart's budget with three replicas",
            json!({"replicaCount": 3, "podDisruptionBudget": {"enabled": true}}),
            format!("locust-operator: value `podDisruptionBudget` of the Go operator's chart (maxUnavailable: 1) is not supported here: {}", keeps(3)),
        ),
        (
            "a tagged Go operator image",
            json!({"image": {"repository": "lotest/locust-k8s-operator", "tag": "2.3.0"}}),
            "locust-operator: value `image.tag: \"2.3.0\"` with `image.repository: lotest/locust-k8s-operator` of the Go operator's chart is not supported here: that is an image of the Go operator, which this chart cannot run: remove both (the default is this operator's image, tagged with the chart's appVersion)".to_owned(),
        ),
        (
            "the deprecated TTL",
            json!({"config": {"loadGenerationJobs": {"ttlSecondsAfterFinished": 60}}}),
            deprecated("config.loadGenerationJobs.ttlSecondsAfterFinished", "`locustPods.ttlSecondsAfterFinished`"),
        ),
        (
            "the deprecated Kafka user Secret",
            json!({"config": {"loadGenerationPods": {"kafka": {"locustK8sKafkaUser": {"userName": "kafka-user"}}}}}),
            deprecated("config.loadGenerationPods.kafka.locustK8sKafkaUser.userName", "`locustPods.kafka.passwordSecret.name` (a Secret in each test's namespace) and `locustPods.kafka.username`"),
        ),
        (
            "a deprecated path the Go chart never read",
            json!({"config": {"loadGenerationPods": {"kafka": {"topic": "locust"}}}}),
            deprecated("config.loadGenerationPods.kafka.topic", "the keys under `locustPods`"),
        ),
        (
            "Kafka credentials without the user name",
            go_chart_file("non-default-values.yaml"),
            "locust-operator: value `kafka.credentials.secretName` of the Go operator's chart needs `locustPods.kafka.username` here: this operator takes the Kafka user name as a value, so set it to what key `user` of the Secret `kafka-credentials` holds (the password stays in that Secret, which must exist in each test's namespace)".to_owned(),
        ),
        (
            "webhooks with your certificate but no CA",
            json!({"webhook": {"enabled": true, "certManager": {"enabled": false}}}),
            "locust-operator: value `webhook.enabled: true` with `webhook.certManager.enabled: false` of the Go operator's chart means `certificates.mode: \"provided\"` here, with your certificate in the Secret `locust-operator-webhook-certs`, which also needs the CA that signed it: set `certificates.provided.caBundle` (`base64 -w0 ca.crt`), or remove the `webhook` keys and choose another `certificates.mode`".to_owned(),
        ),
        (
            "a TTL above the maximum, in quotes",
            json!({"locustPods": {"ttlSecondsAfterFinished": "9999999999"}}),
            "locust-operator: value `locustPods.ttlSecondsAfterFinished: \"9999999999\"` is more than 2147483647 seconds".to_owned(),
        ),
        (
            "two replicas without leader election, in the Go chart's key",
            json!({"replicaCount": 2, "leaderElection": {"enabled": false}}),
            "replicas > 1 needs leaderElection.enabled=true: without it every replica would reconcile".to_owned(),
        ),
        (
            "the default replicas without leader election",
            json!({"leaderElection": {"enabled": false}}),
            "replicas > 1 needs leaderElection.enabled=true: without it every replica would reconcile".to_owned(),
        ),
        // Conflicts.
        (
            "replicas",
            json!({"replicaCount": 3, "replicas": 4}),
            conflict("`replicaCount: 3`", "replicas", "3", "4"),
        ),
        (
            "the whole Go values.yaml with another replica count",
            coalesce(&go_chart_defaults(), &json!({"replicas": 3})),
            conflict("`replicaCount: 2`", "replicas", "2", "3"),
        ),
        (
            "no webhooks and cert-manager",
            json!({"webhook": {"enabled": false}, "certificates": {"mode": "certManager"}}),
            conflict("`webhook.enabled: false`", "certificates.mode", "\"selfManaged\"", "\"certManager\""),
        ),
        (
            "cert-manager alone and another mode",
            json!({"webhook": {"certManager": {"enabled": true}}, "certificates": {"mode": "provided",
                   "provided": {"secretName": "my-tls", "caBundle": ca_bundle()}}}),
            conflict("`webhook.certManager.enabled` without `webhook.enabled` (false there by default)", "certificates.mode", "\"selfManaged\"", "\"provided\""),
        ),
        (
            "webhooks with cert-manager and self-managed certificates",
            json!({"webhook": {"enabled": true}, "certificates": {"mode": "selfManaged"}}),
            conflict("`webhook.enabled: true` with `webhook.certManager.enabled: true`", "certificates.mode", "\"certManager\"", "\"selfManaged\""),
        ),
        (
            "a cluster role and namespaces",
            json!({"k8s": {"clusterRole": {"enabled": true}},
                   "namespaced": {"enabled": true, "namespaces": ["load-tests"]}}),
            conflict("`k8s.clusterRole.enabled: true`", "namespaced.enabled", "false", "true"),
        ),
        (
            "the release namespace and others",
            json!({"k8s": {"clusterRole": {"enabled": false}},
                   "namespaced": {"enabled": true, "namespaces": ["load-tests"]}}),
            conflict("`k8s.clusterRole.enabled: false`", "namespaced.namespaces", &format!("[\"{NAMESPACE}\"]"), "[\"load-tests\"]"),
        ),
        (
            "pull secrets",
            json!({"image": {"pullSecrets": ["regcred"]}, "imagePullSecrets": [{"name": "other"}]}),
            conflict("`image.pullSecrets: [\"regcred\"]`", "imagePullSecrets", "[{\"name\":\"regcred\"}]", "[{\"name\":\"other\"}]"),
        ),
        (
            "a CPU request",
            json!({"locustPods": {"resources": {"requests": {"cpu": "300m"}, "cpuRequest": "250m"}}}),
            conflict("`locustPods.resources.requests.cpu: \"300m\"`", "locustPods.resources.cpuRequest", "\"300m\"", "\"250m\""),
        ),
        (
            "Kafka servers",
            json!({"kafka": {"enabled": true, "bootstrapServers": "kafka:9092"},
                   "locustPods": {"kafka": {"bootstrapServers": "other:9092"}}}),
            conflict("`kafka.bootstrapServers: \"kafka:9092\"`", "locustPods.kafka.bootstrapServers", "\"kafka:9092\"", "\"other:9092\""),
        ),
    ];
    let cases: Vec<Case> = rejected
        .iter()
        .map(|(what, values, _)| case(what, values.clone()))
        .collect();
    for ((what, values, message), result) in rejected.iter().zip(render_all(renderer, &cases)) {
        let error = match result {
            Ok(_) => panic!("{what}: Helm rendered {values}"),
            Err(error) => error,
        };
        assert!(
            error.contains("execution error") && error.trim_end().ends_with(message.as_str()),
            "{what}: expected the message\n  {message}\ngot\n  {error}"
        );
    }
}
