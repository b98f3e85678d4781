//! Resource builders (docs/compatibility.md A5, Part B 6/9/10/13, Part C "Builders"): the master Service
//! and the two Jobs built from LocustTest manifests and operator configurations. Every build
//! in these tests also checks that the defaulted copy of the test builds identically, that the
//! objects survive a JSON round trip through the k8s-openapi types, and that they contain no
//! empty lists.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use locust_operator::api::LocustTest;
use locust_operator::builders::{self, Desired};
use locust_operator::config::Config;
use locust_operator::defaulting::Defaulted;
use locust_operator::names::Role;
use serde_json::{Value, json};

mod container;
mod env;
mod exporter;
mod golden;
mod invariants;
mod job_spec;
mod metadata;
mod resources;
mod scheduling;
mod service;
mod volumes;

/// Operator environment variables of a table case.
type Vars = Vec<(&'static str, &'static str)>;

const UID: &str = "6f1c2a3b-0000-4000-8000-000000000001";

/// A realistic minimal manifest: `my-test` in `loadtests`, 3 workers, no optional field.
fn base_manifest() -> Value {
    json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": "my-test", "namespace": "loadtests", "uid": UID},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "--locustfile /lotest/src/test.py --host http://app:8080 --users 10"},
            "worker": {"command": "--locustfile /lotest/src/test.py", "replicas": 3}
        }
    })
}

/// The base manifest with `patch` merged into it.
fn manifest(patch: Value) -> Value {
    let mut manifest = base_manifest();
    json_patch::merge(&mut manifest, &patch);
    manifest
}

/// A LocustTest parsed from a manifest.
fn parse(manifest: Value) -> LocustTest {
    serde_json::from_value(manifest).expect("manifest parses as LocustTest")
}

/// The base test with `spec_patch` merged into its spec.
fn test_with(spec_patch: Value) -> LocustTest {
    parse(manifest(json!({ "spec": spec_patch })))
}

/// The base test.
fn base_test() -> LocustTest {
    parse(base_manifest())
}

/// The operator configuration for these environment variables (others unset).
fn config(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let (config, _warnings) =
        Config::from_lookup(&|name| map.get(name).cloned()).expect("valid configuration");
    config
}

/// Fails on any empty list in `value` (and any empty object except `emptyDir: {}`).
fn assert_no_empty_lists(value: &Value, path: &str) {
    match value {
        Value::Array(items) => {
            assert!(!items.is_empty(), "empty list at {path}");
            for (i, item) in items.iter().enumerate() {
                assert_no_empty_lists(item, &format!("{path}[{i}]"));
            }
        }
        Value::Object(map) => {
            assert!(
                !map.is_empty() || path.ends_with(".emptyDir"),
                "empty object at {path}"
            );
            for (key, item) in map {
                assert_no_empty_lists(item, &format!("{path}.{key}"));
            }
        }
        _ => {}
    }
}

/// Serializes `object`, checks it has no empty lists and that it deserializes back equal.
fn round_trip<T>(object: &T, what: &str) -> Value
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let value = serde_json::to_value(object).unwrap();
    assert_no_empty_lists(&value, what);
    let back: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{what} does not deserialize: {e}"));
    assert_eq!(&back, object, "{what} changes in a JSON round trip");
    value
}

/// `test` as the operator reads it: defaulted.
fn read(test: &LocustTest) -> Defaulted {
    Defaulted::new(test.clone())
}

/// `test` with every default filled in.
fn defaulted(test: &LocustTest) -> LocustTest {
    read(test).into_test()
}

/// The objects of `test` as read.
fn desired(test: &LocustTest, config: &Config) -> Desired {
    builders::desired(&read(test), config)
}

/// Builds every object, checking the invariants that hold for all tests.
fn build(test: &LocustTest, config: &Config) -> Desired {
    let built = desired(test, config);
    assert_eq!(
        built,
        desired(&defaulted(test), config),
        "a test and its defaulted copy must build identically"
    );
    round_trip(&built.service, "service");
    round_trip(&built.master_job, "master job");
    round_trip(&built.worker_job, "worker job");
    built
}

/// Builds with the default configuration.
fn build_default(test: &LocustTest) -> Desired {
    build(test, &Config::defaults())
}

fn pod(job: &Job) -> &PodSpec {
    job.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .expect("pod spec")
}

fn locust(job: &Job) -> &Container {
    let containers = &pod(job).containers;
    assert_eq!(containers.len(), 1, "exactly one container");
    &containers[0]
}

fn template_labels(job: &Job) -> &BTreeMap<String, String> {
    job.spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap()
}

fn template_annotations(job: &Job) -> Option<&BTreeMap<String, String>> {
    job.spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
}

fn jobs(built: &Desired) -> [(Role, &Job); 2] {
    [
        (Role::Master, &built.master_job),
        (Role::Worker, &built.worker_job),
    ]
}

fn json_of<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap()
}

fn env_names(container: &Container) -> Vec<String> {
    container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect()
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn operator_labels(name: &str, role: &str) -> Value {
    json!({
        "app": name,
        "performance-test-name": name,
        "performance-test-pod-name": format!("{}-{role}", name.replace('.', "-")),
        "managed-by": "locust-k8s-operator",
        "app.kubernetes.io/name": "locust",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": role,
        "app.kubernetes.io/managed-by": "locust-operator",
    })
}

fn owner_references() -> Value {
    json!([{
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "name": "my-test",
        "uid": UID,
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

fn default_pod_resources() -> Value {
    json!({
        "requests": {"cpu": "250m", "memory": "128Mi", "ephemeral-storage": "30M"},
        "limits": {"cpu": "1000m", "memory": "1024Mi", "ephemeral-storage": "50M"},
    })
}
