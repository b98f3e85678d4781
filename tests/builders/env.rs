//! The locust container's environment: OpenTelemetry, Kafka and user variables, their order,
//! and `envFrom` ConfigMaps and Secrets.

use k8s_openapi::api::core::v1::Container;
use serde_json::{Value, json};

use crate::{
    Vars, build, build_default, config, env_names, jobs, json_of, locust, pod, strings, test_with,
};

/// Expected `(name, JSON value)` pairs.
type NamedValues = Vec<(&'static str, Value)>;

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
