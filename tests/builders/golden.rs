//! Golden objects: the Service, both Jobs and their pods for a minimal test with the default
//! configuration, field by field, and the constants users see in them.

use locust_operator::builders::args::{MASTER_PORT, WEB_UI_PORT};
use locust_operator::builders::{
    self, EXPORTER_CONTAINER_NAME, EXPORTER_URI, LIB_VOLUME_NAME, PORT_NAME_MASTER,
    PORT_NAME_MASTER_BIND, PORT_NAME_METRICS, PORT_NAME_WEB, SECRET_VOLUME_PREFIX,
};
use locust_operator::config::Config;
use serde_json::json;

use crate::{
    base_test, build_default, default_pod_resources, desired, json_of, operator_labels,
    owner_references, read, strings, test_with,
};

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
    let test = read(&test);
    assert_eq!(built.service, builders::master_service(&test, &config));
    assert_eq!(built.master_job, builders::master_job(&test, &config));
    assert_eq!(built.worker_job, builders::worker_job(&test, &config));
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
