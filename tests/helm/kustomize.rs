//! The chart renders the objects of `kubectl kustomize deploy/overlays/<overlay>`, up to the labels
//! only Helm adds and flag spellings that mean the same.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

use crate::renderer::{case, render_ok, renderer};
use crate::typed::{check_typed, container, kind_of, run_args, strict};
use crate::values::self_managed;
use crate::{Key, ROOT, first_difference, yaml_documents};

/// Labels and annotations only Helm sets; the comparison with kustomize ignores them.
const HELM_ONLY_KEYS: [&str; 5] = [
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
    "helm.sh/chart",
    "helm.sh/resource-policy",
];

/// Removes what only Helm adds (its labels and annotations, then empty maps), replaces the
/// operator's arguments by their parsed meaning (so `--leader-elect=true` equals its absence),
/// and sorts its environment by name.
fn normalize(document: &Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for key in HELM_ONLY_KEYS {
                    map.remove(key);
                }
                for child in map.values_mut() {
                    strip(child);
                }
                for key in ["labels", "annotations"] {
                    if map
                        .get(key)
                        .is_some_and(|v| v.as_object().is_some_and(|m| m.is_empty()))
                    {
                        map.remove(key);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = document.clone();
    strip(&mut value);
    if kind_of(&value) == (Deployment::API_VERSION, Deployment::KIND) {
        let deployment: Deployment = strict(&value);
        let args = run_args(&container(&deployment));
        let container = &mut value["spec"]["template"]["spec"]["containers"][0];
        container["args"] = json!(format!("{args:?}"));
        // Order matters only between variables that reference each other (none do); kustomize
        // puts a patched-in variable first.
        if let Some(env) = container.get_mut("env").and_then(Value::as_array_mut) {
            env.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        }
    }
    value
}

fn by_key(documents: &[Value]) -> BTreeMap<Key, Value> {
    documents
        .iter()
        .map(|d| {
            let key = (
                kind_of(d).1.to_owned(),
                d["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                d["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            );
            (key, normalize(d))
        })
        .collect()
}

fn kustomize(overlay: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(overlay)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("kubectl (for `kubectl kustomize`) must be on PATH: {e}"));
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        overlay.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_documents(&String::from_utf8_lossy(&out.stdout), "kustomize")
}

#[test]
fn helm_renders_the_kustomize_objects() {
    let Some(renderer) = renderer() else { return };
    let overlays = [
        ("cert-manager", json!({})),
        ("self-managed-certs", self_managed()),
        (
            "namespaced",
            json!({"namespaced": {"enabled": true, "namespaces": ["load-tests"]}}),
        ),
    ];
    let mut compared = Vec::new();
    let mut not_compared = Vec::new();
    let mut failures = Vec::new();
    for (overlay, values) in overlays {
        let dir = Path::new(ROOT).join("deploy/overlays").join(overlay);
        if !dir.join("kustomization.yaml").is_file() {
            not_compared.push(overlay);
            continue;
        }
        let theirs = kustomize(&dir);
        for document in &theirs {
            check_typed(document);
        }
        let ours = render_ok(renderer, &[case(overlay, values)]).remove(0);
        let mut theirs = by_key(&theirs);
        let ours = by_key(&ours.documents);
        // Helm installs into an existing namespace (`--create-namespace`): it owns no Namespace.
        theirs.retain(|(kind, _, _), _| kind != "Namespace");
        for key in theirs.keys().filter(|k| !ours.contains_key(*k)) {
            failures.push(format!("{overlay}: only kustomize has {key:?}"));
        }
        for key in ours.keys().filter(|k| !theirs.contains_key(*k)) {
            failures.push(format!("{overlay}: only Helm has {key:?}"));
        }
        for (key, value) in &ours {
            if let Some(other) = theirs.get(key)
                && let Some(difference) = first_difference(value, other, "")
            {
                failures.push(format!(
                    "{overlay}: {key:?} differs (Helm vs kustomize) at {difference}"
                ));
            }
        }
        compared.push(overlay);
    }
    eprintln!("compared with kustomize: {compared:?}; overlays not there yet: {not_compared:?}");
    assert!(failures.is_empty(), "{failures:#?}");
}
