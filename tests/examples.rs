//! `examples/`: every LocustTest there parses with no unknown or misspelled field, validates
//! against the generated CRD schema (types, enums, ranges, patterns, required fields, CEL),
//! converts to the other version into an object that validates too, and the complete example
//! really sets every field.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use locust_operator::api::{v1, v2};
use locust_operator::conversion::convert_object;
use serde_json::Value;

fn load(file: &str) -> Value {
    let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Problems an API server would report for this object (schema and CEL).
fn violations(object: &Value) -> Vec<String> {
    let checker = locust_operator::schema_check::SchemaChecker::new().unwrap();
    checker
        .check(object)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Deserializing into the typed struct and serializing again drops anything unknown: the
/// result must equal the file.
fn assert_no_unknown_fields(file: &str, object: &Value) {
    let round_trip = match object["apiVersion"].as_str() {
        Some("locust.io/v2") => {
            serde_json::to_value(serde_json::from_value::<v2::LocustTest>(object.clone()).unwrap())
        }
        Some("locust.io/v1") => {
            serde_json::to_value(serde_json::from_value::<v1::LocustTest>(object.clone()).unwrap())
        }
        other => panic!("{file}: unexpected apiVersion {other:?}"),
    }
    .unwrap();
    assert_eq!(
        &round_trip["spec"], &object["spec"],
        "{file}: a field is unknown or misspelled"
    );
    assert_eq!(&round_trip["metadata"], &object["metadata"], "{file}");
}

#[test]
fn every_example_is_valid_in_its_version_and_after_conversion() {
    for (file, other_version) in [
        ("minimal-v2.yaml", "locust.io/v1"),
        ("complete-v2.yaml", "locust.io/v1"),
        ("v1.yaml", "locust.io/v2"),
    ] {
        let object = load(file);
        assert_no_unknown_fields(file, &object);
        let problems = violations(&object);
        assert!(problems.is_empty(), "{file}: {problems:?}");

        let converted = convert_object(object.clone(), other_version).unwrap();
        assert_eq!(converted["apiVersion"], other_version);
        let problems = violations(&converted);
        assert!(
            problems.is_empty(),
            "{file} as {other_version}: {problems:?}"
        );
        let back = convert_object(converted, object["apiVersion"].as_str().unwrap()).unwrap();
        assert_eq!(back, object, "{file}: round trip through {other_version}");
    }
}

#[test]
fn the_locustfile_configmap_is_a_configmap_with_a_locustfile() {
    let object = load("locustfile-configmap.yaml");
    let map: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(object).unwrap();
    assert_eq!(map.metadata.name.as_deref(), Some("my-test-locustfile"));
    let minimal = load("minimal-v2.yaml");
    assert_eq!(
        minimal["spec"]["testFiles"]["configMapRef"],
        "my-test-locustfile"
    );
    let code = &map.data.unwrap()["locustfile.py"];
    assert!(code.contains("class WebsiteUser(HttpUser)"));
}

#[test]
fn the_complete_example_sets_every_field() {
    let object = load("complete-v2.yaml");
    let spec = &object["spec"];
    let paths = [
        "image",
        "imagePullPolicy",
        "imagePullSecrets",
        "master.command",
        "master.resources",
        "master.labels",
        "master.annotations",
        "master.autostart",
        "master.autoquit.enabled",
        "master.autoquit.timeout",
        "master.extraArgs",
        "worker.command",
        "worker.replicas",
        "worker.resources",
        "worker.labels",
        "worker.annotations",
        "worker.extraArgs",
        "testFiles.configMapRef",
        "testFiles.libConfigMapRef",
        "testFiles.srcMountPath",
        "testFiles.libMountPath",
        "scheduling.affinity",
        "scheduling.tolerations",
        "scheduling.nodeSelector",
        "scheduling.runtimeClassName",
        "env.configMapRefs",
        "env.secretRefs",
        "env.variables",
        "env.secretMounts",
        "volumes",
        "volumeMounts",
        "security.podSecurityContext",
        "security.containerSecurityContext",
        "observability.openTelemetry.enabled",
        "observability.openTelemetry.endpoint",
        "observability.openTelemetry.protocol",
        "observability.openTelemetry.insecure",
        "observability.openTelemetry.extraEnvVars",
    ];
    for path in paths {
        let value = path.split('.').fold(spec, |v, key| &v[key]);
        assert!(
            !value.is_null(),
            "complete-v2.yaml does not set spec.{path}"
        );
    }
    for (list, field) in [
        ("env.configMapRefs", "prefix"),
        ("env.secretMounts", "readOnly"),
        ("volumeMounts", "target"),
    ] {
        let items = list.split('.').fold(spec, |v, key| &v[key]);
        assert!(
            items
                .as_array()
                .unwrap()
                .iter()
                .any(|i| !i[field].is_null()),
            "spec.{list}[].{field}"
        );
    }
}

#[test]
fn the_schema_rejects_a_broken_example() {
    let mut object = load("minimal-v2.yaml");
    object["spec"]["worker"]["replicas"] = 501.into();
    object["spec"]["imagePullPolicy"] = "Sometimes".into();
    object["spec"]["scheduling"] = serde_json::json!({"runtimeClassName": "Not_Valid"});
    object["metadata"]["name"] = "x".repeat(57).into();
    let problems = violations(&object);
    assert_eq!(problems.len(), 4, "{problems:#?}");
}
