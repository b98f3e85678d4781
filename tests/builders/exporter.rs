//! Pod annotations (Prometheus scraping, user annotations, OpenTelemetry) and the metrics
//! exporter sidecar: only in the master, only without OpenTelemetry, configured by the operator.

use locust_operator::builders::EXPORTER_CONTAINER_NAME;
use serde_json::{Value, json};

use crate::{
    Vars, base_test, build, build_default, config, json_of, pod, template_annotations, test_with,
};

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
