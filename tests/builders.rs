//! Resource builders (docs/compatibility.md A5, Part B 6/9/10/13, Part C "Builders"): the master Service
//! and the two Jobs built from LocustTest manifests and operator configurations. Every build
//! in this file also checks that the defaulted copy of the test builds identically, that the
//! objects survive a JSON round trip through the k8s-openapi types, and that they contain no
//! empty lists.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, PodSpec, Service};
use locust_operator::api::LocustTest;
use locust_operator::builders::args::{self, MASTER_PORT, WEB_UI_PORT};
use locust_operator::builders::{
    self, Desired, EXPORTER_CONTAINER_NAME, EXPORTER_URI, LIB_VOLUME_NAME, PORT_NAME_MASTER,
    PORT_NAME_MASTER_BIND, PORT_NAME_METRICS, PORT_NAME_WEB, SECRET_VOLUME_PREFIX, desired,
    master_job, master_service, worker_job,
};
use locust_operator::config::Config;
use locust_operator::defaulting::defaulted;
use locust_operator::names::{self, Role};
use serde_json::{Value, json};

// ------------------------------------------------------------------------------------------
// Fixtures and helpers

/// Operator environment variables of a table case.
type Vars = Vec<(&'static str, &'static str)>;
/// Expected `(name, port)` pairs.
type NamedPorts = Vec<(&'static str, i32)>;
/// Expected `(name, JSON value)` pairs.
type NamedValues = Vec<(&'static str, Value)>;

const UID: &str = "6f1c2a3b-0000-4000-8000-000000000001";

/// A realistic minimal manifest: `my-test` in `loadtests`, 3 workers, no optional field.
fn base_manifest() -> Value {
    json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": "my-test", "namespace": "loadtests", "uid": UID},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "--locustfile /lotest/src/test.py --host http://app:8080 --users 10"},
            "worker": {"command": "--locustfile /lotest/src/test.py", "replicas": 3}
        }
    })
}

/// The base manifest with `patch` merged into it.
fn manifest(patch: Value) -> Value {
    let mut manifest = base_manifest();
    json_patch::merge(&mut manifest, &patch);
    manifest
}

/// A LocustTest parsed from a manifest.
fn parse(manifest: Value) -> LocustTest {
    serde_json::from_value(manifest).expect("manifest parses as LocustTest")
}

/// The base test with `spec_patch` merged into its spec.
fn test_with(spec_patch: Value) -> LocustTest {
    parse(manifest(json!({ "spec": spec_patch })))
}

/// The base test.
fn base_test() -> LocustTest {
    parse(base_manifest())
}

/// The operator configuration for these environment variables (others unset).
fn config(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let (config, _warnings) =
        Config::from_lookup(&|name| map.get(name).cloned()).expect("valid configuration");
    config
}

/// Fails on any empty list in `value` (and any empty object except `emptyDir: {}`).
fn assert_no_empty_lists(value: &Value, path: &str) {
    match value {
        Value::Array(items) => {
            assert!(!items.is_empty(), "empty list at {path}");
            for (i, item) in items.iter().enumerate() {
                assert_no_empty_lists(item, &format!("{path}[{i}]"));
            }
        }
        Value::Object(map) => {
            assert!(
                !map.is_empty() || path.ends_with(".emptyDir"),
                "empty object at {path}"
            );
            for (key, item) in map {
                assert_no_empty_lists(item, &format!("{path}.{key}"));
            }
        }
        _ => {}
    }
}

/// Serializes `object`, checks it has no empty lists and that it deserializes back equal.
fn round_trip<T>(object: &T, what: &str) -> Value
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let value = serde_json::to_value(object).unwrap();
    assert_no_empty_lists(&value, what);
    let back: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{what} does not deserialize: {e}"));
    assert_eq!(&back, object, "{what} changes in a JSON round trip");
    value
}

/// Builds every object, checking the invariants that hold for all tests.
fn build(test: &LocustTest, config: &Config) -> Desired {
    let built = desired(test, config);
    assert_eq!(
        built,
        desired(&defaulted(test), config),
        "a test and its defaulted copy must build identically"
    );
    round_trip(&built.service, "service");
    round_trip(&built.master_job, "master job");
    round_trip(&built.worker_job, "worker job");
    built
}

/// Builds with the default configuration.
fn build_default(test: &LocustTest) -> Desired {
    build(test, &Config::defaults())
}

fn pod(job: &Job) -> &PodSpec {
    job.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .expect("pod spec")
}

fn locust(job: &Job) -> &Container {
    let containers = &pod(job).containers;
    assert_eq!(containers.len(), 1, "exactly one container");
    &containers[0]
}

fn template_labels(job: &Job) -> &BTreeMap<String, String> {
    job.spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap()
}

fn template_annotations(job: &Job) -> Option<&BTreeMap<String, String>> {
    job.spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
}

fn jobs(built: &Desired) -> [(Role, &Job); 2] {
    [
        (Role::Master, &built.master_job),
        (Role::Worker, &built.worker_job),
    ]
}

fn json_of<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap()
}

/// The env of a container as `(name, value-or-valueFrom JSON)` pairs.
fn env_pairs(container: &Container) -> Vec<(String, Value)> {
    container
        .env
        .iter()
        .flatten()
        .map(|e| {
            let value = match (&e.value, &e.value_from) {
                (Some(v), None) => json!(v),
                (None, Some(from)) => json!({ "valueFrom": json_of(from) }),
                other => panic!("{}: unexpected {other:?}", e.name),
            };
            (e.name.clone(), value)
        })
        .collect()
}

fn env_names(container: &Container) -> Vec<String> {
    container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect()
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn operator_labels(name: &str, role: &str) -> Value {
    json!({
        "app": name,
        "performance-test-name": name,
        "performance-test-pod-name": format!("{}-{role}", name.replace('.', "-")),
        "managed-by": "locust-k8s-operator",
        "app.kubernetes.io/name": "locust",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": role,
        "app.kubernetes.io/managed-by": "locust-operator",
    })
}

fn owner_references() -> Value {
    json!([{
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "name": "my-test",
        "uid": UID,
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

fn default_pod_resources() -> Value {
    json!({
        "requests": {"cpu": "250m", "memory": "128Mi", "ephemeral-storage": "30M"},
        "limits": {"cpu": "1000m", "memory": "1024Mi", "ephemeral-storage": "50M"},
    })
}

/// Master args of the base test with every default.
fn master_args_default() -> Vec<String> {
    strings(&[
        "--locustfile",
        "/lotest/src/test.py",
        "--host",
        "http://app:8080",
        "--users",
        "10",
        "--master",
        "--master-port=5557",
        "--expect-workers=3",
        "--autostart",
        "--autoquit",
        "60",
        "--enable-rebalancing",
        "--only-summary",
    ])
}

// ------------------------------------------------------------------------------------------
// Golden objects: every A5 row for a minimal test with the default configuration

#[test]
fn golden_service_job_and_pods_for_a_minimal_test() {
    let test = test_with(json!({"testFiles": {"configMapRef": "my-test-locustfile"}}));
    let built = build_default(&test);

    assert_eq!(
        json_of(&built.service),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "my-test-master",
                "namespace": "loadtests",
                "labels": operator_labels("my-test", "master"),
                "ownerReferences": owner_references(),
            },
            "spec": {
                "type": "ClusterIP",
                "selector": {"performance-test-pod-name": "my-test-master"},
                "ports": [
                    {"name": "port5557", "protocol": "TCP", "port": 5557, "targetPort": 5557},
                    {"name": "port5558", "protocol": "TCP", "port": 5558, "targetPort": 5558},
                    {"name": "web", "protocol": "TCP", "port": 8089, "targetPort": 8089},
                    {"name": "prometheus-metrics", "protocol": "TCP", "port": 9646, "targetPort": 9646},
                ],
            },
        })
    );

    assert_eq!(
        json_of(&built.master_job),
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": "my-test-master",
                "namespace": "loadtests",
                "labels": operator_labels("my-test", "master"),
                "ownerReferences": owner_references(),
            },
            "spec": {
                "parallelism": 1,
                "backoffLimit": 0,
                "template": {
                    "metadata": {
                        "labels": operator_labels("my-test", "master"),
                        "annotations": {
                            "prometheus.io/scrape": "true",
                            "prometheus.io/path": "/metrics",
                            "prometheus.io/port": "9646",
                        },
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "initContainers": [{
                            "name": "locust-metrics-exporter",
                            "image": "containersol/locust_exporter:v0.5.0",
                            "imagePullPolicy": "IfNotPresent",
                            "restartPolicy": "Always",
                            "ports": [{"containerPort": 9646}],
                            "env": [
                                {"name": "LOCUST_EXPORTER_URI", "value": "http://localhost:8089"},
                                {"name": "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS", "value": ":9646"},
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "30M"},
                                "limits": {"cpu": "250m", "memory": "128Mi", "ephemeral-storage": "50M"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": false,
                                "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": true,
                            },
                        }],
                        "containers": [{
                            "name": "my-test-master",
                            "image": "locustio/locust:2.43.3",
                            "imagePullPolicy": "IfNotPresent",
                            "args": master_args_default(),
                            "ports": [
                                {"containerPort": 5557},
                                {"containerPort": 5558},
                                {"containerPort": 8089},
                            ],
                            "resources": default_pod_resources(),
                            "volumeMounts": [{"name": "my-test-master", "mountPath": "/lotest/src"}],
                        }],
                        "volumes": [{"name": "my-test-master", "configMap": {"name": "my-test-locustfile"}}],
                    },
                },
            },
        })
    );

    assert_eq!(
        json_of(&built.worker_job),
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": "my-test-worker",
                "namespace": "loadtests",
                "labels": operator_labels("my-test", "worker"),
                "ownerReferences": owner_references(),
            },
            "spec": {
                "parallelism": 3,
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": operator_labels("my-test", "worker")},
                    "spec": {
                        "restartPolicy": "Never",
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": "my-test-worker",
                            "image": "locustio/locust:2.43.3",
                            "imagePullPolicy": "IfNotPresent",
                            "args": [
                                "--locustfile", "/lotest/src/test.py",
                                "--worker", "--master-port=5557", "--master-host=my-test-master",
                            ],
                            "ports": [{"containerPort": 8080}],
                            "resources": default_pod_resources(),
                            "volumeMounts": [{"name": "my-test-worker", "mountPath": "/lotest/src"}],
                        }],
                        "volumes": [{"name": "my-test-worker", "configMap": {"name": "my-test-locustfile"}}],
                    },
                },
            },
        })
    );
}

#[test]
fn desired_is_the_three_builders() {
    let test = base_test();
    let config = Config::defaults();
    let built = desired(&test, &config);
    assert_eq!(built.service, master_service(&test, &config));
    assert_eq!(built.master_job, master_job(&test, &config));
    assert_eq!(built.worker_job, worker_job(&test, &config));
}

#[test]
fn constants_match_the_literals_users_see() {
    assert_eq!(PORT_NAME_MASTER, format!("port{MASTER_PORT}"));
    assert_eq!(PORT_NAME_MASTER_BIND, "port5558");
    assert_eq!(PORT_NAME_WEB, "web");
    assert_eq!(PORT_NAME_METRICS, "prometheus-metrics");
    assert_eq!(EXPORTER_URI, format!("http://localhost:{WEB_UI_PORT}"));
    assert_eq!(EXPORTER_CONTAINER_NAME, "locust-metrics-exporter");
    assert_eq!(LIB_VOLUME_NAME, "locust-lib");
    assert_eq!(SECRET_VOLUME_PREFIX, "secret-");
    assert_eq!(
        builders::volumes::secret_volume_name("tls"),
        "secret-tls".to_owned()
    );
}

// ------------------------------------------------------------------------------------------
// Service

#[test]
fn service_ports_follow_opentelemetry_and_exporter_port() {
    let otel_on = json!({"observability": {"openTelemetry": {"enabled": true, "endpoint": "collector:4317"}}});
    let otel_off = json!({"observability": {"openTelemetry": {"enabled": false, "endpoint": "collector:4317"}}});
    let cases: [(&str, Value, Vars, NamedPorts); 5] = [
        (
            "no observability",
            json!({}),
            vec![],
            vec![
                ("port5557", 5557),
                ("port5558", 5558),
                ("web", 8089),
                ("prometheus-metrics", 9646),
            ],
        ),
        (
            "custom exporter port",
            json!({}),
            vec![("METRICS_EXPORTER_PORT", "9999")],
            vec![
                ("port5557", 5557),
                ("port5558", 5558),
                ("web", 8089),
                ("prometheus-metrics", 9999),
            ],
        ),
        (
            "otel disabled explicitly",
            otel_off,
            vec![],
            vec![
                ("port5557", 5557),
                ("port5558", 5558),
                ("web", 8089),
                ("prometheus-metrics", 9646),
            ],
        ),
        (
            "otel enabled",
            otel_on.clone(),
            vec![],
            vec![("port5557", 5557), ("port5558", 5558), ("web", 8089)],
        ),
        (
            "otel enabled, custom exporter port",
            otel_on,
            vec![("METRICS_EXPORTER_PORT", "9999")],
            vec![("port5557", 5557), ("port5558", 5558), ("web", 8089)],
        ),
    ];
    for (case, spec, vars, expected) in cases {
        let built = build(&test_with(spec), &config(&vars));
        let spec = built.service.spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"), "{case}");
        let ports: Vec<(String, i32, Value, Option<String>)> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone().unwrap(),
                    p.port,
                    json_of(&p.target_port),
                    p.protocol.clone(),
                )
            })
            .collect();
        let expected: Vec<(String, i32, Value, Option<String>)> = expected
            .into_iter()
            .map(|(n, p)| (n.to_owned(), p, json!(p), Some("TCP".to_owned())))
            .collect();
        assert_eq!(ports, expected, "{case}");
    }
}

// ------------------------------------------------------------------------------------------
// Owner references, names, namespaces, labels

#[test]
fn every_object_is_owned_by_the_test() {
    let built = build_default(&base_test());
    for (what, meta) in [
        ("service", &built.service.metadata),
        ("master job", &built.master_job.metadata),
        ("worker job", &built.worker_job.metadata),
    ] {
        assert_eq!(
            json_of(&meta.owner_references),
            owner_references(),
            "{what}"
        );
        assert_eq!(meta.namespace.as_deref(), Some("loadtests"), "{what}");
    }
}

#[test]
fn no_owner_reference_without_uid() {
    let mut manifest = base_manifest();
    json_patch::merge(&mut manifest, &json!({"metadata": {"uid": null}}));
    let built = build_default(&parse(manifest));
    assert!(built.service.metadata.owner_references.is_none());
    assert!(built.master_job.metadata.owner_references.is_none());
    assert!(built.worker_job.metadata.owner_references.is_none());
}

#[test]
fn namespace_is_the_tests() {
    let mut manifest = base_manifest();
    json_patch::merge(&mut manifest, &json!({"metadata": {"namespace": "team-b"}}));
    let built = build_default(&parse(manifest));
    for meta in [
        &built.service.metadata,
        &built.master_job.metadata,
        &built.worker_job.metadata,
    ] {
        assert_eq!(meta.namespace.as_deref(), Some("team-b"));
    }
}

#[test]
fn dotted_names_are_sanitized_in_generated_names_only() {
    let test = parse(json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": "perf.checkout", "namespace": "loadtests", "uid": UID},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "-f /lotest/src/test.py"},
            "worker": {"command": "-f /lotest/src/test.py", "replicas": 2},
            "testFiles": {"configMapRef": "scripts"},
        }
    }));
    let built = build_default(&test);
    assert_eq!(
        built.service.metadata.name.as_deref(),
        Some("perf-checkout-master")
    );
    assert_eq!(
        built.service.spec.as_ref().unwrap().selector,
        Some(string_map(&[(
            "performance-test-pod-name",
            "perf-checkout-master"
        )]))
    );
    assert_eq!(
        built.service.metadata.owner_references.as_ref().unwrap()[0].name,
        "perf.checkout"
    );
    for (role, job) in jobs(&built) {
        let node = format!("perf-checkout-{}", role.as_str());
        assert_eq!(job.metadata.name.as_deref(), Some(node.as_str()));
        assert_eq!(locust(job).name, node);
        assert_eq!(pod(job).volumes.as_ref().unwrap()[0].name, node);
        assert_eq!(
            json_of(template_labels(job)),
            operator_labels("perf.checkout", role.as_str())
        );
        assert_eq!(template_labels(job)["app"], "perf.checkout");
        assert_eq!(
            template_labels(job)["performance-test-name"],
            "perf.checkout"
        );
    }
    assert!(
        locust(&built.worker_job)
            .args
            .as_ref()
            .unwrap()
            .contains(&"--master-host=perf-checkout-master".to_owned())
    );
}

#[test]
fn user_labels_merge_into_pods_but_never_override_protected_ones() {
    let test = test_with(json!({
        "master": {"labels": {
            "team": "payments",
            "app": "custom-app",
            "performance-test-name": "hijack",
            "performance-test-pod-name": "hijack",
            "managed-by": "someone-else",
        }},
        "worker": {"labels": {"tier": "load", "performance-test-pod-name": "hijack"}},
    }));
    let built = build_default(&test);

    let mut master = operator_labels("my-test", "master");
    json_patch::merge(
        &mut master,
        &json!({"team": "payments", "app": "custom-app"}),
    );
    assert_eq!(json_of(template_labels(&built.master_job)), master);

    let mut worker = operator_labels("my-test", "worker");
    json_patch::merge(&mut worker, &json!({"tier": "load"}));
    assert_eq!(json_of(template_labels(&built.worker_job)), worker);

    for key in names::PROTECTED_LABELS {
        assert_ne!(template_labels(&built.master_job)[key], "hijack");
        assert_ne!(template_labels(&built.worker_job)[key], "hijack");
    }
    assert_eq!(
        template_labels(&built.master_job)["managed-by"],
        "locust-k8s-operator"
    );
}

#[test]
fn jobs_and_service_carry_only_operator_labels() {
    let test = test_with(json!({
        "master": {"labels": {"team": "payments"}},
        "worker": {"labels": {"team": "payments"}},
    }));
    let built = build_default(&test);
    assert_eq!(
        built.service.metadata.labels,
        Some(names::pod_labels("my-test", Role::Master))
    );
    assert_eq!(
        built.master_job.metadata.labels,
        Some(names::pod_labels("my-test", Role::Master))
    );
    assert_eq!(
        built.worker_job.metadata.labels,
        Some(names::pod_labels("my-test", Role::Worker))
    );
    assert!(built.service.metadata.annotations.is_none());
    assert!(built.master_job.metadata.annotations.is_none());
}

// ------------------------------------------------------------------------------------------
// Jobs

#[test]
fn job_spec_essentials_for_both_roles() {
    let built = build_default(&base_test());
    for (role, job) in jobs(&built) {
        let spec = job.spec.as_ref().unwrap();
        let expected_parallelism = match role {
            Role::Master => 1,
            Role::Worker => 3,
        };
        assert_eq!(spec.parallelism, Some(expected_parallelism), "{role:?}");
        assert_eq!(spec.completions, None, "{role:?}");
        assert_eq!(spec.backoff_limit, Some(0), "{role:?}");
        assert_eq!(spec.ttl_seconds_after_finished, None, "{role:?}");
        assert_eq!(
            pod(job).restart_policy.as_deref(),
            Some("Never"),
            "{role:?}"
        );
        assert!(spec.active_deadline_seconds.is_none());
        assert!(spec.selector.is_none());
    }
}

#[test]
fn worker_parallelism_is_the_replica_count() {
    for replicas in [1, 2, 10, 500] {
        let built = build_default(&test_with(json!({"worker": {"replicas": replicas}})));
        assert_eq!(
            built.worker_job.spec.as_ref().unwrap().parallelism,
            Some(replicas)
        );
        assert_eq!(built.master_job.spec.as_ref().unwrap().parallelism, Some(1));
        assert!(
            locust(&built.master_job)
                .args
                .as_ref()
                .unwrap()
                .contains(&format!("--expect-workers={replicas}"))
        );
    }
}

#[test]
fn ttl_seconds_after_finished_comes_from_the_operator() {
    for (vars, expected) in [
        (vec![], None),
        (vec![("JOB_TTL_SECONDS_AFTER_FINISHED", "")], None),
        (vec![("JOB_TTL_SECONDS_AFTER_FINISHED", "0")], Some(0)),
        (vec![("JOB_TTL_SECONDS_AFTER_FINISHED", "300")], Some(300)),
    ] {
        let built = build(&base_test(), &config(&vars));
        for (role, job) in jobs(&built) {
            assert_eq!(
                job.spec.as_ref().unwrap().ttl_seconds_after_finished,
                expected,
                "{vars:?} {role:?}"
            );
        }
        let value = json_of(&built.master_job);
        assert_eq!(
            value["spec"].get("ttlSecondsAfterFinished").cloned(),
            expected.map(|t| json!(t)),
            "{vars:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Locust container

#[test]
fn locust_container_image_pull_policy_command_and_ports() {
    for (policy, expected) in [
        (Value::Null, "IfNotPresent"),
        (json!("IfNotPresent"), "IfNotPresent"),
        (json!("Always"), "Always"),
        (json!("Never"), "Never"),
    ] {
        let test =
            test_with(json!({"imagePullPolicy": policy, "image": "registry.example.com/locust:1"}));
        let built = build_default(&test);
        for (role, job) in jobs(&built) {
            let c = locust(job);
            assert_eq!(c.name, names::node_name("my-test", role));
            assert_eq!(c.image.as_deref(), Some("registry.example.com/locust:1"));
            assert_eq!(c.image_pull_policy.as_deref(), Some(expected), "{policy}");
            assert!(c.command.is_none(), "the image's entrypoint runs");
            assert!(c.restart_policy.is_none());
            let ports: Vec<Value> = c.ports.iter().flatten().map(json_of).collect();
            let expected_ports = match role {
                Role::Master => vec![
                    json!({"containerPort": 5557}),
                    json!({"containerPort": 5558}),
                    json!({"containerPort": 8089}),
                ],
                Role::Worker => vec![json!({"containerPort": 8080})],
            };
            assert_eq!(ports, expected_ports, "{role:?}");
        }
    }
}

#[test]
fn master_args_autostart_autoquit_variants() {
    let head = [
        "--locustfile",
        "/lotest/src/test.py",
        "--host",
        "http://app:8080",
        "--users",
        "10",
        "--master",
        "--master-port=5557",
        "--expect-workers=3",
    ];
    let tail = ["--enable-rebalancing", "--only-summary"];
    let cases: [(&str, Value, &[&str]); 9] = [
        ("defaults", json!({}), &["--autostart", "--autoquit", "60"]),
        (
            "autoquit disabled",
            json!({"autoquit": {"enabled": false}}),
            &["--autostart"],
        ),
        (
            "autoquit disabled with timeout",
            json!({"autoquit": {"enabled": false, "timeout": 30}}),
            &["--autostart"],
        ),
        (
            "custom timeout",
            json!({"autoquit": {"enabled": true, "timeout": 5}}),
            &["--autostart", "--autoquit", "5"],
        ),
        (
            "timeout zero",
            json!({"autoquit": {"enabled": true, "timeout": 0}}),
            &["--autostart", "--autoquit", "0"],
        ),
        (
            "autoquit without enabled",
            json!({"autoquit": {"timeout": 90}}),
            &["--autostart", "--autoquit", "90"],
        ),
        (
            "empty autoquit",
            json!({"autoquit": {}}),
            &["--autostart", "--autoquit", "60"],
        ),
        (
            "autostart false",
            json!({"autostart": false}),
            &["--autoquit", "60"],
        ),
        (
            "autostart false, autoquit disabled",
            json!({"autostart": false, "autoquit": {"enabled": false}}),
            &[],
        ),
    ];
    for (case, master, middle) in cases {
        let test = test_with(json!({ "master": master }));
        let built = build_default(&test);
        let expected: Vec<String> = head
            .iter()
            .chain(middle)
            .chain(&tail)
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            locust(&built.master_job).args.as_ref().unwrap(),
            &expected,
            "{case}"
        );
        assert_eq!(
            locust(&built.master_job).args.as_ref().unwrap(),
            &args::master_args(&test.spec),
            "{case}"
        );
    }
}

#[test]
fn extra_args_are_appended_last_and_otel_adds_flag() {
    let test = test_with(json!({
        "master": {"extraArgs": ["--csv=/data/run", "--loglevel", "DEBUG"]},
        "worker": {"extraArgs": ["--loglevel=INFO"]},
        "observability": {"openTelemetry": {"enabled": true, "endpoint": "collector:4317"}},
    }));
    let built = build_default(&test);
    let master = locust(&built.master_job).args.clone().unwrap();
    assert_eq!(
        master,
        strings(&[
            "--locustfile",
            "/lotest/src/test.py",
            "--host",
            "http://app:8080",
            "--users",
            "10",
            "--otel",
            "--master",
            "--master-port=5557",
            "--expect-workers=3",
            "--autostart",
            "--autoquit",
            "60",
            "--enable-rebalancing",
            "--only-summary",
            "--csv=/data/run",
            "--loglevel",
            "DEBUG",
        ])
    );
    let worker = locust(&built.worker_job).args.clone().unwrap();
    assert_eq!(
        worker,
        strings(&[
            "--locustfile",
            "/lotest/src/test.py",
            "--otel",
            "--worker",
            "--master-port=5557",
            "--master-host=my-test-master",
            "--loglevel=INFO",
        ])
    );
    assert_eq!(worker, args::worker_args(&test.spec, "my-test"));
}

#[test]
fn commands_are_split_on_whitespace_without_a_shell() {
    let test = test_with(json!({
        "master": {"command": "  -f  /lotest/src/a.py\t--tags 'a b'\n"},
        "worker": {"command": "-f /lotest/src/a.py"},
    }));
    let built = build_default(&test);
    let args = locust(&built.master_job).args.clone().unwrap();
    assert_eq!(
        &args[..5],
        &strings(&["-f", "/lotest/src/a.py", "--tags", "'a", "b'"])[..]
    );
    assert!(locust(&built.master_job).command.is_none());
}

// ------------------------------------------------------------------------------------------
// Annotations and the metrics exporter

#[test]
fn pod_annotations_by_role_and_opentelemetry() {
    let prometheus = |port: &str| {
        json!({
            "prometheus.io/scrape": "true",
            "prometheus.io/path": "/metrics",
            "prometheus.io/port": port,
        })
    };
    let otel_on = json!({"openTelemetry": {"enabled": true, "endpoint": "collector:4317"}});
    let cases: [(&str, Value, Vars, Value, Value); 6] = [
        (
            "defaults",
            json!({}),
            vec![],
            prometheus("9646"),
            Value::Null,
        ),
        (
            "custom exporter port",
            json!({}),
            vec![("METRICS_EXPORTER_PORT", "9100")],
            prometheus("9100"),
            Value::Null,
        ),
        (
            "user annotations",
            json!({
                "master": {"annotations": {"owner": "perf@example.com"}},
                "worker": {"annotations": {"owner": "perf@example.com"}},
            }),
            vec![],
            {
                let mut m = prometheus("9646");
                json_patch::merge(&mut m, &json!({"owner": "perf@example.com"}));
                m
            },
            json!({"owner": "perf@example.com"}),
        ),
        (
            "user overrides a prometheus annotation",
            json!({"master": {"annotations": {"prometheus.io/scrape": "false"}}}),
            vec![],
            {
                let mut m = prometheus("9646");
                json_patch::merge(&mut m, &json!({"prometheus.io/scrape": "false"}));
                m
            },
            Value::Null,
        ),
        (
            "otel on",
            json!({"observability": otel_on.clone()}),
            vec![],
            Value::Null,
            Value::Null,
        ),
        (
            "otel on, user annotations",
            json!({
                "observability": otel_on,
                "master": {"annotations": {"a": "1"}},
                "worker": {"annotations": {"b": "2"}},
            }),
            vec![],
            json!({"a": "1"}),
            json!({"b": "2"}),
        ),
    ];
    for (case, spec, vars, master, worker) in cases {
        let built = build(&test_with(spec), &config(&vars));
        assert_eq!(
            json_of(&template_annotations(&built.master_job)),
            master,
            "{case}"
        );
        assert_eq!(
            json_of(&template_annotations(&built.worker_job)),
            worker,
            "{case}"
        );
    }
}

#[test]
fn exporter_sidecar_only_in_master_and_only_without_opentelemetry() {
    let off = build_default(&base_test());
    let init = pod(&off.master_job).init_containers.as_ref().unwrap();
    assert_eq!(init.len(), 1);
    assert_eq!(init[0].name, EXPORTER_CONTAINER_NAME);
    assert_eq!(init[0].restart_policy.as_deref(), Some("Always"));
    assert!(pod(&off.worker_job).init_containers.is_none());
    assert_eq!(pod(&off.master_job).containers.len(), 1);

    let on = build_default(&test_with(json!({
        "observability": {"openTelemetry": {"enabled": true, "endpoint": "collector:4317"}}
    })));
    assert!(pod(&on.master_job).init_containers.is_none());
    assert!(pod(&on.worker_job).init_containers.is_none());
    let serialized = [
        json_of(&on.service),
        json_of(&on.master_job),
        json_of(&on.worker_job),
    ]
    .map(|v| v.to_string())
    .join("\n");
    assert!(!serialized.contains("prometheus"));
    assert!(!serialized.contains("locust_exporter"));
}

#[test]
fn exporter_follows_operator_configuration() {
    let config = config(&[
        ("METRICS_EXPORTER_IMAGE", "registry.example.com/exporter:v1"),
        ("METRICS_EXPORTER_PORT", "9100"),
        ("METRICS_EXPORTER_IMAGE_PULL_POLICY", "Always"),
        ("METRICS_EXPORTER_CPU_REQUEST", "50m"),
        ("METRICS_EXPORTER_CPU_LIMIT", ""),
        ("METRICS_EXPORTER_MEM_LIMIT", "256Mi"),
        // test resources do not apply to the exporter
        ("POD_CPU_REQUEST", "2"),
    ]);
    let test = test_with(json!({
        "master": {"resources": {"requests": {"cpu": "3"}}},
        "security": {"containerSecurityContext": {"runAsUser": 1000}},
    }));
    let built = build(&test, &config);
    let exporter = &pod(&built.master_job).init_containers.as_ref().unwrap()[0];
    assert_eq!(
        json_of(exporter),
        json!({
            "name": "locust-metrics-exporter",
            "image": "registry.example.com/exporter:v1",
            "imagePullPolicy": "Always",
            "restartPolicy": "Always",
            "ports": [{"containerPort": 9100}],
            "env": [
                {"name": "LOCUST_EXPORTER_URI", "value": "http://localhost:8089"},
                {"name": "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS", "value": ":9100"},
            ],
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "30M"},
                "limits": {"memory": "256Mi", "ephemeral-storage": "50M"},
            },
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": true,
            },
        })
    );
}

#[test]
fn exporter_without_any_resources_has_no_resources_field() {
    let vars: Vec<(String, &str)> = ["CPU", "MEM", "EPHEMERAL"]
        .iter()
        .flat_map(|r| {
            ["REQUEST", "LIMIT"]
                .iter()
                .map(move |k| (format!("METRICS_EXPORTER_{r}_{k}"), ""))
        })
        .collect();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let built = build(&base_test(), &config(&vars));
    let exporter = &pod(&built.master_job).init_containers.as_ref().unwrap()[0];
    assert!(exporter.resources.is_none());
}

// ------------------------------------------------------------------------------------------
// Environment

#[test]
fn opentelemetry_environment_variants() {
    let cases: [(&str, Value, Vars); 4] = [
        (
            "defaults",
            json!({"enabled": true, "endpoint": "collector:4317"}),
            vec![
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_METRICS_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
        ),
        (
            "http, insecure, extra vars sorted",
            json!({
                "enabled": true,
                "endpoint": "http://collector:4318",
                "protocol": "http/protobuf",
                "insecure": true,
                "extraEnvVars": {"OTEL_SERVICE_NAME": "checkout", "OTEL_RESOURCE_ATTRIBUTES": "team=a", "A_FIRST": "1"},
            }),
            vec![
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_METRICS_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
                ("A_FIRST", "1"),
                ("OTEL_RESOURCE_ATTRIBUTES", "team=a"),
                ("OTEL_SERVICE_NAME", "checkout"),
            ],
        ),
        (
            "insecure false",
            json!({"enabled": true, "endpoint": "collector:4317", "protocol": "grpc", "insecure": false}),
            vec![
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_METRICS_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
        ),
        (
            "disabled",
            json!({"enabled": false, "endpoint": "collector:4317", "extraEnvVars": {"X": "1"}}),
            vec![],
        ),
    ];
    for (case, otel, expected) in cases {
        let test = test_with(json!({"observability": {"openTelemetry": otel}}));
        let built = build_default(&test);
        let expected: Vec<(String, Value)> = expected
            .into_iter()
            .map(|(n, v)| (n.to_owned(), json!(v)))
            .collect();
        for (role, job) in jobs(&built) {
            assert_eq!(env_pairs(locust(job)), expected, "{case} {role:?}");
            if expected.is_empty() {
                assert!(locust(job).env.is_none(), "{case}: no empty env list");
            }
        }
    }
}

#[test]
fn env_order_is_opentelemetry_then_kafka_then_user_variables() {
    let test = test_with(json!({
        "observability": {"openTelemetry": {"enabled": true, "endpoint": "collector:4317"}},
        "env": {"variables": [
            {"name": "TARGET_ENV", "value": "staging"},
            {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-creds", "key": "token"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ]},
    }));
    let config = config(&[("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")]);
    let built = build(&test, &config);
    for (role, job) in jobs(&built) {
        assert_eq!(
            env_names(locust(job)),
            strings(&[
                "OTEL_TRACES_EXPORTER",
                "OTEL_METRICS_EXPORTER",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "KAFKA_BOOTSTRAP_SERVERS",
                "KAFKA_SECURITY_ENABLED",
                "TARGET_ENV",
                "API_TOKEN",
                "POD_IP",
            ]),
            "{role:?}"
        );
        let env = locust(job).env.as_ref().unwrap();
        assert_eq!(
            json_of(&env[7]),
            json!({"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-creds", "key": "token"}}})
        );
    }
}

#[test]
fn user_variables_alone_when_nothing_else_is_enabled() {
    let test = test_with(json!({"env": {"variables": [{"name": "A", "value": "1"}]}}));
    let built = build_default(&test);
    for (_, job) in jobs(&built) {
        assert_eq!(env_pairs(locust(job)), vec![("A".to_owned(), json!("1"))]);
        assert!(locust(job).env_from.is_none());
    }
    // an empty variables list (or env object) adds nothing
    let built = build_default(&test_with(
        json!({"env": {"variables": [], "configMapRefs": [], "secretRefs": []}}),
    ));
    assert!(locust(&built.master_job).env.is_none());
    assert!(locust(&built.master_job).env_from.is_none());
}

#[test]
fn env_from_lists_config_maps_then_secrets_with_prefixes() {
    let test = test_with(json!({"env": {
        "secretRefs": [{"name": "api-creds"}, {"name": "db-creds", "prefix": "DB_"}],
        "configMapRefs": [{"name": "app-config", "prefix": "APP_"}, {"name": "more-config"}],
    }}));
    let built = build_default(&test);
    for (role, job) in jobs(&built) {
        assert_eq!(
            json_of(&locust(job).env_from),
            json!([
                {"configMapRef": {"name": "app-config"}, "prefix": "APP_"},
                {"configMapRef": {"name": "more-config"}},
                {"secretRef": {"name": "api-creds"}},
                {"secretRef": {"name": "db-creds"}, "prefix": "DB_"},
            ]),
            "{role:?}"
        );
    }
}

#[test]
fn kafka_variables_only_when_configured_and_password_never_literal() {
    let secret_ref =
        |name: &str, key: &str| json!({"valueFrom": {"secretKeyRef": {"name": name, "key": key}}});
    let cases: [(&str, Vars, NamedValues); 6] = [
        ("unset", vec![], vec![]),
        (
            "security settings without bootstrap servers",
            vec![
                ("KAFKA_SECURITY_ENABLED", "true"),
                ("KAFKA_USERNAME", "locust"),
                ("KAFKA_PASSWORD_SECRET_NAME", "kafka-creds"),
            ],
            vec![],
        ),
        (
            "no security",
            vec![("KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092,kafka-1:9092")],
            vec![
                (
                    "KAFKA_BOOTSTRAP_SERVERS",
                    json!("kafka-0:9092,kafka-1:9092"),
                ),
                ("KAFKA_SECURITY_ENABLED", json!("false")),
            ],
        ),
        (
            "security disabled, security settings ignored",
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
                ("KAFKA_SECURITY_ENABLED", "false"),
                ("KAFKA_SECURITY_PROTOCOL_CONFIG", "SASL_SSL"),
                ("KAFKA_USERNAME", "locust"),
                ("KAFKA_PASSWORD_SECRET_NAME", "kafka-creds"),
            ],
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", json!("kafka:9092")),
                ("KAFKA_SECURITY_ENABLED", json!("false")),
            ],
        ),
        (
            "security with defaults, no optional settings",
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
                ("KAFKA_SECURITY_ENABLED", "true"),
            ],
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", json!("kafka:9092")),
                ("KAFKA_SECURITY_ENABLED", json!("true")),
                ("KAFKA_SECURITY_PROTOCOL_CONFIG", json!("SASL_PLAINTEXT")),
                ("KAFKA_SASL_MECHANISM", json!("SCRAM-SHA-512")),
            ],
        ),
        (
            "security with everything",
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9093"),
                ("KAFKA_SECURITY_ENABLED", "true"),
                ("KAFKA_SECURITY_PROTOCOL_CONFIG", "SASL_SSL"),
                ("KAFKA_SASL_MECHANISM", "PLAIN"),
                (
                    "KAFKA_SASL_JAAS_CONFIG",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required;",
                ),
                ("KAFKA_USERNAME", "locust"),
                ("KAFKA_PASSWORD_SECRET_NAME", "kafka-creds"),
                ("KAFKA_PASSWORD_SECRET_KEY", "pw"),
            ],
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", json!("kafka:9093")),
                ("KAFKA_SECURITY_ENABLED", json!("true")),
                ("KAFKA_SECURITY_PROTOCOL_CONFIG", json!("SASL_SSL")),
                ("KAFKA_SASL_MECHANISM", json!("PLAIN")),
                (
                    "KAFKA_SASL_JAAS_CONFIG",
                    json!("org.apache.kafka.common.security.plain.PlainLoginModule required;"),
                ),
                ("KAFKA_USERNAME", json!("locust")),
                ("KAFKA_PASSWORD", secret_ref("kafka-creds", "pw")),
            ],
        ),
    ];
    let test = test_with(json!({"env": {"variables": [{"name": "USER_VAR", "value": "x"}]}}));
    for (case, vars, expected) in cases {
        let built = build(&test, &config(&vars));
        let mut expected: Vec<(String, Value)> = expected
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect();
        expected.push(("USER_VAR".to_owned(), json!("x")));
        for (role, job) in jobs(&built) {
            assert_eq!(env_pairs(locust(job)), expected, "{case} {role:?}");
        }
        let exporter = &pod(&built.master_job).init_containers.as_ref().unwrap()[0];
        assert!(
            !env_names(exporter).iter().any(|n| n.starts_with("KAFKA_")),
            "{case}: the exporter gets no Kafka variables"
        );
    }

    // Default secret key, and a literal KAFKA_PASSWORD in the operator's environment never
    // reaches a Job.
    let literal = "s3cr3t-Literal-Passw0rd";
    for vars in [
        vec![
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
            ("KAFKA_SECURITY_ENABLED", "true"),
            ("KAFKA_PASSWORD", literal),
            ("KAFKA_PASSWORD_SECRET_NAME", "kafka-creds"),
        ],
        vec![
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
            ("KAFKA_SECURITY_ENABLED", "true"),
            ("KAFKA_PASSWORD", literal),
        ],
    ] {
        let with_secret = vars.iter().any(|(k, _)| *k == "KAFKA_PASSWORD_SECRET_NAME");
        let built = build(&test, &config(&vars));
        for (what, value) in [
            ("service", json_of(&built.service)),
            ("master job", json_of(&built.master_job)),
            ("worker job", json_of(&built.worker_job)),
        ] {
            assert!(
                !value.to_string().contains(literal),
                "{what} must not contain the literal password"
            );
        }
        for (_, job) in jobs(&built) {
            let password: Vec<_> = locust(job)
                .env
                .iter()
                .flatten()
                .filter(|e| e.name == "KAFKA_PASSWORD")
                .collect();
            if with_secret {
                assert_eq!(password.len(), 1);
                assert!(password[0].value.is_none());
                assert_eq!(
                    json_of(&password[0].value_from),
                    json!({"secretKeyRef": {"name": "kafka-creds", "key": "password"}})
                );
            } else {
                assert!(password.is_empty());
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Resources

#[test]
fn resources_precedence_and_removal() {
    let global = default_pod_resources();
    let with = |patch: Value| {
        let mut r = default_pod_resources();
        json_patch::merge(&mut r, &patch);
        r
    };
    let all_pod_vars_empty: Vec<(&str, &str)> = [
        "POD_CPU_REQUEST",
        "POD_MEM_REQUEST",
        "POD_EPHEMERAL_REQUEST",
        "POD_CPU_LIMIT",
        "POD_MEM_LIMIT",
        "POD_EPHEMERAL_LIMIT",
    ]
    .iter()
    .map(|k| (*k, ""))
    .collect();
    let cases: [(&str, Value, Vars, Value, Value); 14] = [
        (
            "global defaults",
            json!({}),
            vec![],
            global.clone(),
            global.clone(),
        ),
        (
            "global override",
            json!({}),
            vec![("POD_CPU_LIMIT", "2"), ("POD_MEM_REQUEST", "256Mi")],
            with(json!({"limits": {"cpu": "2"}, "requests": {"memory": "256Mi"}})),
            with(json!({"limits": {"cpu": "2"}, "requests": {"memory": "256Mi"}})),
        ),
        (
            "per-role over global, per field",
            json!({}),
            vec![
                ("POD_CPU_LIMIT", "2"),
                ("MASTER_POD_MEM_LIMIT", "2Gi"),
                ("WORKER_POD_CPU_REQUEST", "500m"),
            ],
            with(json!({"limits": {"cpu": "2", "memory": "2Gi"}})),
            with(json!({"limits": {"cpu": "2"}, "requests": {"cpu": "500m"}})),
        ),
        (
            "CR value whole over everything",
            json!({"master": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}}}),
            vec![("MASTER_POD_CPU_LIMIT", "4"), ("POD_EPHEMERAL_LIMIT", "1G")],
            json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}),
            with(json!({"limits": {"ephemeral-storage": "1G"}})),
        ),
        (
            "CR requests only: no limits added",
            json!({"worker": {"resources": {"requests": {"cpu": "100m"}}}}),
            vec![],
            global.clone(),
            json!({"requests": {"cpu": "100m"}}),
        ),
        (
            "CR limits only: no requests added",
            json!({"worker": {"resources": {"limits": {"memory": "2Gi"}}}}),
            vec![],
            global.clone(),
            json!({"limits": {"memory": "2Gi"}}),
        ),
        (
            "CR empty limits map with requests: empty map dropped",
            json!({"master": {"resources": {"requests": {"cpu": "1"}, "limits": {}}}}),
            vec![],
            json!({"requests": {"cpu": "1"}}),
            global.clone(),
        ),
        (
            "CR empty resources fall back",
            json!({"master": {"resources": {}}, "worker": {"resources": {"requests": {}, "limits": {}}}}),
            vec![],
            global.clone(),
            global.clone(),
        ),
        (
            "remove a global default",
            json!({}),
            vec![("POD_CPU_LIMIT", "")],
            json!({"requests": global["requests"], "limits": {"memory": "1024Mi", "ephemeral-storage": "50M"}}),
            json!({"requests": global["requests"], "limits": {"memory": "1024Mi", "ephemeral-storage": "50M"}}),
        ),
        (
            "remove for one role only",
            json!({}),
            vec![("MASTER_POD_CPU_LIMIT", "")],
            json!({"requests": global["requests"], "limits": {"memory": "1024Mi", "ephemeral-storage": "50M"}}),
            global.clone(),
        ),
        (
            "per-role value restores a removed global",
            json!({}),
            vec![("POD_CPU_LIMIT", ""), ("WORKER_POD_CPU_LIMIT", "3")],
            json!({"requests": global["requests"], "limits": {"memory": "1024Mi", "ephemeral-storage": "50M"}}),
            with(json!({"limits": {"cpu": "3"}})),
        ),
        (
            "remove every limit of workers",
            json!({}),
            vec![
                ("WORKER_POD_CPU_LIMIT", ""),
                ("WORKER_POD_MEM_LIMIT", ""),
                ("WORKER_POD_EPHEMERAL_LIMIT", ""),
            ],
            global.clone(),
            json!({"requests": global["requests"]}),
        ),
        (
            "remove everything",
            json!({}),
            all_pod_vars_empty.clone(),
            Value::Null,
            Value::Null,
        ),
        (
            "CR value when everything is removed",
            json!({"master": {"resources": {"limits": {"cpu": "1"}}}}),
            all_pod_vars_empty,
            json!({"limits": {"cpu": "1"}}),
            Value::Null,
        ),
    ];
    for (case, spec, vars, master, worker) in cases {
        let built = build(&test_with(spec), &config(&vars));
        assert_eq!(
            json_of(&locust(&built.master_job).resources),
            master,
            "{case}: master"
        );
        assert_eq!(
            json_of(&locust(&built.worker_job).resources),
            worker,
            "{case}: worker"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Scheduling and security

#[test]
fn runtime_class_name_four_cases() {
    let cases: [(&str, Value, Vars, Option<&str>); 6] = [
        (
            "CR value beats the default",
            json!({"scheduling": {"runtimeClassName": "gvisor"}}),
            vec![("DEFAULT_RUNTIME_CLASS_NAME", "kata")],
            Some("gvisor"),
        ),
        (
            "CR value without a default",
            json!({"scheduling": {"runtimeClassName": "gvisor"}}),
            vec![],
            Some("gvisor"),
        ),
        (
            "CR empty string opts out of the default",
            json!({"scheduling": {"runtimeClassName": ""}}),
            vec![("DEFAULT_RUNTIME_CLASS_NAME", "kata")],
            None,
        ),
        (
            "operator default",
            json!({"scheduling": {"nodeSelector": {"pool": "load"}}}),
            vec![("DEFAULT_RUNTIME_CLASS_NAME", "kata")],
            Some("kata"),
        ),
        (
            "operator default without scheduling",
            json!({}),
            vec![("DEFAULT_RUNTIME_CLASS_NAME", "kata")],
            Some("kata"),
        ),
        ("none", json!({}), vec![], None),
    ];
    for (case, spec, vars, expected) in cases {
        let built = build(&test_with(spec), &config(&vars));
        for (role, job) in jobs(&built) {
            assert_eq!(
                pod(job).runtime_class_name.as_deref(),
                expected,
                "{case} {role:?}"
            );
        }
    }
}

#[test]
fn affinity_tolerations_and_node_selector() {
    let scheduling = json!({"scheduling": {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["load"]}]}]
        }}},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
    }});
    let test = test_with(scheduling.clone());
    let cases: [(Vars, bool, bool); 4] = [
        (vec![], true, true),
        (vec![("ENABLE_AFFINITY_CR_INJECTION", "false")], false, true),
        (
            vec![("ENABLE_TAINT_TOLERATIONS_CR_INJECTION", "false")],
            true,
            false,
        ),
        (
            vec![
                ("ENABLE_AFFINITY_CR_INJECTION", "false"),
                ("ENABLE_TAINT_TOLERATIONS_CR_INJECTION", "false"),
            ],
            false,
            false,
        ),
    ];
    for (vars, affinity, tolerations) in cases {
        let built = build(&test, &config(&vars));
        for (role, job) in jobs(&built) {
            let pod = pod(job);
            assert_eq!(
                json_of(&pod.affinity),
                if affinity {
                    scheduling["scheduling"]["affinity"].clone()
                } else {
                    Value::Null
                },
                "{vars:?} {role:?}"
            );
            assert_eq!(
                json_of(&pod.tolerations),
                if tolerations {
                    scheduling["scheduling"]["tolerations"].clone()
                } else {
                    Value::Null
                },
                "{vars:?} {role:?}"
            );
            assert_eq!(
                pod.node_selector,
                Some(string_map(&[("kubernetes.io/os", "linux")])),
                "nodeSelector is always copied"
            );
        }
    }

    let empty = build_default(&test_with(
        json!({"scheduling": {"tolerations": [], "nodeSelector": {}}}),
    ));
    for (_, job) in jobs(&empty) {
        assert!(pod(job).tolerations.is_none());
        assert!(pod(job).node_selector.is_none());
        assert!(pod(job).affinity.is_none());
    }
}

#[test]
fn security_contexts() {
    let default = build_default(&base_test());
    for (_, job) in jobs(&default) {
        assert_eq!(
            json_of(&pod(job).security_context),
            json!({"seccompProfile": {"type": "RuntimeDefault"}})
        );
        assert!(locust(job).security_context.is_none());
    }

    let test = test_with(json!({"security": {
        "podSecurityContext": {"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000},
        "containerSecurityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
    }}));
    let built = build_default(&test);
    for (_, job) in jobs(&built) {
        assert_eq!(
            json_of(&pod(job).security_context),
            json!({"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000}),
            "replaces the default entirely"
        );
        assert_eq!(
            json_of(&locust(job).security_context),
            json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
        );
    }
    let exporter = &pod(&built.master_job).init_containers.as_ref().unwrap()[0];
    assert_eq!(
        json_of(&exporter.security_context),
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true}),
        "the exporter keeps its own hardened context"
    );

    let only_container = build_default(&test_with(
        json!({"security": {"containerSecurityContext": {"runAsUser": 1}}}),
    ));
    assert_eq!(
        json_of(&pod(&only_container.master_job).security_context),
        json!({"seccompProfile": {"type": "RuntimeDefault"}})
    );
}

#[test]
fn image_pull_secrets() {
    for (spec, expected) in [
        (json!({}), Value::Null),
        (json!({"imagePullSecrets": []}), Value::Null),
        (
            json!({"imagePullSecrets": [{"name": "regcred"}, {"name": "other"}]}),
            json!([{"name": "regcred"}, {"name": "other"}]),
        ),
    ] {
        let built = build_default(&test_with(spec.clone()));
        for (_, job) in jobs(&built) {
            assert_eq!(json_of(&pod(job).image_pull_secrets), expected, "{spec}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Volumes and mounts

/// `(volumes, mounts)` of a role's pod as JSON.
fn volumes_of(job: &Job) -> (Value, Value) {
    (
        json_of(&pod(job).volumes),
        json_of(&locust(job).volume_mounts),
    )
}

#[test]
fn test_file_volumes() {
    type Expect = fn(&str) -> (Value, Value);
    let cases: [(&str, Value, Expect); 7] = [
        ("no testFiles", json!({}), |_| (Value::Null, Value::Null)),
        ("empty testFiles", json!({"testFiles": {}}), |_| {
            (Value::Null, Value::Null)
        }),
        (
            "mount paths alone add nothing",
            json!({"testFiles": {"srcMountPath": "/src", "libMountPath": "/lib"}}),
            |_| (Value::Null, Value::Null),
        ),
        (
            "configMapRef at the default path",
            json!({"testFiles": {"configMapRef": "scripts"}}),
            |node| {
                (
                    json!([{"name": node, "configMap": {"name": "scripts"}}]),
                    json!([{"name": node, "mountPath": "/lotest/src"}]),
                )
            },
        ),
        (
            "configMapRef at a custom path",
            json!({"testFiles": {"configMapRef": "scripts", "srcMountPath": "/mnt/locust"}}),
            |node| {
                (
                    json!([{"name": node, "configMap": {"name": "scripts"}}]),
                    json!([{"name": node, "mountPath": "/mnt/locust"}]),
                )
            },
        ),
        (
            "lib only",
            json!({"testFiles": {"libConfigMapRef": "shared-lib"}}),
            |_| {
                (
                    json!([{"name": "locust-lib", "configMap": {"name": "shared-lib"}}]),
                    json!([{"name": "locust-lib", "mountPath": "/opt/locust/lib"}]),
                )
            },
        ),
        (
            "both with custom paths",
            json!({"testFiles": {
                "configMapRef": "scripts", "libConfigMapRef": "shared-lib",
                "srcMountPath": "/src", "libMountPath": "/lib",
            }}),
            |node| {
                (
                    json!([
                        {"name": node, "configMap": {"name": "scripts"}},
                        {"name": "locust-lib", "configMap": {"name": "shared-lib"}},
                    ]),
                    json!([
                        {"name": node, "mountPath": "/src"},
                        {"name": "locust-lib", "mountPath": "/lib"},
                    ]),
                )
            },
        ),
    ];
    for (case, spec, expect) in cases {
        let built = build_default(&test_with(spec));
        for (role, job) in jobs(&built) {
            let node = names::node_name("my-test", role);
            assert_eq!(volumes_of(job), expect(&node), "{case} {role:?}");
        }
    }
}

#[test]
fn secret_mounts_in_both_roles() {
    let test = test_with(json!({"env": {"secretMounts": [
        {"name": "tls-client", "mountPath": "/etc/client-tls"},
        {"name": "api-keys", "mountPath": "/etc/keys", "readOnly": false},
        {"name": "certs", "mountPath": "/etc/certs", "readOnly": true},
    ]}}));
    let built = build_default(&test);
    for (role, job) in jobs(&built) {
        assert_eq!(
            volumes_of(job),
            (
                json!([
                    {"name": "secret-tls-client", "secret": {"secretName": "tls-client"}},
                    {"name": "secret-api-keys", "secret": {"secretName": "api-keys"}},
                    {"name": "secret-certs", "secret": {"secretName": "certs"}},
                ]),
                json!([
                    {"name": "secret-tls-client", "mountPath": "/etc/client-tls", "readOnly": true},
                    {"name": "secret-api-keys", "mountPath": "/etc/keys", "readOnly": false},
                    {"name": "secret-certs", "mountPath": "/etc/certs", "readOnly": true},
                ]),
            ),
            "{role:?}"
        );
    }
}

#[test]
fn user_volumes_by_target() {
    let volumes = json!([
        {"name": "results", "emptyDir": {}},
        {"name": "fixtures", "configMap": {"name": "checkout-fixtures"}},
        {"name": "worker-cache", "emptyDir": {"medium": "Memory"}},
        {"name": "unused", "emptyDir": {}},
        {"name": "shared", "persistentVolumeClaim": {"claimName": "data"}},
    ]);
    let test = test_with(json!({
        "volumes": volumes,
        "volumeMounts": [
            {"name": "shared", "mountPath": "/shared", "subPath": "run"},
            {"name": "fixtures", "mountPath": "/fixtures", "readOnly": true, "target": "both"},
            {"name": "worker-cache", "mountPath": "/cache", "target": "worker"},
            {"name": "results", "mountPath": "/data", "target": "master"},
            {"name": "fixtures", "mountPath": "/fixtures-copy", "target": "master"},
        ],
    }));
    let built = build_default(&test);
    let v = |i: usize| volumes[i].clone();
    assert_eq!(
        volumes_of(&built.master_job),
        (
            json!([v(0), v(1), v(4)]),
            json!([
                {"name": "shared", "mountPath": "/shared", "subPath": "run"},
                {"name": "fixtures", "mountPath": "/fixtures", "readOnly": true},
                {"name": "results", "mountPath": "/data"},
                {"name": "fixtures", "mountPath": "/fixtures-copy"},
            ]),
        ),
        "volumes keep spec order, each once; mounts keep spec order without target"
    );
    assert_eq!(
        volumes_of(&built.worker_job),
        (
            json!([v(1), v(2), v(4)]),
            json!([
                {"name": "shared", "mountPath": "/shared", "subPath": "run"},
                {"name": "fixtures", "mountPath": "/fixtures", "readOnly": true},
                {"name": "worker-cache", "mountPath": "/cache"},
            ]),
        )
    );
    let serialized = serde_json::to_string(&built.master_job).unwrap();
    assert!(!serialized.contains("\"target\""), "target is stripped");
    assert!(!serialized.contains("unused"));

    // A volume only mounted in workers is not in the master pod, and volumes without mounts
    // appear nowhere.
    let only_worker = build_default(&test_with(json!({
        "volumes": [{"name": "cache", "emptyDir": {}}, {"name": "lonely", "emptyDir": {}}],
        "volumeMounts": [{"name": "cache", "mountPath": "/cache", "target": "worker"}],
    })));
    assert_eq!(
        volumes_of(&only_worker.master_job),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        volumes_of(&only_worker.worker_job),
        (
            json!([{"name": "cache", "emptyDir": {}}]),
            json!([{"name": "cache", "mountPath": "/cache"}]),
        )
    );
}

#[test]
fn volume_order_is_test_files_lib_secrets_user() {
    let test = test_with(json!({
        "testFiles": {"configMapRef": "scripts", "libConfigMapRef": "lib"},
        "env": {"secretMounts": [{"name": "tls", "mountPath": "/etc/tls"}]},
        "volumes": [{"name": "data", "emptyDir": {}}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }));
    let built = build_default(&test);
    for (role, job) in jobs(&built) {
        let node = names::node_name("my-test", role);
        let volume_names: Vec<&str> = pod(job)
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        let mount_names: Vec<&str> = locust(job)
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| m.name.as_str())
            .collect();
        let expected = vec![node.as_str(), "locust-lib", "secret-tls", "data"];
        assert_eq!(volume_names, expected, "{role:?}");
        assert_eq!(mount_names, expected, "{role:?}");
    }
    let exporter = &pod(&built.master_job).init_containers.as_ref().unwrap()[0];
    assert!(
        exporter.volume_mounts.is_none(),
        "the exporter mounts nothing"
    );
}

#[test]
fn mount_target_rule() {
    use locust_operator::api::v2::VolumeTarget;
    use locust_operator::builders::volumes::mount_applies;
    for (target, master, worker) in [
        (None, true, true),
        (Some(VolumeTarget::Both), true, true),
        (Some(VolumeTarget::Master), true, false),
        (Some(VolumeTarget::Worker), false, true),
    ] {
        assert_eq!(mount_applies(target, Role::Master), master, "{target:?}");
        assert_eq!(mount_applies(target, Role::Worker), worker, "{target:?}");
    }
}

// ------------------------------------------------------------------------------------------
// Whole-object invariants

/// Manifests covering every optional field, alone and together.
fn fixtures() -> Vec<(&'static str, LocustTest)> {
    let complete: LocustTest = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/complete-v2.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    let minimal: LocustTest = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/minimal-v2.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut complete_otel_off = complete.clone();
    if let Some(otel) = complete_otel_off
        .spec
        .observability
        .as_mut()
        .and_then(|o| o.open_telemetry.as_mut())
    {
        otel.enabled = false;
    }
    vec![
        ("base", base_test()),
        ("examples/minimal-v2.yaml", minimal),
        ("examples/complete-v2.yaml", complete),
        ("complete with OpenTelemetry off", complete_otel_off),
        (
            "undefaulted optional objects",
            test_with(json!({
                "master": {"autoquit": {"timeout": 10}},
                "testFiles": {"configMapRef": "s", "libConfigMapRef": "l"},
                "env": {"secretMounts": [{"name": "x", "mountPath": "/x"}]},
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": [{"name": "v", "mountPath": "/v"}],
                "observability": {"openTelemetry": {"enabled": true, "endpoint": "c:4317"}},
            })),
        ),
    ]
}

fn configs() -> Vec<(&'static str, Config)> {
    vec![
        ("defaults", Config::defaults()),
        (
            "everything set",
            config(&[
                ("JOB_TTL_SECONDS_AFTER_FINISHED", "0"),
                ("DEFAULT_RUNTIME_CLASS_NAME", "kata"),
                ("ENABLE_AFFINITY_CR_INJECTION", "false"),
                ("POD_CPU_LIMIT", ""),
                ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
                ("KAFKA_SECURITY_ENABLED", "true"),
                ("KAFKA_PASSWORD_SECRET_NAME", "kafka"),
            ]),
        ),
    ]
}

#[test]
fn defaulted_copy_builds_identically() {
    let mut with_defaults_to_fill = 0;
    for (name, test) in fixtures() {
        let defaulted = defaulted(&test);
        if defaulted.spec != test.spec {
            with_defaults_to_fill += 1;
        }
        for (config_name, config) in configs() {
            assert_eq!(
                desired(&test, &config),
                desired(&defaulted, &config),
                "{name} with {config_name}"
            );
        }
    }
    assert!(
        with_defaults_to_fill >= 3,
        "most fixtures leave defaults to fill"
    );
}

#[test]
fn objects_round_trip_through_json_and_have_no_empty_lists() {
    for (name, test) in fixtures() {
        for (config_name, config) in configs() {
            let built = desired(&test, &config);
            let what = format!("{name} with {config_name}");
            round_trip(&built.service, &format!("{what}: service"));
            round_trip(&built.master_job, &format!("{what}: master job"));
            round_trip(&built.worker_job, &format!("{what}: worker job"));
            // Typed deserialization from the serialized text, as a client would read it.
            let text = serde_json::to_string(&built.master_job).unwrap();
            let _: Job = serde_json::from_str(&text).unwrap();
            let text = serde_json::to_string(&built.service).unwrap();
            let _: Service = serde_json::from_str(&text).unwrap();
        }
    }
}

#[test]
fn complete_example_builds_as_documented() {
    let (_, complete) = fixtures()
        .into_iter()
        .find(|(n, _)| *n == "examples/complete-v2.yaml")
        .unwrap();
    let built = build_default(&complete);
    assert_eq!(
        built.service.metadata.name.as_deref(),
        Some("perf-checkout-master")
    );
    assert_eq!(
        built
            .service
            .spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()
            .len(),
        3,
        "OpenTelemetry on: no metrics port"
    );
    let master = locust(&built.master_job);
    assert_eq!(
        json_of(&master.resources),
        json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}})
    );
    assert_eq!(
        &master.args.as_ref().unwrap()[master.args.as_ref().unwrap().len() - 2..],
        &strings(&["--csv=/data/run", "--loglevel=INFO"])[..]
    );
    assert!(master.args.as_ref().unwrap().contains(&"120".to_owned()));
    assert_eq!(
        env_names(master),
        strings(&[
            "OTEL_TRACES_EXPORTER",
            "OTEL_METRICS_EXPORTER",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_INSECURE",
            "OTEL_RESOURCE_ATTRIBUTES",
            "OTEL_SERVICE_NAME",
            "TARGET_ENV",
            "API_TOKEN",
        ])
    );
    assert_eq!(
        pod(&built.master_job).runtime_class_name.as_deref(),
        Some("gvisor")
    );
    let master_volumes: Vec<&str> = pod(&built.master_job)
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        master_volumes,
        vec![
            "perf-checkout-master",
            "locust-lib",
            "secret-tls-client",
            "results",
            "fixtures"
        ]
    );
    let worker_volumes: Vec<&str> = pod(&built.worker_job)
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        worker_volumes,
        vec![
            "perf-checkout-worker",
            "locust-lib",
            "secret-tls-client",
            "fixtures"
        ]
    );
    assert_eq!(template_labels(&built.master_job)["team"], "payments");
    assert_eq!(
        json_of(&template_annotations(&built.master_job)),
        json!({"owner": "perf@example.com"})
    );
    assert_eq!(
        built.worker_job.spec.as_ref().unwrap().parallelism,
        Some(10)
    );
}
