//! The master and worker Jobs, their pod templates, the Locust container and the metrics
//! exporter sidecar.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::args::{self, MASTER_BIND_PORT, MASTER_PORT, WEB_UI_PORT, WORKER_PORT, otel_enabled};
use super::env::{locust_env, locust_env_from, var};
use super::meta::{non_empty, non_empty_map, object_meta, pod_template_labels, test_name};
use super::volumes::volumes_and_mounts;
use super::{
    ANNOTATION_PROMETHEUS_PATH, ANNOTATION_PROMETHEUS_PORT, ANNOTATION_PROMETHEUS_SCRAPE,
    BACKOFF_LIMIT, CAPABILITY_ALL, ENV_EXPORTER_LISTEN_ADDRESS, ENV_EXPORTER_URI,
    EXPORTER_CONTAINER_NAME, EXPORTER_URI, MASTER_PARALLELISM, METRICS_PATH, POD_RESTART_POLICY,
    PROMETHEUS_SCRAPE_VALUE, SECCOMP_RUNTIME_DEFAULT, SIDECAR_RESTART_POLICY,
};
use crate::api::LocustTest;
use crate::config::Config;
use crate::defaulting::Defaulted;
use crate::names::{self, Role};

/// The master Job `<n>-master`: parallelism 1.
pub fn master_job(test: &Defaulted, config: &Config) -> Job {
    job(test, config, Role::Master)
}

/// The worker Job `<n>-worker`: parallelism `spec.worker.replicas`.
pub fn worker_job(test: &Defaulted, config: &Config) -> Job {
    job(test, config, Role::Worker)
}

/// A role's Job: backoffLimit 0, no completions, `ttlSecondsAfterFinished` from the operator
/// configuration.
fn job(test: &Defaulted, config: &Config, role: Role) -> Job {
    let parallelism = match role {
        Role::Master => MASTER_PARALLELISM,
        Role::Worker => test.spec.worker.replicas,
    };
    Job {
        metadata: object_meta(test, role),
        spec: Some(JobSpec {
            parallelism: Some(parallelism),
            backoff_limit: Some(BACKOFF_LIMIT),
            ttl_seconds_after_finished: config.job_ttl_seconds_after_finished,
            template: pod_template(test, config, role),
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// A role's pod template.
pub fn pod_template(test: &Defaulted, config: &Config, role: Role) -> PodTemplateSpec {
    let spec = &test.spec;
    let scheduling = spec.scheduling.as_ref();
    let (volumes, mounts) = volumes_and_mounts(test, role);

    let init_containers = match role {
        Role::Master if !otel_enabled(spec) => vec![exporter_container(config)],
        _ => Vec::new(),
    };
    let mut locust = locust_container(test, config, role);
    locust.volume_mounts = non_empty(mounts);

    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_template_labels(test, role)),
            annotations: non_empty_map(pod_annotations(test, config, role)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            restart_policy: Some(POD_RESTART_POLICY.to_owned()),
            image_pull_secrets: spec.image_pull_secrets.clone().and_then(non_empty),
            security_context: Some(pod_security_context(test)),
            affinity: scheduling
                .filter(|_| config.affinity_injection)
                .and_then(|s| s.affinity.clone()),
            tolerations: scheduling
                .filter(|_| config.tolerations_injection)
                .and_then(|s| s.tolerations.clone())
                .and_then(non_empty),
            node_selector: scheduling
                .and_then(|s| s.node_selector.clone())
                .and_then(non_empty_map),
            runtime_class_name: runtime_class_name(test, config),
            init_containers: non_empty(init_containers),
            containers: vec![locust],
            volumes: non_empty(volumes),
            ..PodSpec::default()
        }),
    }
}

/// Pod annotations: for the master with OpenTelemetry off, the Prometheus scrape annotations
/// (port = the exporter port); then the user's `master.annotations` / `worker.annotations`
/// merged over them.
pub fn pod_annotations(test: &LocustTest, config: &Config, role: Role) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    if role == Role::Master && !otel_enabled(&test.spec) {
        annotations.insert(
            ANNOTATION_PROMETHEUS_SCRAPE.to_owned(),
            PROMETHEUS_SCRAPE_VALUE.to_owned(),
        );
        annotations.insert(
            ANNOTATION_PROMETHEUS_PATH.to_owned(),
            METRICS_PATH.to_owned(),
        );
        annotations.insert(
            ANNOTATION_PROMETHEUS_PORT.to_owned(),
            config.exporter.port.to_string(),
        );
    }
    let user = match role {
        Role::Master => test.spec.master.annotations.as_ref(),
        Role::Worker => test.spec.worker.annotations.as_ref(),
    };
    annotations.extend(
        user.into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    annotations
}

/// The pod security context: `spec.security.podSecurityContext` when set, else
/// `{seccompProfile: {type: RuntimeDefault}}`.
pub fn pod_security_context(test: &LocustTest) -> PodSecurityContext {
    test.spec
        .security
        .as_ref()
        .and_then(|s| s.pod_security_context.clone())
        .unwrap_or_else(|| PodSecurityContext {
            seccomp_profile: Some(SeccompProfile {
                type_: SECCOMP_RUNTIME_DEFAULT.to_owned(),
                localhost_profile: None,
            }),
            ..PodSecurityContext::default()
        })
}

/// `runtimeClassName`: the test's non-empty value; none when the test sets `""` (opt-out);
/// otherwise the operator's default, if any.
pub fn runtime_class_name(test: &LocustTest, config: &Config) -> Option<String> {
    match test
        .spec
        .scheduling
        .as_ref()
        .and_then(|s| s.runtime_class_name.as_ref())
    {
        Some(name) if name.is_empty() => None,
        Some(name) => Some(name.clone()),
        None => config
            .default_runtime_class_name
            .clone()
            .filter(|n| !n.is_empty()),
    }
}

/// Whether requests or limits have any entry.
fn has_requests_or_limits(resources: &ResourceRequirements) -> bool {
    resources.requests.as_ref().is_some_and(|r| !r.is_empty())
        || resources.limits.as_ref().is_some_and(|l| !l.is_empty())
}

/// `resources` without empty maps or lists; `None` when nothing is left.
fn compact_resources(resources: &ResourceRequirements) -> Option<ResourceRequirements> {
    let compact = ResourceRequirements {
        claims: resources.claims.clone().and_then(non_empty),
        limits: resources.limits.clone().and_then(non_empty_map),
        requests: resources.requests.clone().and_then(non_empty_map),
    };
    (compact != ResourceRequirements::default()).then_some(compact)
}

/// Locust container resources: the test's `master.resources` / `worker.resources` whole when
/// it has any request or limit, otherwise the operator's per-role defaults.
pub fn locust_resources(
    test: &LocustTest,
    config: &Config,
    role: Role,
) -> Option<ResourceRequirements> {
    let (from_test, from_config) = match role {
        Role::Master => (
            test.spec.master.resources.as_ref(),
            &config.master_resources,
        ),
        Role::Worker => (
            test.spec.worker.resources.as_ref(),
            &config.worker_resources,
        ),
    };
    match from_test {
        Some(resources) if has_requests_or_limits(resources) => compact_resources(resources),
        _ => compact_resources(from_config),
    }
}

/// A container port without name or protocol.
fn container_port(port: i32) -> ContainerPort {
    ContainerPort {
        container_port: port,
        ..ContainerPort::default()
    }
}

/// The Locust container of a role (without volume mounts, which [`pod_template`] adds): named
/// after the node name, `args` from [`args`], ports 5557/5558/8089 (master) or 8080 (worker).
pub fn locust_container(test: &Defaulted, config: &Config, role: Role) -> Container {
    let spec = &test.spec;
    let name = test_name(test);
    let (command_line, ports) = match role {
        Role::Master => (
            args::master_args(test),
            vec![MASTER_PORT, MASTER_BIND_PORT, WEB_UI_PORT],
        ),
        Role::Worker => (args::worker_args(test), vec![WORKER_PORT]),
    };
    Container {
        name: names::node_name(name, role),
        image: Some(spec.image.clone()),
        image_pull_policy: Some(test.image_pull_policy().as_str().to_owned()),
        args: non_empty(command_line),
        ports: Some(ports.into_iter().map(container_port).collect()),
        env: non_empty(locust_env(test, config.kafka.as_ref())),
        env_from: non_empty(locust_env_from(spec)),
        resources: locust_resources(test, config, role),
        security_context: spec
            .security
            .as_ref()
            .and_then(|s| s.container_security_context.clone()),
        ..Container::default()
    }
}

/// The metrics exporter: a native sidecar (init container with `restartPolicy: Always`) that
/// scrapes the master's web UI and serves Prometheus metrics on the exporter port.
pub fn exporter_container(config: &Config) -> Container {
    let exporter = &config.exporter;
    Container {
        name: EXPORTER_CONTAINER_NAME.to_owned(),
        image: Some(exporter.image.clone()),
        image_pull_policy: Some(exporter.pull_policy.clone()),
        restart_policy: Some(SIDECAR_RESTART_POLICY.to_owned()),
        ports: Some(vec![container_port(exporter.port)]),
        env: Some(vec![
            var(ENV_EXPORTER_URI, EXPORTER_URI),
            var(ENV_EXPORTER_LISTEN_ADDRESS, format!(":{}", exporter.port)),
        ]),
        resources: compact_resources(&exporter.resources),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec![CAPABILITY_ALL.to_owned()]),
                add: None,
            }),
            read_only_root_filesystem: Some(true),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}
