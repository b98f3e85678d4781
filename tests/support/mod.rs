//! Helpers shared by the integration tests: the generated CRD schemas and a validator for
//! objects against them (the checks an API server applies to values and defaults).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test crates; tests fail loudly

use serde_json::{Value, json};

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

pub fn type_matches(ty: Option<&str>, value: &Value) -> bool {
    match ty {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        _ => true,
    }
}

/// Why `value` does not validate against `schema` (the checks the API server runs on
/// defaults: type, enum, bounds, pattern, required fields, and pruning of unknown fields).
pub fn value_violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if schema["x-kubernetes-int-or-string"] == json!(true) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            out.push(format!("{value} is not an int or a string"));
        }
        return out;
    }
    let ty = schema["type"].as_str();
    if !type_matches(ty, value) {
        out.push(format!("{value} is not of type {ty:?}"));
        return out;
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        out.push(format!("{value} is not one of {values:?}"));
    }
    if let (Some(min), Some(v)) = (schema["minimum"].as_f64(), value.as_f64())
        && v < min
    {
        out.push(format!("{v} < minimum {min}"));
    }
    if let (Some(max), Some(v)) = (schema["maximum"].as_f64(), value.as_f64())
        && v > max
    {
        out.push(format!("{v} > maximum {max}"));
    }
    if let (Some(pattern), Some(s)) = (schema["pattern"].as_str(), value.as_str())
        && !regex::Regex::new(pattern).is_ok_and(|re| re.is_match(s))
    {
        out.push(format!("{s:?} does not match {pattern}"));
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(required)
                && schema["properties"][required].get("default").is_none()
            {
                out.push(format!("missing required field {required:?}"));
            }
        }
        for (key, child) in object {
            match schema["properties"]
                .get(key)
                .or_else(|| schema.get("additionalProperties"))
            {
                Some(child_schema) if child_schema.is_object() => {
                    out.extend(value_violations(child_schema, child))
                }
                Some(_) => {}
                None if schema["x-kubernetes-preserve-unknown-fields"] == json!(true) => {}
                None => out.push(format!("unknown field {key:?} would be pruned")),
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for item in list {
            out.extend(value_violations(items, item));
        }
    }
    out
}
