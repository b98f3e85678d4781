//! The Helm chart `deploy/helm/locust-operator/`.
//!
//! Always (no Helm needed):
//! - `Chart.yaml` parses, with the crate's version as appVersion;
//! - `values.yaml` validates against `values.schema.json` (draft-07, as Helm reads it), every
//!   object level of the schema is closed (`additionalProperties: false`), the schema and
//!   `values.yaml` have the same keys, and a table of bad values is rejected (misspelled keys,
//!   enums, ports, replicas, TTL, the provided-certificate mode without its CA bundle,
//!   malformed quantities) while a table of good ones is accepted; the schema's quantity and
//!   duration patterns accept only what the operator parses;
//! - every `.Values` path a template uses (directly or through a `$variable`) exists in
//!   `values.yaml` and in the schema, and every `{{` is closed;
//! - the chart's copy of the CRD (`templates/crd.yaml`) equals `locust-operator crd` from
//!   `spec.group` on (`UPDATE_GOLDEN=1` rewrites it); its templated head mirrors the generated
//!   conversion block;
//! - the values of the Go operator's chart 2.3.0 (its `values.yaml` and `values.schema.json`,
//!   copied into `tests/fixtures/go-chart-2.3.0/`) satisfy the schema, which has every key of
//!   theirs; every Go key the templates translate exists there, every key they translate it to
//!   exists here.
//!
//! With a Helm renderer (the `helm_python` module of the PyPI package `helm-python-sdk`, which
//! embeds Helm's Go SDK, in `HELM_PYTHON` or `.venv/bin/python`; else a `helm` binary on
//! `PATH`): the chart is rendered in every mode, every object parses strictly into its typed
//! form (k8s-openapi; an unknown or misspelled field fails), each render is internally
//! consistent (names, selectors, ports, webhook and conversion service references, the
//! certificate chain, RBAC subjects, flags parsed by the operator's own flag parser, the
//! environment read by the operator's own configuration reader), the locust-pod values reach
//! the operator's configuration, Helm itself rejects the bad values, and the objects equal
//! those of `kubectl kustomize deploy/overlays/<overlay>` (when that overlay exists), up to the
//! labels only Helm adds and flag spellings that mean the same. Values files of the Go
//! operator's chart (its defaults, and one setting every key this chart translates) install
//! exactly the objects of this chart's own keys with the same meaning; each Go key without a
//! meaning here, and each conflict with this chart's key, fails with its message, tested word
//! for word. Without a renderer these tests
//! print why and pass, unless one is required: `HELM_REQUIRED=1`, or `helm-python-sdk` listed
//! in `.ci/requirements-test.txt`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

mod chart_yaml;
mod consistency;
mod crd;
mod go_chart;
mod kustomize;
mod rendered;
mod renderer;
mod schema;
mod templates;
mod typed;
mod values;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CHART: &str = "deploy/helm/locust-operator";
/// Values files of the Go operator's chart 2.3.0 (origin in its README.md).
const GO_CHART_FIXTURES: &str = "tests/fixtures/go-chart-2.3.0";
/// With this release name and namespace the chart's objects have the kustomize install's names.
const RELEASE: &str = "locust-operator";
const NAMESPACE: &str = "locust-operator-system";
const CRD_NAME: &str = "locusttests.locust.io";

fn chart_file(relative: &str) -> PathBuf {
    Path::new(ROOT).join(CHART).join(relative)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The YAML documents of a stream (`---` separated), without empty ones.
fn yaml_documents(text: &str, origin: &str) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut chunks = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            chunks.push(String::new());
        } else {
            let chunk = chunks.last_mut().expect("one chunk");
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    for chunk in chunks {
        let content = chunk
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if !content {
            continue;
        }
        let value: Value = serde_saphyr::from_str(&chunk)
            .unwrap_or_else(|e| panic!("{origin}: not YAML: {e}\n{chunk}"));
        if !value.is_null() {
            documents.push(value);
        }
    }
    documents
}

fn values_yaml() -> Value {
    serde_saphyr::from_str(&read(&chart_file("values.yaml"))).expect("values.yaml is YAML")
}

/// A fixture of the Go operator's chart (YAML or JSON).
fn go_chart_file(name: &str) -> Value {
    let path = Path::new(ROOT).join(GO_CHART_FIXTURES).join(name);
    serde_saphyr::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Go operator's chart's `values.yaml`: its defaults, as a user passing the whole file has.
fn go_chart_defaults() -> Value {
    go_chart_file("values.yaml")
}

/// Keys the Go chart's templates read that its `values.yaml` only mentions in comments (its
/// deprecated 1.x paths).
const GO_CHART_COMMENTED_KEYS: [&str; 1] = ["config"];

/// Every key of either chart's `values.yaml` (and the Go chart's commented ones), merged: the
/// keys the schema must have.
fn both_charts_keys() -> Value {
    fn union(a: &Value, b: &Value) -> Value {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                let mut out = a.clone();
                for (key, value) in b {
                    let merged = match a.get(key) {
                        Some(inner) => union(inner, value),
                        None => value.clone(),
                    };
                    out.insert(key.clone(), merged);
                }
                Value::Object(out)
            }
            (_, b) => b.clone(),
        }
    }
    let mut go = go_chart_defaults();
    for key in GO_CHART_COMMENTED_KEYS {
        go[key] = json!({});
    }
    union(&go, &values_yaml())
}

fn schema() -> Value {
    serde_json::from_str(&read(&chart_file("values.schema.json")))
        .expect("values.schema.json is JSON")
}

/// Helm's coalescing of user values over the chart's: maps merge, `null` removes a key,
/// anything else replaces.
fn coalesce(base: &Value, overrides: &Value) -> Value {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            let mut out = base.clone();
            for (key, value) in overrides {
                if value.is_null() {
                    out.remove(key);
                } else if let Some(inner) = base.get(key) {
                    out.insert(key.clone(), coalesce(inner, value));
                } else {
                    out.insert(key.clone(), value.clone());
                }
            }
            Value::Object(out)
        }
        (_, overrides) => overrides.clone(),
    }
}

fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .find_map(|key| match (x.get(key), y.get(key)) {
                    (Some(v), Some(w)) => first_difference(v, w, &format!("{path}.{key}")),
                    (v, w) => Some(format!("{path}.{key}: {v:?} vs {w:?}")),
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]"))),
        // kustomize writes the CRD's `minimum: 0.0` as `0`: the same number.
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        (x, y) if x != y => Some(format!("{path}: {x} vs {y}")),
        _ => None,
    }
}

type Key = (String, String, String);
