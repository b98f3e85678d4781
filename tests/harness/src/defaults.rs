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

/// Fills the server-side defaults of a new built-in object (which already has its uid).
pub fn apply(resource: &ResourceType, object: &mut Value, service_ip: impl FnOnce() -> String) {
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
            set_default(object, "/metadata/labels", json!({}));
            if let Some(labels) = object.pointer_mut("/metadata/labels") {
                labels["kubernetes.io/metadata.name"] = json!(name);
            }
            set_default(object, "/spec/finalizers", json!(["kubernetes"]));
            object["status"] = json!({"phase": "Active"});
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
                if let Some(spec) = template.get_mut("spec") {
                    pod_spec_defaults(spec);
                }
            }
            object["status"] = json!({});
        }
        ("", "Service") => {
            set_default(object, "/spec/type", json!("ClusterIP"));
            set_default(object, "/spec/sessionAffinity", json!("None"));
            set_default(object, "/spec/internalTrafficPolicy", json!("Cluster"));
            set_default(object, "/spec/ipFamilies", json!(["IPv4"]));
            set_default(object, "/spec/ipFamilyPolicy", json!("SingleStack"));
            if object.pointer("/spec/clusterIP").is_none() {
                let ip = service_ip();
                object["spec"]["clusterIP"] = json!(ip);
                object["spec"]["clusterIPs"] = json!([ip]);
            }
            if let Some(Value::Array(ports)) = object.pointer_mut("/spec/ports") {
                for port in ports {
                    set_default(port, "/protocol", json!("TCP"));
                    let number = port.get("port").cloned().unwrap_or(Value::Null);
                    set_default(port, "/targetPort", number);
                }
            }
            object["status"] = json!({"loadBalancer": {}});
        }
        ("", "Pod") => {
            if let Some(spec) = object.get_mut("spec") {
                pod_spec_defaults(spec);
                set_default(spec, "/serviceAccountName", json!("default"));
                set_default(spec, "/enableServiceLinks", json!(true));
                set_default(spec, "/priority", json!(0));
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
