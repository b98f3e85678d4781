//! Environment of the Locust container: OpenTelemetry, Kafka and the user's variables
//! (`env`), and the user's ConfigMaps and Secrets (`envFrom`).

use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, EnvFromSource, EnvVar, EnvVarSource, SecretEnvSource, SecretKeySelector,
};

use super::args::otel_enabled;
use super::{
    ENV_KAFKA_BOOTSTRAP_SERVERS, ENV_KAFKA_PASSWORD, ENV_KAFKA_SASL_JAAS_CONFIG,
    ENV_KAFKA_SASL_MECHANISM, ENV_KAFKA_SECURITY_ENABLED, ENV_KAFKA_SECURITY_PROTOCOL_CONFIG,
    ENV_KAFKA_USERNAME, ENV_OTEL_EXPORTER_OTLP_ENDPOINT, ENV_OTEL_EXPORTER_OTLP_INSECURE,
    ENV_OTEL_EXPORTER_OTLP_PROTOCOL, ENV_OTEL_METRICS_EXPORTER, ENV_OTEL_TRACES_EXPORTER,
    OTEL_EXPORTER_OTLP,
};
use crate::api::v2::LocustTestSpec;
use crate::config::KafkaConfig;
use crate::defaulting::Defaulted;

/// A plain `name=value` variable.
pub fn var(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// OpenTelemetry variables, empty when OpenTelemetry is off: `OTEL_TRACES_EXPORTER=otlp`,
/// `OTEL_METRICS_EXPORTER=otlp`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`
/// (default `grpc`), `OTEL_EXPORTER_OTLP_INSECURE=true` only when insecure, then
/// `extraEnvVars` sorted by name.
pub fn otel_env(test: &Defaulted) -> Vec<EnvVar> {
    let spec = &test.spec;
    let otel = match spec
        .observability
        .as_ref()
        .and_then(|o| o.open_telemetry.as_ref())
    {
        Some(otel) if otel_enabled(spec) => otel,
        _ => return Vec::new(),
    };
    let mut env = vec![
        var(ENV_OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP),
        var(ENV_OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP),
    ];
    if let Some(endpoint) = otel.endpoint.as_deref().filter(|e| !e.is_empty()) {
        env.push(var(ENV_OTEL_EXPORTER_OTLP_ENDPOINT, endpoint));
    }
    env.push(var(
        ENV_OTEL_EXPORTER_OTLP_PROTOCOL,
        test.otel_protocol().as_str(),
    ));
    if test.otel_insecure() {
        env.push(var(ENV_OTEL_EXPORTER_OTLP_INSECURE, "true"));
    }
    // A BTreeMap iterates sorted by key.
    env.extend(
        otel.extra_env_vars
            .iter()
            .flatten()
            .map(|(name, value)| var(name, value.as_str())),
    );
    env
}

/// Kafka variables, empty when the operator has no Kafka configuration. The password is only
/// ever a `secretKeyRef`.
pub fn kafka_env(kafka: Option<&KafkaConfig>) -> Vec<EnvVar> {
    let Some(kafka) = kafka else {
        return Vec::new();
    };
    let mut env = vec![
        var(
            ENV_KAFKA_BOOTSTRAP_SERVERS,
            kafka.bootstrap_servers.as_str(),
        ),
        var(
            ENV_KAFKA_SECURITY_ENABLED,
            if kafka.security_enabled {
                "true"
            } else {
                "false"
            },
        ),
    ];
    if !kafka.security_enabled {
        return env;
    }
    env.push(var(
        ENV_KAFKA_SECURITY_PROTOCOL_CONFIG,
        kafka.security_protocol.as_str(),
    ));
    env.push(var(ENV_KAFKA_SASL_MECHANISM, kafka.sasl_mechanism.as_str()));
    if let Some(jaas) = &kafka.sasl_jaas_config {
        env.push(var(ENV_KAFKA_SASL_JAAS_CONFIG, jaas.as_str()));
    }
    if let Some(username) = &kafka.username {
        env.push(var(ENV_KAFKA_USERNAME, username.as_str()));
    }
    if let Some((secret, key)) = &kafka.password_secret {
        env.push(EnvVar {
            name: ENV_KAFKA_PASSWORD.to_owned(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: secret.clone(),
                    key: key.clone(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            }),
        });
    }
    env
}

/// The Locust container's `env`: OpenTelemetry, then Kafka, then `spec.env.variables` in order.
pub fn locust_env(test: &Defaulted, kafka: Option<&KafkaConfig>) -> Vec<EnvVar> {
    let spec = &test.spec;
    let mut env = otel_env(test);
    env.extend(kafka_env(kafka));
    env.extend(
        spec.env
            .as_ref()
            .and_then(|e| e.variables.as_ref())
            .into_iter()
            .flatten()
            .cloned(),
    );
    env
}

/// The Locust container's `envFrom`: `spec.env.configMapRefs` then `spec.env.secretRefs`, in
/// order, each with its prefix.
pub fn locust_env_from(spec: &LocustTestSpec) -> Vec<EnvFromSource> {
    let Some(env) = spec.env.as_ref() else {
        return Vec::new();
    };
    let config_maps = env.config_map_refs.iter().flatten().map(|r| EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource {
            name: r.name.clone(),
            optional: None,
        }),
        prefix: r.prefix.clone().filter(|p| !p.is_empty()),
        secret_ref: None,
    });
    let secrets = env.secret_refs.iter().flatten().map(|r| EnvFromSource {
        config_map_ref: None,
        prefix: r.prefix.clone().filter(|p| !p.is_empty()),
        secret_ref: Some(SecretEnvSource {
            name: r.name.clone(),
            optional: None,
        }),
    });
    config_maps.chain(secrets).collect()
}
