//! Whole-object invariants over manifests covering every optional field: the defaulted copy
//! builds identically, objects round-trip through JSON with no empty lists, and the complete
//! example builds as documented.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use locust_operator::api::LocustTest;
use locust_operator::config::Config;
use serde_json::json;

use crate::{
    base_test, build_default, config, defaulted, desired, env_names, json_of, locust, pod,
    round_trip, strings, template_annotations, template_labels, test_with,
};

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
