//! Operator configuration (docs/compatibility.md A7 and Part B items 9 and 10): every variable, its
//! default, invalid values (all reported, each naming the variable and the value), empty
//! values removing requests/limits, TTL 0, Kafka, and the process flags.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::core::v1::ResourceRequirements;
use locust_operator::config::{Config, ConfigError, KafkaConfig};
use locust_operator::flags::{Namespaces, ProcessFlags};

fn load(vars: &[(&str, &str)]) -> Result<(Config, Vec<String>), ConfigError> {
    let map: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(&|name| map.get(name).cloned())
}

fn loaded(vars: &[(&str, &str)]) -> Config {
    load(vars).unwrap().0
}

/// `(requests, limits)` as `key=value` lists, for compact assertions.
fn summary(resources: &ResourceRequirements) -> (Vec<String>, Vec<String>) {
    let list = |map: &Option<
        BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| {
        map.iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.0))
            .collect::<Vec<_>>()
    };
    (list(&resources.requests), list(&resources.limits))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn defaults_without_any_variable() {
    let config = loaded(&[]);
    assert_eq!(config, Config::defaults());
    assert_eq!(config.job_ttl_seconds_after_finished, None);
    let pod = (
        strings(&["cpu=250m", "ephemeral-storage=30M", "memory=128Mi"]),
        strings(&["cpu=1000m", "ephemeral-storage=50M", "memory=1024Mi"]),
    );
    assert_eq!(summary(&config.master_resources), pod);
    assert_eq!(summary(&config.worker_resources), pod);
    assert_eq!(config.exporter.image, "containersol/locust_exporter:v0.5.0");
    assert_eq!(config.exporter.port, 9646);
    assert_eq!(config.exporter.pull_policy, "IfNotPresent");
    assert_eq!(
        summary(&config.exporter.resources),
        (
            strings(&["cpu=100m", "ephemeral-storage=30M", "memory=64Mi"]),
            strings(&["cpu=250m", "ephemeral-storage=50M", "memory=128Mi"])
        )
    );
    assert_eq!(config.default_runtime_class_name, None);
    assert!(config.affinity_injection && config.tolerations_injection);
    assert_eq!(config.kafka, None);
}

#[test]
fn resources_fall_back_per_field_role_then_global_then_built_in() {
    let config = loaded(&[
        ("POD_CPU_REQUEST", "500m"),
        ("POD_MEM_LIMIT", "2Gi"),
        ("MASTER_POD_CPU_REQUEST", "1"),
        ("WORKER_POD_EPHEMERAL_LIMIT", "1Gi"),
    ]);
    assert_eq!(
        summary(&config.master_resources),
        (
            strings(&["cpu=1", "ephemeral-storage=30M", "memory=128Mi"]),
            strings(&["cpu=1000m", "ephemeral-storage=50M", "memory=2Gi"])
        )
    );
    assert_eq!(
        summary(&config.worker_resources),
        (
            strings(&["cpu=500m", "ephemeral-storage=30M", "memory=128Mi"]),
            strings(&["cpu=1000m", "ephemeral-storage=1Gi", "memory=2Gi"])
        )
    );
}

#[test]
fn an_empty_value_removes_the_request_or_limit() {
    let config = loaded(&[
        ("POD_CPU_LIMIT", ""),
        ("WORKER_POD_MEM_LIMIT", ""),
        ("MASTER_POD_EPHEMERAL_REQUEST", ""),
        ("METRICS_EXPORTER_CPU_LIMIT", ""),
    ]);
    let (requests, limits) = summary(&config.master_resources);
    assert_eq!(requests, strings(&["cpu=250m", "memory=128Mi"]));
    assert_eq!(limits, strings(&["ephemeral-storage=50M", "memory=1024Mi"]));
    let (_, limits) = summary(&config.worker_resources);
    assert_eq!(limits, strings(&["ephemeral-storage=50M"]));
    assert!(
        !summary(&config.exporter.resources)
            .1
            .contains(&"cpu=250m".to_string())
    );

    // Removing everything leaves no requests or limits at all.
    let all: Vec<(String, &str)> = ["CPU", "MEM", "EPHEMERAL"]
        .iter()
        .flat_map(|r| ["REQUEST", "LIMIT"].map(|k| (format!("POD_{r}_{k}"), "")))
        .collect();
    let vars: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let config = loaded(&vars);
    assert_eq!(config.master_resources, ResourceRequirements::default());
}

#[test]
fn ttl_accepts_zero_and_rejects_nonsense() {
    assert_eq!(
        loaded(&[("JOB_TTL_SECONDS_AFTER_FINISHED", "0")]).job_ttl_seconds_after_finished,
        Some(0)
    );
    assert_eq!(
        loaded(&[("JOB_TTL_SECONDS_AFTER_FINISHED", "3600")]).job_ttl_seconds_after_finished,
        Some(3600)
    );
    assert_eq!(
        loaded(&[("JOB_TTL_SECONDS_AFTER_FINISHED", "")]).job_ttl_seconds_after_finished,
        None
    );
    for bad in ["-1", "1h", "1.5", "99999999999"] {
        let error = load(&[("JOB_TTL_SECONDS_AFTER_FINISHED", bad)]).unwrap_err();
        assert_eq!(error.0.len(), 1, "{bad}");
        assert!(
            error.0[0].starts_with(&format!("JOB_TTL_SECONDS_AFTER_FINISHED={bad:?}: ")),
            "{error}"
        );
    }
}

#[test]
fn every_invalid_value_is_reported_at_once_naming_variable_and_value() {
    let error = load(&[
        ("POD_CPU_REQUEST", "fast"),
        ("MASTER_POD_MEM_LIMIT", "1 Gi"),
        ("WORKER_POD_EPHEMERAL_REQUEST", "-"),
        ("METRICS_EXPORTER_MEM_REQUEST", "64MB"),
        ("METRICS_EXPORTER_PORT", "70000"),
        ("METRICS_EXPORTER_IMAGE_PULL_POLICY", "Sometimes"),
        ("DEFAULT_RUNTIME_CLASS_NAME", "GVisor"),
        ("ENABLE_AFFINITY_CR_INJECTION", "yes"),
        ("ENABLE_TAINT_TOLERATIONS_CR_INJECTION", "nope"),
        ("JOB_TTL_SECONDS_AFTER_FINISHED", "soon"),
    ])
    .unwrap_err();
    let variables: Vec<&str> = error
        .0
        .iter()
        .map(|line| line.split('=').next().unwrap())
        .collect();
    let mut sorted = variables.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "DEFAULT_RUNTIME_CLASS_NAME",
            "ENABLE_AFFINITY_CR_INJECTION",
            "ENABLE_TAINT_TOLERATIONS_CR_INJECTION",
            "JOB_TTL_SECONDS_AFTER_FINISHED",
            "MASTER_POD_MEM_LIMIT",
            "METRICS_EXPORTER_IMAGE_PULL_POLICY",
            "METRICS_EXPORTER_MEM_REQUEST",
            "METRICS_EXPORTER_PORT",
            "POD_CPU_REQUEST",
            "WORKER_POD_EPHEMERAL_REQUEST",
        ],
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with("invalid operator configuration:\n  - "),
        "{text}"
    );
    assert!(
        text.contains("POD_CPU_REQUEST=\"fast\": not a Kubernetes quantity"),
        "{text}"
    );
    assert!(
        text.contains("DEFAULT_RUNTIME_CLASS_NAME=\"GVisor\""),
        "{text}"
    );
    // A global error is reported once, not once per role.
    assert_eq!(
        text.matches("POD_CPU_REQUEST=\"fast\"").count(),
        1,
        "{text}"
    );
}

#[test]
fn booleans_runtime_class_and_exporter() {
    let config = loaded(&[
        ("ENABLE_AFFINITY_CR_INJECTION", "false"),
        ("ENABLE_TAINT_TOLERATIONS_CR_INJECTION", "0"),
        ("DEFAULT_RUNTIME_CLASS_NAME", "gvisor"),
        ("METRICS_EXPORTER_IMAGE", "registry.example.com/exporter:1"),
        ("METRICS_EXPORTER_PORT", "9100"),
        ("METRICS_EXPORTER_IMAGE_PULL_POLICY", "Always"),
    ]);
    assert!(!config.affinity_injection && !config.tolerations_injection);
    assert_eq!(config.default_runtime_class_name.as_deref(), Some("gvisor"));
    assert_eq!(config.exporter.image, "registry.example.com/exporter:1");
    assert_eq!(config.exporter.port, 9100);
    assert_eq!(config.exporter.pull_policy, "Always");
    assert_eq!(
        loaded(&[("DEFAULT_RUNTIME_CLASS_NAME", "")]).default_runtime_class_name,
        None
    );
}

#[test]
fn kafka_only_when_configured_and_password_only_by_reference() {
    assert_eq!(
        loaded(&[("KAFKA_SECURITY_ENABLED", "true"), ("KAFKA_USERNAME", "u")]).kafka,
        None
    );

    let (config, warnings) = load(&[("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")]).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(
        config.kafka,
        Some(KafkaConfig {
            bootstrap_servers: "kafka:9092".into(),
            security_enabled: false,
            security_protocol: "SASL_PLAINTEXT".into(),
            sasl_mechanism: "SCRAM-SHA-512".into(),
            sasl_jaas_config: None,
            username: None,
            password_secret: None,
        })
    );

    let (config, warnings) = load(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9093"),
        ("KAFKA_SECURITY_ENABLED", "true"),
        ("KAFKA_SECURITY_PROTOCOL_CONFIG", "SASL_SSL"),
        ("KAFKA_SASL_MECHANISM", "PLAIN"),
        ("KAFKA_USERNAME", "load"),
        ("KAFKA_PASSWORD", "hunter2"),
        ("KAFKA_PASSWORD_SECRET_NAME", "kafka-creds"),
    ])
    .unwrap();
    let kafka = config.kafka.unwrap();
    assert!(kafka.security_enabled);
    assert_eq!(kafka.security_protocol, "SASL_SSL");
    assert_eq!(kafka.username.as_deref(), Some("load"));
    assert_eq!(
        kafka.password_secret,
        Some(("kafka-creds".into(), "password".into()))
    );
    // The literal password is never kept, and the user is told why.
    assert!(!format!("{kafka:?}").contains("hunter2"));
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("KAFKA_PASSWORD is ignored"),
        "{warnings:?}"
    );
}

#[derive(Parser, Debug)]
struct Flags {
    #[command(flatten)]
    flags: ProcessFlags,
}

fn flags(args: &[&str]) -> Result<ProcessFlags, clap::Error> {
    Flags::try_parse_from(std::iter::once("test").chain(args.iter().copied())).map(|f| f.flags)
}

#[test]
fn process_flags_defaults_and_parsing() {
    // Environment variables of the same names would override these defaults; none are set
    // in the test process.
    let defaults = flags(&[]).unwrap();
    assert_eq!(
        defaults.server.webhook_bind_address,
        "0.0.0.0:9443".parse().unwrap()
    );
    assert_eq!(
        defaults.server.metrics_bind_address,
        "0.0.0.0:8080".parse().unwrap()
    );
    assert_eq!(
        defaults.server.health_probe_bind_address,
        "0.0.0.0:8081".parse().unwrap()
    );
    assert_eq!(
        defaults.server.cert_reload_interval,
        Duration::from_secs(10)
    );
    assert!(defaults.leader_elect);
    assert_eq!(defaults.leader_election_id, "locust-k8s-operator.locust.io");
    assert_eq!(defaults.pod_health_grace_period, Duration::from_secs(120));
    assert_eq!(defaults.watch_namespace, Namespaces::default());
    assert_eq!(defaults.locust_poll_interval, Duration::from_secs(10));
    assert_eq!(
        defaults.worker_connect_timeout,
        locust_operator::defaulting::DEFAULT_WORKER_CONNECT_TIMEOUT
    );

    let parsed = flags(&[
        "--leader-elect=false",
        "--pod-health-grace-period=90s",
        "--locust-poll-interval=2s",
        "--worker-connect-timeout=90s",
        "--watch-namespace=load-b, load-a,load-b",
        "--webhook-bind-address=127.0.0.1:10443",
        "--metrics-bind-address=[::1]:9000",
    ])
    .unwrap();
    assert!(!parsed.leader_elect);
    assert_eq!(parsed.pod_health_grace_period, Duration::from_secs(90));
    assert_eq!(parsed.locust_poll_interval, Duration::from_secs(2));
    assert_eq!(parsed.worker_connect_timeout, Duration::from_secs(90));
    assert_eq!(
        parsed.watch_namespace,
        Namespaces(vec!["load-a".into(), "load-b".into()])
    );
    assert_eq!(
        parsed.server.webhook_bind_address,
        "127.0.0.1:10443".parse().unwrap()
    );
    assert_eq!(
        parsed.server.metrics_bind_address,
        "[::1]:9000".parse().unwrap()
    );

    for (bad, needle) in [
        (
            &["--pod-health-grace-period=soon"][..],
            "pod-health-grace-period",
        ),
        (&["--watch-namespace=Load_A"][..], "not a namespace name"),
        (
            &["--locust-poll-interval=500ms"][..],
            "shorter than the least allowed, 1s",
        ),
        (
            &["--worker-connect-timeout=0s"][..],
            "shorter than the least allowed, 1s",
        ),
        (&["--webhook-bind-address=:70000"][..], "is not an address"),
        (
            &["--health-probe-bind-address=localhost"][..],
            "is not an address",
        ),
    ] {
        let error = flags(bad).unwrap_err().to_string();
        assert!(error.contains(needle), "{bad:?}: {error}");
    }
}
