//! What the API server (and its admission plugins) fill into built-in objects on create, and
//! the few validations of built-in objects the operator's objects must pass.

use serde_json::{Value, json};

use crate::resources::ResourceType;

fn set_default(object: &mut Value, pointer: &str, value: Value) {
    if object.pointer(pointer).is_some() {
        return;
    }
    let mut current = object;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    for part in parents {
        if !current.get(*part).is_some_and(Value::is_object) {
            current[*part] = json!({});
        }
        current = &mut current[*part];
    }
    current[*last] = value;
}

fn pod_spec_defaults(spec: &mut Value) {
    set_default(spec, "/dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "/schedulerName", json!("default-scheduler"));
    set_default(spec, "/terminationGracePeriodSeconds", json!(30));
    set_default(spec, "/securityContext", json!({}));
    set_default(spec, "/restartPolicy", json!("Always"));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            for container in containers {
                let latest = container
                    .get("image")
                    .and_then(Value::as_str)
                    .is_some_and(|i| {
                        i.ends_with(":latest") || !i.rsplit('/').next().unwrap_or(i).contains(':')
                    });
                set_default(
                    container,
                    "/imagePullPolicy",
                    json!(if latest { "Always" } else { "IfNotPresent" }),
                );
                set_default(
                    container,
                    "/terminationMessagePath",
                    json!("/dev/termination-log"),
                );
                set_default(container, "/terminationMessagePolicy", json!("File"));
                set_default(container, "/resources", json!({}));
                if let Some(Value::Array(ports)) = container.get_mut("ports") {
                    for port in ports {
                        set_default(port, "/protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

/// Fills the server-side defaults of a new built-in object (which already has its uid):
/// [`defaults`], then [`prepare_create`].
pub fn apply(resource: &ResourceType, object: &mut Value, service_ip: impl FnOnce() -> String) {
    defaults(resource, object);
    prepare_create(resource, object, service_ip);
}

/// The finalizer the Job controller puts on the pods it creates (it removes it once it has
/// accounted for the pod).
pub const JOB_TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// Whether an object is controlled by a batch/v1 Job (a Job's pod).
pub fn job_of(object: &Value) -> Option<(String, String)> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| {
            r.get("controller").and_then(Value::as_bool) == Some(true)
                && r.get("kind").and_then(Value::as_str) == Some("Job")
                && r.get("apiVersion").and_then(Value::as_str) == Some("batch/v1")
        })
        .and_then(|r| {
            Some((
                r.get("name")?.as_str()?.to_owned(),
                r.get("uid")?.as_str()?.to_owned(),
            ))
        })
}

/// Scheme defaulting: what the API server fills into every create and update of a built-in
/// object. These fields are recorded in managedFields under the writing manager.
pub fn defaults(resource: &ResourceType, object: &mut Value) {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match (resource.group, resource.kind) {
        ("", "Namespace") => {
            set_default(object, "/metadata/labels", json!({}));
            if let Some(labels) = object.pointer_mut("/metadata/labels") {
                labels["kubernetes.io/metadata.name"] = json!(name);
            }
        }
        ("batch", "Job") => {
            set_default(object, "/spec/parallelism", json!(1));
            set_default(object, "/spec/backoffLimit", json!(6));
            set_default(object, "/spec/completionMode", json!("NonIndexed"));
            set_default(object, "/spec/suspend", json!(false));
            set_default(object, "/spec/manualSelector", json!(false));
            set_default(
                object,
                "/spec/podReplacementPolicy",
                json!("TerminatingOrFailed"),
            );
            if let Some(spec) = object.pointer_mut("/spec/template/spec") {
                pod_spec_defaults(spec);
            }
        }
        ("", "Service") => {
            set_default(object, "/spec/type", json!("ClusterIP"));
            set_default(object, "/spec/sessionAffinity", json!("None"));
            set_default(object, "/spec/internalTrafficPolicy", json!("Cluster"));
            if let Some(Value::Array(ports)) = object.pointer_mut("/spec/ports") {
                for port in ports {
                    set_default(port, "/protocol", json!("TCP"));
                    let number = port.get("port").cloned().unwrap_or(Value::Null);
                    set_default(port, "/targetPort", number);
                }
            }
        }
        ("", "Pod") => {
            if let Some(spec) = object.get_mut("spec") {
                pod_spec_defaults(spec);
                set_default(spec, "/enableServiceLinks", json!(true));
            }
        }
        (
            "admissionregistration.k8s.io",
            kind @ ("MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration"),
        ) => {
            let mutating = kind == "MutatingWebhookConfiguration";
            if let Some(Value::Array(webhooks)) = object.get_mut("webhooks") {
                for webhook in webhooks {
                    set_default(webhook, "/failurePolicy", json!("Fail"));
                    set_default(webhook, "/matchPolicy", json!("Equivalent"));
                    set_default(webhook, "/namespaceSelector", json!({}));
                    set_default(webhook, "/objectSelector", json!({}));
                    set_default(webhook, "/timeoutSeconds", json!(10));
                    if mutating {
                        set_default(webhook, "/reinvocationPolicy", json!("Never"));
                    }
                    if webhook
                        .pointer("/clientConfig/service")
                        .is_some_and(Value::is_object)
                    {
                        set_default(webhook, "/clientConfig/service/port", json!(443));
                    }
                    if let Some(Value::Array(rules)) = webhook.get_mut("rules") {
                        for rule in rules {
                            set_default(rule, "/scope", json!("*"));
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// Validation of one webhook of a webhook configuration (kube-apiserver's, in part): a name
/// of at least three DNS segments, `sideEffects` and `admissionReviewVersions`, exactly one of
/// `url` and `service`, and a `caBundle` that is base64 (the API server fails to decode it
/// otherwise).
fn webhook_causes(index: usize, webhook: &Value, causes: &mut Vec<(String, String)>) {
    use base64::Engine;
    let field = |name: &str| format!("webhooks[{index}].{name}");
    let name = webhook
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.split('.').count() < 3 || !dns_subdomain(name) {
        causes.push((
            field("name"),
            format!("Invalid value: {name:?}: should be a domain with at least three segments separated by dots"),
        ));
    }
    let side_effects = webhook.get("sideEffects").and_then(Value::as_str);
    if !matches!(side_effects, Some("None" | "NoneOnDryRun")) {
        causes.push((
            field("sideEffects"),
            "Unsupported value: supported values: \"None\", \"NoneOnDryRun\"".to_owned(),
        ));
    }
    if webhook
        .get("admissionReviewVersions")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        causes.push((
            field("admissionReviewVersions"),
            "Required value".to_owned(),
        ));
    }
    let client = webhook.get("clientConfig");
    let url = client
        .and_then(|c| c.get("url"))
        .is_some_and(|u| !u.is_null());
    let service = client
        .and_then(|c| c.get("service"))
        .is_some_and(|s| !s.is_null());
    if url == service {
        causes.push((
            field("clientConfig"),
            "Required value: exactly one of url or service is required".to_owned(),
        ));
    }
    if let Some(bundle) = client
        .and_then(|c| c.get("caBundle"))
        .filter(|b| !b.is_null())
    {
        let decodes = bundle
            .as_str()
            .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_ok());
        if !decodes {
            causes.push((
                field("clientConfig.caBundle"),
                "Invalid value: not base64".to_owned(),
            ));
        }
    }
}

/// What the create strategy, the allocators and the admission plugins add to a new built-in
/// object. Unlike [`defaults`], these fields are not recorded in managedFields.
pub fn prepare_create(
    resource: &ResourceType,
    object: &mut Value,
    service_ip: impl FnOnce() -> String,
) {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let uid = object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match (resource.group, resource.kind) {
        ("", "Namespace") => {
            set_default(object, "/spec/finalizers", json!(["kubernetes"]));
            object["status"] = json!({"phase": "Active"});
        }
        ("batch", "Job") => {
            set_default(
                object,
                "/spec/selector",
                json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
            );
            if let Some(template) = object.pointer_mut("/spec/template") {
                set_default(template, "/metadata/creationTimestamp", Value::Null);
                if let Some(metadata) = template.get_mut("metadata") {
                    if !metadata.get("labels").is_some_and(Value::is_object) {
                        metadata["labels"] = json!({});
                    }
                    let labels = &mut metadata["labels"];
                    for (key, value) in [
                        ("batch.kubernetes.io/controller-uid", &uid),
                        ("batch.kubernetes.io/job-name", &name),
                        ("controller-uid", &uid),
                        ("job-name", &name),
                    ] {
                        labels[key] = json!(value);
                    }
                }
            }
            object["status"] = json!({});
        }
        ("", "Service") => {
            set_default(object, "/spec/ipFamilies", json!(["IPv4"]));
            set_default(object, "/spec/ipFamilyPolicy", json!("SingleStack"));
            if object.pointer("/spec/clusterIP").is_none() {
                let ip = service_ip();
                object["spec"]["clusterIP"] = json!(ip);
                object["spec"]["clusterIPs"] = json!([ip]);
            }
            object["status"] = json!({"loadBalancer": {}});
        }
        ("", "Pod") => {
            if let Some(spec) = object.get_mut("spec") {
                pod_admission(spec);
            }
            let has_resources = object
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter().any(|c| {
                        c.get("resources")
                            .is_some_and(|r| r.as_object().is_some_and(|m| !m.is_empty()))
                    })
                });
            object["status"] = json!({"phase": "Pending", "qosClass": if has_resources { "Burstable" } else { "BestEffort" }});
        }
        _ => {}
    }
}

/// What the update strategy keeps of the stored object when an update leaves it out (a
/// Service's allocated cluster IPs).
pub fn prepare_update(resource: &ResourceType, object: &mut Value, current: &Value) {
    if (resource.group, resource.kind) == ("", "Service") {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if object.pointer(&format!("/spec/{field}")).is_none()
                && let Some(value) = current.pointer(&format!("/spec/{field}"))
                && object.get("spec").is_some_and(Value::is_object)
            {
                object["spec"][field] = value.clone();
            }
        }
    }
}

/// Five characters from the alphabet the API server uses for generated names and suffixes.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The pod admission plugins: ServiceAccount (service account, token volume and mounts),
/// DefaultTolerationSeconds, Priority.
fn pod_admission(spec: &mut Value) {
    set_default(spec, "/serviceAccountName", json!("default"));
    let account = spec
        .get("serviceAccountName")
        .cloned()
        .unwrap_or(json!("default"));
    spec["serviceAccount"] = account;
    let automount = spec.get("automountServiceAccountToken") != Some(&json!(false));
    let mounted = ["containers", "initContainers"].iter().any(|list| {
        spec.get(*list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| {
                c.get("volumeMounts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|m| {
                        m.get("mountPath").and_then(Value::as_str) == Some(SERVICE_ACCOUNT_MOUNT)
                    })
            })
    });
    if automount && !mounted {
        let volume = format!("kube-api-access-{}", random_suffix());
        if !spec.get("volumes").is_some_and(Value::is_array) {
            spec["volumes"] = json!([]);
        }
        if let Some(Value::Array(volumes)) = spec.get_mut("volumes") {
            volumes.push(json!({
                "name": volume,
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                    ],
                    "defaultMode": 420
                }
            }));
        }
        for list in ["initContainers", "containers"] {
            if let Some(Value::Array(containers)) = spec.get_mut(list) {
                for container in containers {
                    if !container.get("volumeMounts").is_some_and(Value::is_array) {
                        container["volumeMounts"] = json!([]);
                    }
                    if let Some(Value::Array(mounts)) = container.get_mut("volumeMounts") {
                        mounts.push(json!({"name": volume, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT}));
                    }
                }
            }
        }
    }
    if !spec.get("tolerations").is_some_and(Value::is_array) {
        spec["tolerations"] = json!([]);
    }
    if let Some(Value::Array(tolerations)) = spec.get_mut("tolerations") {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let present = tolerations.iter().any(|t| {
                t.get("key").and_then(Value::as_str) == Some(key)
                    && t.get("effect").and_then(Value::as_str) == Some("NoExecute")
            });
            if !present {
                tolerations.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
    set_default(spec, "/priority", json!(0));
    set_default(spec, "/preemptionPolicy", json!("PreemptLowerPriority"));
}

fn dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn dns_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(dns_label)
}

fn label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && value
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphanumeric)
            && value
                .as_bytes()
                .last()
                .is_some_and(u8::is_ascii_alphanumeric))
}

/// Validation failures `(field, message)` of an object about to be stored.
pub fn validate(resource: &ResourceType, object: &Value) -> Vec<(String, String)> {
    let mut causes = Vec::new();
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name_ok = match (resource.group, resource.kind) {
        ("", "Service") => {
            dns_label(name) && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        }
        ("", "Namespace") => dns_label(name),
        ("batch", "Job") => dns_subdomain(name) && name.len() <= 63,
        _ => dns_subdomain(name),
    };
    if !name_ok {
        causes.push((
            "metadata.name".to_owned(),
            format!("Invalid value: {name:?}: a lowercase RFC 1123 name is required"),
        ));
    }
    for (key, value) in object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if !value.as_str().is_some_and(label_value) {
            causes.push((
                format!("metadata.labels.{key}"),
                format!("Invalid value: {value}: a valid label value is required"),
            ));
        }
    }
    if (resource.group, resource.kind) == ("", "Secret")
        && object.get("type").and_then(Value::as_str) == Some("kubernetes.io/tls")
    {
        // kube-apiserver: a TLS Secret must carry both keys (their content is not checked).
        for key in ["tls.crt", "tls.key"] {
            let given = ["data", "stringData"]
                .iter()
                .any(|map| object.get(*map).and_then(|m| m.get(key)).is_some());
            if !given {
                causes.push((format!("data[{key}]"), "Required value".to_owned()));
            }
        }
    }
    if resource.group == "admissionregistration.k8s.io" {
        for (index, webhook) in object
            .get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            webhook_causes(index, webhook, &mut causes);
        }
    }
    if (resource.group, resource.kind) == ("batch", "Job") {
        let restart = object
            .pointer("/spec/template/spec/restartPolicy")
            .and_then(Value::as_str);
        if !matches!(restart, Some("Never" | "OnFailure")) {
            causes.push((
                "spec.template.spec.restartPolicy".to_owned(),
                "Required value: valid values: \"OnFailure\", \"Never\"".to_owned(),
            ));
        }
        let containers = object
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array);
        if containers.is_none_or(Vec::is_empty) {
            causes.push((
                "spec.template.spec.containers".to_owned(),
                "Required value".to_owned(),
            ));
        }
        for (i, container) in containers.into_iter().flatten().enumerate() {
            let container_name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !dns_label(container_name) {
                causes.push((
                    format!("spec.template.spec.containers[{i}].name"),
                    format!("Invalid value: {container_name:?}"),
                ));
            }
        }
    }
    causes
}
