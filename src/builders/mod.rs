//! Desired state: the Service and Jobs the operator creates for a test, as pure functions of
//! the LocustTest and the operator [`Config`].
//!
//! The builders take a [`Defaulted`] test and read the values that have a default through
//! it: no builder knows a default. Lists that would be empty are left out (`None`), never
//! written as `[]`.
//!
//! Objects per test (docs/compatibility.md A5): the master Service ([`master_service`]), the master Job
//! ([`master_job`]) and the worker Job ([`worker_job`]), all owned by the test.

pub mod args;
pub mod env;
pub mod job;
pub mod meta;
pub mod service;
pub mod volumes;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;

use crate::config::Config;
use crate::defaulting::Defaulted;

pub use job::{master_job, worker_job};
pub use service::master_service;

/// Service port name of the master's worker port 5557 (`port<port>`, no dash, as the Go operator).
pub const PORT_NAME_MASTER: &str = "port5557";
/// Service port name of the master's bind port 5558.
pub const PORT_NAME_MASTER_BIND: &str = "port5558";
/// Service port name of the Locust web UI port 8089 (so `kubectl port-forward svc/<n>-master 8089` works).
pub const PORT_NAME_WEB: &str = "web";
/// Service port name of the metrics exporter port (only when OpenTelemetry is off).
pub const PORT_NAME_METRICS: &str = "prometheus-metrics";
/// Protocol of every Service port.
pub const PROTOCOL_TCP: &str = "TCP";
/// Type of the master Service.
pub const SERVICE_TYPE_CLUSTER_IP: &str = "ClusterIP";

/// Volume (and mount) name of the library ConfigMap (`spec.testFiles.libConfigMapRef`).
/// The test-files ConfigMap volume is named after the node name instead.
pub const LIB_VOLUME_NAME: &str = "locust-lib";
/// Prefix of the volume name of each `spec.env.secretMounts[]` entry: `secret-<secret name>`.
pub const SECRET_VOLUME_PREFIX: &str = "secret-";

/// Master pod annotation telling Prometheus to scrape the pod.
pub const ANNOTATION_PROMETHEUS_SCRAPE: &str = "prometheus.io/scrape";
/// Master pod annotation with the scrape path.
pub const ANNOTATION_PROMETHEUS_PATH: &str = "prometheus.io/path";
/// Master pod annotation with the scrape port (the exporter port).
pub const ANNOTATION_PROMETHEUS_PORT: &str = "prometheus.io/port";
/// Value of [`ANNOTATION_PROMETHEUS_SCRAPE`].
pub const PROMETHEUS_SCRAPE_VALUE: &str = "true";
/// Value of [`ANNOTATION_PROMETHEUS_PATH`]: the exporter's metrics path.
pub const METRICS_PATH: &str = "/metrics";

/// Name of the metrics exporter native sidecar (an init container of the master pod).
pub const EXPORTER_CONTAINER_NAME: &str = "locust-metrics-exporter";
/// Exporter variable with the Locust web UI URL it scrapes.
pub const ENV_EXPORTER_URI: &str = "LOCUST_EXPORTER_URI";
/// Exporter variable with its listen address (`:<port>`).
pub const ENV_EXPORTER_LISTEN_ADDRESS: &str = "LOCUST_EXPORTER_WEB_LISTEN_ADDRESS";
/// Value of [`ENV_EXPORTER_URI`]: the master's web UI in the same pod.
pub const EXPORTER_URI: &str = "http://localhost:8089";

/// OpenTelemetry: traces exporter variable (value [`OTEL_EXPORTER_OTLP`]).
pub const ENV_OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// OpenTelemetry: metrics exporter variable (value [`OTEL_EXPORTER_OTLP`]).
pub const ENV_OTEL_METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
/// OpenTelemetry: collector endpoint variable.
pub const ENV_OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// OpenTelemetry: OTLP protocol variable (`grpc` or `http/protobuf`).
pub const ENV_OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// OpenTelemetry: plaintext connection variable (only set, to `true`, when insecure).
pub const ENV_OTEL_EXPORTER_OTLP_INSECURE: &str = "OTEL_EXPORTER_OTLP_INSECURE";
/// Value of the OpenTelemetry exporter variables.
pub const OTEL_EXPORTER_OTLP: &str = "otlp";

/// Kafka: bootstrap servers variable.
pub const ENV_KAFKA_BOOTSTRAP_SERVERS: &str = "KAFKA_BOOTSTRAP_SERVERS";
/// Kafka: `true` / `false` variable.
pub const ENV_KAFKA_SECURITY_ENABLED: &str = "KAFKA_SECURITY_ENABLED";
/// Kafka: security protocol variable (only when security is enabled).
pub const ENV_KAFKA_SECURITY_PROTOCOL_CONFIG: &str = "KAFKA_SECURITY_PROTOCOL_CONFIG";
/// Kafka: SASL mechanism variable (only when security is enabled).
pub const ENV_KAFKA_SASL_MECHANISM: &str = "KAFKA_SASL_MECHANISM";
/// Kafka: SASL JAAS configuration variable (only when security is enabled and it is set).
pub const ENV_KAFKA_SASL_JAAS_CONFIG: &str = "KAFKA_SASL_JAAS_CONFIG";
/// Kafka: user name variable (only when security is enabled and it is set).
pub const ENV_KAFKA_USERNAME: &str = "KAFKA_USERNAME";
/// Kafka: password variable, always a `secretKeyRef` (only when security is enabled and the
/// operator names a password Secret).
pub const ENV_KAFKA_PASSWORD: &str = "KAFKA_PASSWORD";

/// Job `backoffLimit`: a test is never retried.
pub const BACKOFF_LIMIT: i32 = 0;
/// Master Job `parallelism`.
pub const MASTER_PARALLELISM: i32 = 1;
/// Pod `restartPolicy` of test pods.
pub const POD_RESTART_POLICY: &str = "Never";
/// Container `restartPolicy` that makes an init container a native sidecar.
pub const SIDECAR_RESTART_POLICY: &str = "Always";
/// `seccompProfile.type` of the default pod security context.
pub const SECCOMP_RUNTIME_DEFAULT: &str = "RuntimeDefault";
/// Capability the exporter drops.
pub const CAPABILITY_ALL: &str = "ALL";

/// The three objects of a test.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// The master Service `<n>-master`.
    pub service: Service,
    /// The master Job `<n>-master`.
    pub master_job: Job,
    /// The worker Job `<n>-worker`.
    pub worker_job: Job,
}

/// Every object of `test`, in creation order.
pub fn desired(test: &Defaulted, config: &Config) -> Desired {
    Desired {
        service: master_service(test, config),
        master_job: master_job(test, config),
        worker_job: worker_job(test, config),
    }
}
