//! Validation of a LocustTest: the one function the validating webhook and the reconciler
//! both call (docs/compatibility.md Part B item 12).
//!
//! It reports **every** violation at once, each with its field path and a sentence a user can
//! act on, plus warnings for things that are allowed but probably not meant (an `extraArgs`
//! entry overriding an operator-managed flag, a label the operator will not let through).
//! Rules: docs/compatibility.md A6, plus everything that would otherwise make the generated Service, Jobs
//! or pods invalid (names, label syntax, volume names, duplicate mount paths, quantities).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ResourceRequirements;

use crate::api::v2::{LocustTestSpec, MAX_NAME_LENGTH, MAX_WORKER_REPLICAS, MIN_WORKER_REPLICAS};
use crate::builders::args::{managed_flag, otel_enabled};
use crate::builders::volumes::{mount_applies, secret_volume_name};
use crate::builders::{LIB_VOLUME_NAME, SECRET_VOLUME_PREFIX};
use crate::defaulting::Defaulted;
use crate::field::{FieldError, index, join};
use crate::names::{PROTECTED_LABELS, Role, node_name};
use crate::quantity;
use crate::syntax::{dns_label, dns_subdomain, label_value, qualified_name};

/// Length of the random suffix the API server appends to `metadata.generateName`.
const GENERATED_SUFFIX_LENGTH: usize = 5;
/// Largest total size of a pod's annotations.
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// The outcome of validating one test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Violations: the test must be rejected.
    pub errors: Vec<FieldError>,
    /// Allowed, but worth telling the user.
    pub warnings: Vec<FieldError>,
}

impl Report {
    /// No errors.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every error in one message: `spec.a: ...; spec.b: ...`.
    pub fn error_message(&self) -> String {
        crate::field::join_errors(&self.errors)
    }

    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(FieldError::new(field, message));
    }
}

/// Validates a defaulted v2 LocustTest (v1 objects are converted first).
pub fn validate(test: &Defaulted) -> Report {
    let mut report = Report::default();
    let name = test.metadata.name.as_deref().unwrap_or_default();
    let generate_name = test.metadata.generate_name.as_deref().unwrap_or_default();
    validate_name(name, generate_name, &mut report);
    // The generated names are checked with the real name, or with the prefix plus a
    // placeholder suffix when the API server has not generated it yet.
    let effective = if name.is_empty() {
        format!("{generate_name}xxxxx")
    } else {
        name.to_owned()
    };
    let spec = &test.spec;
    validate_roles(spec, &mut report);
    validate_scheduling(spec, &mut report);
    validate_env(spec, &mut report);
    validate_volumes(spec, &effective, &mut report);
    validate_mount_paths(test, &mut report);
    validate_observability(spec, &mut report);
    validate_thresholds(test, &mut report);
    report
}

/// Shortest `spec.master.autoquit.timeout` that leaves time to read a stopped run's final
/// numbers with the default poll interval (they settle ~3 s after the stop, and are read at
/// most every 10 s), in seconds.
pub const MIN_AUTOQUIT_FOR_THRESHOLDS: i32 = 15;

/// `spec.thresholds`: each limit a number a run can meet ([`Thresholds::problems`]), and a
/// master that stays long enough after the run for the final numbers to be read.
///
/// [`Thresholds::problems`]: crate::api::v2::Thresholds::problems
fn validate_thresholds(test: &Defaulted, report: &mut Report) {
    let Some(thresholds) = &test.spec.thresholds else {
        return;
    };
    for (field, message) in thresholds.problems() {
        report.error(format!("spec.thresholds.{field}"), message);
    }
    if thresholds.is_empty() {
        report.warn(
            "spec.thresholds",
            "sets no threshold: the master's exit code decides the verdict",
        );
        return;
    }
    match test.autoquit_timeout() {
        None => report.warn(
            "spec.master.autoquit.enabled",
            "is false: the master never exits, so the test never completes and spec.thresholds is never checked",
        ),
        Some(timeout) if timeout < MIN_AUTOQUIT_FOR_THRESHOLDS => report.warn(
            "spec.master.autoquit.timeout",
            format!(
                "{timeout}s may end the master before the operator reads the run's final numbers, and a test whose numbers were not read fails spec.thresholds: use at least {MIN_AUTOQUIT_FOR_THRESHOLDS}"
            ),
        ),
        Some(_) => {}
    }
}

fn validate_name(name: &str, generate_name: &str, report: &mut Report) {
    let why = "the operator names the test's Service and Jobs <name>-master and <name>-worker, which are limited to 63 characters";
    if name.is_empty() {
        if generate_name.is_empty() {
            report.error(
                "metadata.name",
                "Required value: set metadata.name or metadata.generateName",
            );
        } else if generate_name.len() + GENERATED_SUFFIX_LENGTH > MAX_NAME_LENGTH {
            report.error(
                "metadata.generateName",
                format!(
                    "must be no more than {} characters (it has {}): the API server adds {GENERATED_SUFFIX_LENGTH} random characters and {why}",
                    MAX_NAME_LENGTH - GENERATED_SUFFIX_LENGTH,
                    generate_name.len()
                ),
            );
        }
    } else if name.len() > MAX_NAME_LENGTH {
        report.error(
            "metadata.name",
            format!(
                "must be no more than {MAX_NAME_LENGTH} characters (it has {}): {why}",
                name.len()
            ),
        );
    }
    let first = name.chars().next().or_else(|| generate_name.chars().next());
    if first.is_some_and(|c| !c.is_ascii_lowercase()) {
        let field = if name.is_empty() {
            "metadata.generateName"
        } else {
            "metadata.name"
        };
        report.error(
            field,
            "must start with a lowercase letter: the master Service is named <name>-master, and Service names must be DNS-1035 labels",
        );
    }
}

fn validate_roles(spec: &LocustTestSpec, report: &mut Report) {
    let replicas = spec.worker.replicas;
    if !(MIN_WORKER_REPLICAS..=MAX_WORKER_REPLICAS).contains(&replicas) {
        report.error(
            "spec.worker.replicas",
            format!(
                "must be from {MIN_WORKER_REPLICAS} to {MAX_WORKER_REPLICAS}, found {replicas}"
            ),
        );
    }
    if let Some(timeout) = spec.master.autoquit.as_ref().and_then(|a| a.timeout)
        && timeout < 0
    {
        report.error(
            "spec.master.autoquit.timeout",
            format!("must be 0 or more seconds, found {timeout}"),
        );
    }
    let roles = [
        (
            Role::Master,
            "spec.master",
            &spec.master.labels,
            &spec.master.annotations,
            &spec.master.resources,
            &spec.master.extra_args,
        ),
        (
            Role::Worker,
            "spec.worker",
            &spec.worker.labels,
            &spec.worker.annotations,
            &spec.worker.resources,
            &spec.worker.extra_args,
        ),
    ];
    for (role, path, labels, annotations, resources, extra_args) in roles {
        if let Some(labels) = labels {
            validate_labels(labels, &join(path, "labels"), report);
        }
        if let Some(annotations) = annotations {
            validate_annotations(annotations, &join(path, "annotations"), report);
        }
        if let Some(resources) = resources {
            validate_resources(resources, &join(path, "resources"), report);
        }
        for (i, arg) in extra_args.iter().flatten().enumerate() {
            if let Some(flag) = managed_flag(role, arg) {
                report.warn(
                    index(&join(path, "extraArgs"), i),
                    format!(
                        "{arg:?} overrides {flag}, which the operator sets itself for the {} (Locust uses the last value given)",
                        role.as_str()
                    ),
                );
            }
        }
    }
}

fn validate_labels(labels: &BTreeMap<String, String>, path: &str, report: &mut Report) {
    for (key, value) in labels {
        let field = join(path, key);
        if let Err(reason) = qualified_name(key) {
            report.error(&field, format!("invalid label key {key:?}: {reason}"));
        }
        if let Err(reason) = label_value(value) {
            report.error(&field, format!("invalid label value {value:?}: {reason}"));
        }
        if PROTECTED_LABELS.contains(&key.as_str()) {
            report.warn(
                &field,
                "ignored: the operator sets this label itself and selects pods by it",
            );
        }
    }
}

fn validate_annotations(annotations: &BTreeMap<String, String>, path: &str, report: &mut Report) {
    let mut size = 0;
    for (key, value) in annotations {
        size += key.len() + value.len();
        if let Err(reason) = qualified_name(key) {
            report.error(
                join(path, key),
                format!("invalid annotation key {key:?}: {reason}"),
            );
        }
    }
    if size > MAX_ANNOTATIONS_BYTES {
        report.error(
            path,
            format!(
                "annotations may not exceed {MAX_ANNOTATIONS_BYTES} bytes in total, found {size}"
            ),
        );
    }
}

fn validate_resources(resources: &ResourceRequirements, path: &str, report: &mut Report) {
    for (list, values) in [
        ("requests", &resources.requests),
        ("limits", &resources.limits),
    ] {
        for (key, value) in values.iter().flatten() {
            if let Err(e) = quantity::parse(&value.0) {
                report.error(join(&join(path, list), key), e.to_string());
            }
        }
    }
    let (Some(requests), Some(limits)) = (&resources.requests, &resources.limits) else {
        return;
    };
    for (key, request) in requests {
        if let Some(limit) = limits.get(key)
            && quantity::compare(request, limit) == Some(std::cmp::Ordering::Greater)
        {
            report.error(
                join(&join(path, "requests"), key),
                format!(
                    "{} is more than the limit {}; a request must not exceed its limit",
                    request.0, limit.0
                ),
            );
        }
    }
}

fn validate_scheduling(spec: &LocustTestSpec, report: &mut Report) {
    let Some(class) = spec
        .scheduling
        .as_ref()
        .and_then(|s| s.runtime_class_name.as_deref())
    else {
        return;
    };
    // `""` opts out of the operator's default RuntimeClass.
    if !class.is_empty() && dns_subdomain(class).is_err() {
        report.error(
            "spec.scheduling.runtimeClassName",
            format!("{class:?} is not a RuntimeClass name: lowercase letters, digits, '-' and '.', at most 253 characters (or \"\" to use none)"),
        );
    }
}

fn validate_env(spec: &LocustTestSpec, report: &mut Report) {
    for (i, secret) in spec.image_pull_secrets.iter().flatten().enumerate() {
        if let Err(reason) = dns_subdomain(&secret.name) {
            report.error(
                join(&index("spec.imagePullSecrets", i), "name"),
                format!("{:?} is not a Secret name: {reason}", secret.name),
            );
        }
    }
    if let Some(files) = &spec.test_files {
        for (field, name) in [
            ("configMapRef", &files.config_map_ref),
            ("libConfigMapRef", &files.lib_config_map_ref),
        ] {
            if let Some(name) = name
                && let Err(reason) = dns_subdomain(name)
            {
                report.error(
                    join("spec.testFiles", field),
                    format!("{name:?} is not a ConfigMap name: {reason}"),
                );
            }
        }
    }
    let Some(env) = &spec.env else { return };
    for (list, refs, kind) in [
        ("configMapRefs", &env.config_map_refs, "ConfigMap"),
        ("secretRefs", &env.secret_refs, "Secret"),
    ] {
        for (i, r) in refs.iter().flatten().enumerate() {
            if let Err(reason) = dns_subdomain(&r.name) {
                report.error(
                    join(&index(&join("spec.env", list), i), "name"),
                    format!("{:?} is not a {kind} name: {reason}", r.name),
                );
            }
        }
    }
    for (i, variable) in env.variables.iter().flatten().enumerate() {
        if variable.name.is_empty() || variable.name.contains('=') {
            report.error(
                join(&index("spec.env.variables", i), "name"),
                format!("{:?} is not a valid environment variable name: it must be non-empty and contain no '='", variable.name),
            );
        }
    }
    let mut seen = BTreeMap::new();
    for (i, mount) in env.secret_mounts.iter().flatten().enumerate() {
        let field = index("spec.env.secretMounts", i);
        let volume = secret_volume_name(&mount.name);
        if let Err(reason) = dns_label(&volume) {
            report.error(
                join(&field, "name"),
                format!(
                    "{:?} cannot be mounted through secretMounts: its volume would be named {volume:?}, which is not a valid volume name ({reason}); mount it with spec.volumes and spec.volumeMounts instead",
                    mount.name
                ),
            );
        }
        if mount.mount_path.is_empty() {
            report.error(
                join(&field, "mountPath"),
                "Required value: the directory where the Secret's files appear",
            );
        }
        if let Some(first) = seen.insert(mount.name.clone(), i) {
            report.error(
                join(&field, "name"),
                format!("Secret {:?} is already mounted by spec.env.secretMounts[{first}]; mount each Secret once", mount.name),
            );
        }
    }
}

fn validate_volumes(spec: &LocustTestSpec, name: &str, report: &mut Report) {
    let generated: Vec<String> = Role::ALL
        .iter()
        .map(|role| node_name(name, *role))
        .collect();
    let mut defined = BTreeMap::new();
    for (i, volume) in spec.volumes.iter().flatten().enumerate() {
        let field = join(&index("spec.volumes", i), "name");
        let volume_name = volume.name.as_str();
        if volume_name.starts_with(SECRET_VOLUME_PREFIX) {
            report.error(&field, format!("{volume_name:?} uses the prefix {SECRET_VOLUME_PREFIX:?}, reserved for spec.env.secretMounts volumes"));
        } else if volume_name == LIB_VOLUME_NAME {
            report.error(&field, format!("{volume_name:?} is reserved for the library ConfigMap volume (spec.testFiles.libConfigMapRef)"));
        } else if generated.iter().any(|g| g == volume_name) {
            report.error(
                &field,
                format!(
                    "{volume_name:?} is reserved for the test files volume the operator creates"
                ),
            );
        } else if let Err(reason) = dns_label(volume_name) {
            report.error(
                &field,
                format!("{volume_name:?} is not a valid volume name: {reason}"),
            );
        }
        if let Some(first) = defined.insert(volume_name, i) {
            report.error(
                &field,
                format!("{volume_name:?} is already defined by spec.volumes[{first}]"),
            );
        }
    }
    for (i, mount) in spec.volume_mounts.iter().flatten().enumerate() {
        if !defined.contains_key(mount.mount.name.as_str()) {
            report.error(
                join(&index("spec.volumeMounts", i), "name"),
                format!(
                    "{:?} is not defined in spec.volumes; add a volume with that name",
                    mount.mount.name
                ),
            );
        }
    }
}

/// A path as its segments: trailing and repeated `/` do not matter.
fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Equal paths, or one nested in the other.
fn paths_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (segments(a), segments(b));
    a.starts_with(&b) || b.starts_with(&a)
}

/// The paths the operator mounts into the Locust container, with the field that sets each.
fn reserved_paths(test: &Defaulted) -> Vec<(String, &'static str, &'static str)> {
    let files = test.spec.test_files.as_ref();
    let src = test.src_mount_path().to_owned();
    let lib = test.lib_mount_path().to_owned();
    let has = |name: Option<&Option<String>>| {
        name.is_some_and(|n| n.as_deref().is_some_and(|n| !n.is_empty()))
    };
    let (has_src, has_lib) = (
        has(files.map(|f| &f.config_map_ref)),
        has(files.map(|f| &f.lib_config_map_ref)),
    );
    let src = (src, "spec.testFiles.srcMountPath", "the test files");
    let lib = (lib, "spec.testFiles.libMountPath", "the library files");
    match (has_src, has_lib) {
        (true, true) => vec![src, lib],
        (true, false) => vec![src],
        (false, true) => vec![lib],
        // Without ConfigMaps both paths stay reserved, as in the Go operator, so adding a
        // ConfigMap later never collides with an existing mount.
        (false, false) => vec![src, lib],
    }
}

fn validate_mount_paths(test: &Defaulted, report: &mut Report) {
    let spec = &test.spec;
    let reserved = reserved_paths(test);
    // (field, path, roles) of every user-chosen mount.
    let mut mounts: Vec<(String, &str, Vec<Role>)> = Vec::new();
    for (i, mount) in spec
        .env
        .iter()
        .flat_map(|e| e.secret_mounts.iter().flatten())
        .enumerate()
    {
        mounts.push((
            join(&index("spec.env.secretMounts", i), "mountPath"),
            &mount.mount_path,
            Role::ALL.to_vec(),
        ));
    }
    for (i, mount) in spec.volume_mounts.iter().flatten().enumerate() {
        let roles = Role::ALL
            .into_iter()
            .filter(|role| mount_applies(mount.target, *role))
            .collect();
        let field = join(&index("spec.volumeMounts", i), "mountPath");
        if mount.mount.mount_path.is_empty() {
            report.error(
                &field,
                "Required value: the directory where the volume appears",
            );
        }
        mounts.push((field, &mount.mount.mount_path, roles));
    }
    let mut conflicting = BTreeSet::new();
    for (field, path, _) in &mounts {
        for (reserved_path, reserved_field, what) in &reserved {
            if paths_overlap(path, reserved_path) {
                conflicting.insert(field.clone());
                report.error(
                    field,
                    format!("{path:?} conflicts with {reserved_path:?}, where the operator mounts {what} ({reserved_field}); choose another path"),
                );
            }
        }
    }
    // First user of each (role, path): later mounts on the same path in that role collide.
    let mut first_use: BTreeMap<(Role, Vec<&str>), &str> = BTreeMap::new();
    for (field, path, roles) in &mounts {
        if conflicting.contains(field) {
            continue;
        }
        let mut clash = None;
        for role in roles {
            match first_use.entry((*role, segments(path))) {
                std::collections::btree_map::Entry::Occupied(entry) => {
                    clash = clash.or(Some(*entry.get()))
                }
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert(field.as_str());
                }
            }
        }
        if let Some(other_field) = clash {
            report.error(
                field,
                format!("{path:?} is already used by {other_field}; each mount needs its own path"),
            );
        }
    }
}

fn validate_observability(spec: &LocustTestSpec, report: &mut Report) {
    let Some(otel) = spec
        .observability
        .as_ref()
        .and_then(|o| o.open_telemetry.as_ref())
    else {
        return;
    };
    if otel_enabled(spec) && otel.endpoint.as_deref().is_none_or(str::is_empty) {
        report.error(
            "spec.observability.openTelemetry.endpoint",
            "Required value: the OTLP collector endpoint (e.g. otel-collector:4317) is required when OpenTelemetry is enabled",
        );
    }
    for key in otel.extra_env_vars.iter().flatten().map(|(k, _)| k) {
        if key.is_empty() || key.contains('=') {
            report.error(
                join("spec.observability.openTelemetry.extraEnvVars", key),
                "not a valid environment variable name: it must be non-empty and contain no '='",
            );
        }
    }
}
