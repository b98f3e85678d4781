//! Operator configuration: the environment variables of the Go operator (docs/compatibility.md A7), with
//! the same names, read once at start-up and validated.
//!
//! Every invalid value stops start-up with an error naming the variable and the value; all of
//! them are reported at once. Deliberate differences from the Go operator (docs/compatibility.md Part B):
//! - an empty value (`VAR=""`) for a resource default *removes* that request or limit;
//! - `JOB_TTL_SECONDS_AFTER_FINISHED=0` is allowed (delete right after finishing);
//! - unparsable booleans and numbers are errors, not silently replaced by defaults;
//! - Kafka variables reach the test pods only when `KAFKA_BOOTSTRAP_SERVERS` is set, and the
//!   password only as a `secretKeyRef` to the Secret named by `KAFKA_PASSWORD_SECRET_NAME`
//!   (never as a literal in a Job spec; a literal `KAFKA_PASSWORD` is ignored with a warning).
//!
//! Defaults follow the Go operator's Helm chart, which is how it is deployed: affinity and
//! toleration injection on, the metrics exporter pulled `IfNotPresent` with small resources.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity;

/// Default Locust container requests and limits when neither the test nor the operator sets them.
pub const DEFAULT_POD_RESOURCES: ResourceDefaults = ResourceDefaults {
    cpu_request: "250m",
    memory_request: "128Mi",
    ephemeral_request: "30M",
    cpu_limit: "1000m",
    memory_limit: "1024Mi",
    ephemeral_limit: "50M",
};
/// Default metrics exporter requests and limits.
pub const DEFAULT_EXPORTER_RESOURCES: ResourceDefaults = ResourceDefaults {
    cpu_request: "100m",
    memory_request: "64Mi",
    ephemeral_request: "30M",
    cpu_limit: "250m",
    memory_limit: "128Mi",
    ephemeral_limit: "50M",
};
/// Default metrics exporter image.
pub const DEFAULT_EXPORTER_IMAGE: &str = "containersol/locust_exporter:v0.5.0";
/// Default metrics exporter port.
pub const DEFAULT_EXPORTER_PORT: i32 = 9646;
/// Default metrics exporter pull policy.
pub const DEFAULT_EXPORTER_PULL_POLICY: &str = "IfNotPresent";
/// Default key of the Kafka password in `KAFKA_PASSWORD_SECRET_NAME`.
pub const DEFAULT_KAFKA_PASSWORD_SECRET_KEY: &str = "password";

/// Six built-in request/limit values.
#[derive(Clone, Copy, Debug)]
pub struct ResourceDefaults {
    /// `cpu` request.
    pub cpu_request: &'static str,
    /// `memory` request.
    pub memory_request: &'static str,
    /// `ephemeral-storage` request.
    pub ephemeral_request: &'static str,
    /// `cpu` limit.
    pub cpu_limit: &'static str,
    /// `memory` limit.
    pub memory_limit: &'static str,
    /// `ephemeral-storage` limit.
    pub ephemeral_limit: &'static str,
}

/// Everything the resource builders need from the operator's environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `ttlSecondsAfterFinished` of test Jobs (`JOB_TTL_SECONDS_AFTER_FINISHED`); `None` keeps them.
    pub job_ttl_seconds_after_finished: Option<i32>,
    /// Locust container resources of the master when the test sets none.
    pub master_resources: ResourceRequirements,
    /// Locust container resources of a worker when the test sets none.
    pub worker_resources: ResourceRequirements,
    /// The Prometheus metrics exporter sidecar of the master.
    pub exporter: ExporterConfig,
    /// RuntimeClass for test pods whose spec does not choose one (`DEFAULT_RUNTIME_CLASS_NAME`).
    pub default_runtime_class_name: Option<String>,
    /// Copy `spec.scheduling.affinity` into pods (`ENABLE_AFFINITY_CR_INJECTION`, default true).
    pub affinity_injection: bool,
    /// Copy `spec.scheduling.tolerations` into pods (`ENABLE_TAINT_TOLERATIONS_CR_INJECTION`, default true).
    pub tolerations_injection: bool,
    /// Kafka settings for the test pods, when `KAFKA_BOOTSTRAP_SERVERS` is set.
    pub kafka: Option<KafkaConfig>,
}

/// The metrics exporter sidecar.
#[derive(Clone, Debug, PartialEq)]
pub struct ExporterConfig {
    /// `METRICS_EXPORTER_IMAGE`.
    pub image: String,
    /// `METRICS_EXPORTER_PORT`.
    pub port: i32,
    /// `METRICS_EXPORTER_IMAGE_PULL_POLICY`.
    pub pull_policy: String,
    /// `METRICS_EXPORTER_{CPU,MEM,EPHEMERAL}_{REQUEST,LIMIT}`.
    pub resources: ResourceRequirements,
}

/// Kafka connection settings injected as environment variables into the Locust containers.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaConfig {
    /// `KAFKA_BOOTSTRAP_SERVERS`.
    pub bootstrap_servers: String,
    /// `KAFKA_SECURITY_ENABLED`.
    pub security_enabled: bool,
    /// `KAFKA_SECURITY_PROTOCOL_CONFIG` (default `SASL_PLAINTEXT`).
    pub security_protocol: String,
    /// `KAFKA_SASL_MECHANISM` (default `SCRAM-SHA-512`).
    pub sasl_mechanism: String,
    /// `KAFKA_SASL_JAAS_CONFIG`.
    pub sasl_jaas_config: Option<String>,
    /// `KAFKA_USERNAME`.
    pub username: Option<String>,
    /// The Secret (in the test's namespace) and key holding the password:
    /// `KAFKA_PASSWORD_SECRET_NAME`, `KAFKA_PASSWORD_SECRET_KEY` (default `password`).
    pub password_secret: Option<(String, String)>,
}

/// Start-up configuration errors: every invalid variable, one line each.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid operator configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// What a variable lookup returns: `None` when unset.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<(Self, Vec<String>), ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    /// Returns it with start-up warnings (settings that are accepted but ignored).
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<(Self, Vec<String>), ConfigError> {
        let mut reader = Reader {
            lookup,
            errors: Vec::new(),
        };
        let mut warnings = Vec::new();

        let job_ttl_seconds_after_finished =
            reader.non_negative_i32("JOB_TTL_SECONDS_AFTER_FINISHED");
        let master_resources = reader.role_resources("MASTER_POD_");
        let worker_resources = reader.role_resources("WORKER_POD_");
        let exporter = ExporterConfig {
            image: reader
                .string("METRICS_EXPORTER_IMAGE")
                .unwrap_or_else(|| DEFAULT_EXPORTER_IMAGE.to_owned()),
            port: reader
                .port("METRICS_EXPORTER_PORT")
                .unwrap_or(DEFAULT_EXPORTER_PORT),
            pull_policy: reader.pull_policy("METRICS_EXPORTER_IMAGE_PULL_POLICY"),
            resources: reader.resources("METRICS_EXPORTER_", &DEFAULT_EXPORTER_RESOURCES, None),
        };
        let default_runtime_class_name = reader.runtime_class("DEFAULT_RUNTIME_CLASS_NAME");
        let affinity_injection = reader.boolean("ENABLE_AFFINITY_CR_INJECTION", true);
        let tolerations_injection = reader.boolean("ENABLE_TAINT_TOLERATIONS_CR_INJECTION", true);
        let kafka = reader.kafka(&mut warnings);

        if !reader.errors.is_empty() {
            return Err(ConfigError(reader.errors));
        }
        Ok((
            Config {
                job_ttl_seconds_after_finished,
                master_resources,
                worker_resources,
                exporter,
                default_runtime_class_name,
                affinity_injection,
                tolerations_injection,
                kafka,
            },
            warnings,
        ))
    }

    /// The configuration of an operator started with an empty environment.
    pub fn defaults() -> Self {
        match Self::from_lookup(&|_| None) {
            Ok((config, _)) => config,
            // The built-in defaults are constants that parse (unit-tested).
            Err(error) => unreachable!("built-in defaults are valid: {error}"),
        }
    }
}

struct Reader<'a> {
    lookup: Lookup<'a>,
    errors: Vec<String>,
}

/// Picks one of the six values of [`ResourceDefaults`].
type DefaultOf = fn(&ResourceDefaults) -> &'static str;

/// Resource key, variable suffix, built-in default, and whether it is a limit.
const RESOURCE_FIELDS: [(&str, &str, DefaultOf, bool); 6] = [
    ("cpu", "CPU_REQUEST", |d| d.cpu_request, false),
    ("memory", "MEM_REQUEST", |d| d.memory_request, false),
    (
        "ephemeral-storage",
        "EPHEMERAL_REQUEST",
        |d| d.ephemeral_request,
        false,
    ),
    ("cpu", "CPU_LIMIT", |d| d.cpu_limit, true),
    ("memory", "MEM_LIMIT", |d| d.memory_limit, true),
    (
        "ephemeral-storage",
        "EPHEMERAL_LIMIT",
        |d| d.ephemeral_limit,
        true,
    ),
];

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn error(&mut self, name: &str, value: &str, reason: impl std::fmt::Display) {
        self.errors.push(format!("{name}={value:?}: {reason}"));
    }

    /// A non-empty string, or `None` when unset or empty.
    fn string(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }

    fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.string(name).as_deref().map(str::trim) {
            None => default,
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => true,
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
            Some(other) => {
                let other = other.to_owned();
                self.error(name, &other, "must be true or false");
                default
            }
        }
    }

    fn non_negative_i32(&mut self, name: &str) -> Option<i32> {
        let value = self.string(name)?;
        match value.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Some(n),
            Ok(_) => {
                self.error(name, &value, "must be 0 or more seconds");
                None
            }
            Err(_) => {
                self.error(name, &value, "must be a whole number of seconds");
                None
            }
        }
    }

    fn port(&mut self, name: &str) -> Option<i32> {
        let value = self.string(name)?;
        match value.trim().parse::<i32>() {
            Ok(n) if (1..=65535).contains(&n) => Some(n),
            _ => {
                self.error(name, &value, "must be a port number from 1 to 65535");
                None
            }
        }
    }

    fn pull_policy(&mut self, name: &str) -> String {
        match self.string(name) {
            None => DEFAULT_EXPORTER_PULL_POLICY.to_owned(),
            Some(p) if ["Always", "IfNotPresent", "Never"].contains(&p.as_str()) => p,
            Some(p) => {
                self.error(name, &p, "must be Always, IfNotPresent or Never");
                DEFAULT_EXPORTER_PULL_POLICY.to_owned()
            }
        }
    }

    fn runtime_class(&mut self, name: &str) -> Option<String> {
        let value = self.string(name)?;
        if crate::syntax::dns_subdomain(&value).is_ok() {
            Some(value)
        } else {
            self.error(
                name,
                &value,
                "must be a RuntimeClass name: lowercase letters, digits, '-' and '.', at most 253 characters",
            );
            None
        }
    }

    /// One request or limit: `None` when the variable is unset (fall back), `Some(None)` when
    /// it is set to `""` (remove), `Some(Some(q))` for a value.
    fn quantity(&mut self, name: &str) -> Option<Option<Quantity>> {
        let value = self.get(name)?;
        if value.is_empty() {
            return Some(None);
        }
        match quantity::quantity(value.trim()) {
            Ok(q) => Some(Some(q)),
            Err(e) => {
                self.error(name, &value, format!("not a Kubernetes quantity ({e})"));
                Some(None)
            }
        }
    }

    /// `PREFIX{CPU,MEM,EPHEMERAL}_{REQUEST,LIMIT}`, each falling back to `fallback` (when
    /// given) and then to the built-in default.
    fn resources(
        &mut self,
        prefix: &str,
        defaults: &ResourceDefaults,
        fallback: Option<&ResourceRequirements>,
    ) -> ResourceRequirements {
        let mut requests = BTreeMap::new();
        let mut limits = BTreeMap::new();
        for (key, suffix, default, is_limit) in RESOURCE_FIELDS {
            let name = format!("{prefix}{suffix}");
            let chosen = match self.quantity(&name) {
                Some(explicit) => explicit,
                None => match fallback {
                    Some(fallback) => {
                        let list = if is_limit {
                            &fallback.limits
                        } else {
                            &fallback.requests
                        };
                        list.as_ref().and_then(|l| l.get(key)).cloned()
                    }
                    None => Some(Quantity(default(defaults).to_owned())),
                },
            };
            if let Some(q) = chosen {
                if is_limit { &mut limits } else { &mut requests }.insert(key.to_owned(), q);
            }
        }
        ResourceRequirements {
            requests: (!requests.is_empty()).then_some(requests),
            limits: (!limits.is_empty()).then_some(limits),
            claims: None,
        }
    }

    /// Per-role defaults: `MASTER_POD_*` / `WORKER_POD_*`, falling back per field to `POD_*`.
    fn role_resources(&mut self, prefix: &str) -> ResourceRequirements {
        // Read POD_* through a reader that records no errors, so each POD_* error is reported
        // once (by the master pass) rather than once per role.
        let global = {
            let mut quiet = Reader {
                lookup: self.lookup,
                errors: Vec::new(),
            };
            let global = quiet.resources("POD_", &DEFAULT_POD_RESOURCES, None);
            if prefix == "MASTER_POD_" {
                self.errors.extend(quiet.errors);
            }
            global
        };
        self.resources(prefix, &DEFAULT_POD_RESOURCES, Some(&global))
    }

    fn kafka(&mut self, warnings: &mut Vec<String>) -> Option<KafkaConfig> {
        let literal_password = self.string("KAFKA_PASSWORD").is_some();
        let bootstrap_servers = self.string("KAFKA_BOOTSTRAP_SERVERS")?;
        let password_secret = self.string("KAFKA_PASSWORD_SECRET_NAME").map(|name| {
            let key = self
                .string("KAFKA_PASSWORD_SECRET_KEY")
                .unwrap_or_else(|| DEFAULT_KAFKA_PASSWORD_SECRET_KEY.to_owned());
            (name, key)
        });
        if literal_password {
            warnings.push(
                "KAFKA_PASSWORD is ignored: the operator never writes a password into a Job spec; \
                 set KAFKA_PASSWORD_SECRET_NAME (and KAFKA_PASSWORD_SECRET_KEY) to a Secret in each test namespace"
                    .to_owned(),
            );
        }
        Some(KafkaConfig {
            bootstrap_servers,
            security_enabled: self.boolean("KAFKA_SECURITY_ENABLED", false),
            security_protocol: self
                .string("KAFKA_SECURITY_PROTOCOL_CONFIG")
                .unwrap_or_else(|| "SASL_PLAINTEXT".to_owned()),
            sasl_mechanism: self
                .string("KAFKA_SASL_MECHANISM")
                .unwrap_or_else(|| "SCRAM-SHA-512".to_owned()),
            sasl_jaas_config: self.string("KAFKA_SASL_JAAS_CONFIG"),
            username: self.string("KAFKA_USERNAME"),
            password_secret,
        })
    }
}
