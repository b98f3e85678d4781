//! Helpers shared by the integration tests: the generated CRD schemas.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test crates; tests fail loudly

use serde_json::Value;

/// The `openAPIV3Schema` of one version, as JSON.
pub fn schema(version: &str) -> Value {
    let crd = locust_operator::crd::locust_test_crd().expect("CRD generates");
    let version = crd
        .spec
        .versions
        .iter()
        .find(|v| v.name == version)
        .unwrap_or_else(|| panic!("version {version} missing"));
    serde_json::to_value(
        version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema"),
    )
    .expect("schema serializes")
}

/// The schema node at a dotted path below the root (`spec.master.autoquit.timeout`,
/// `spec.volumeMounts[].target`).
pub fn node<'a>(schema: &'a Value, path: &str) -> &'a Value {
    let mut current = schema;
    for segment in path.split('.') {
        let (name, items) = match segment.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (segment, false),
        };
        current = current
            .get("properties")
            .and_then(|p| p.get(name))
            .unwrap_or_else(|| panic!("{path}: no property {name:?}"));
        if items {
            current = current
                .get("items")
                .unwrap_or_else(|| panic!("{path}: {name} has no items"));
        }
    }
    current
}
