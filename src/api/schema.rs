//! Schema helpers for embedding Kubernetes core types in the CRD.
//!
//! The full OpenAPI schemas of core types (Affinity, Volume, EnvVar, ...) are kept so the API
//! server validates them at admission, but their upstream descriptions are dropped: they would
//! make the CRD several times larger than the 256 KiB that client-side `kubectl apply` can store.
//! Our own field descriptions (doc comments on our fields) are kept.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

/// Schema of an embedded core type `T`, inlined, with every upstream `description` removed.
pub fn embedded<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<T>();
    if let Some(object) = schema.as_object_mut() {
        strip_descriptions(object);
    }
    schema
}

/// `status.conditions`: the standard `metav1.Condition` list, as a list-map keyed by `type`
/// so that server-side apply merges conditions by type.
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let mut schema =
        embedded::<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>(generator);
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        Value::from(vec!["type"]),
    );
    schema
}

/// A map of string to string (labels, annotations, node selectors, extra env vars).
pub fn string_map(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": { "type": "string" }
    })
}

/// Removes `description` from a schema node and every schema below it. Property *names* are
/// never touched: only keyword positions that hold schemas are descended into.
pub fn strip_descriptions(node: &mut Map<String, Value>) {
    node.remove("description");
    for (keyword, child) in node.iter_mut() {
        match (keyword.as_str(), child) {
            ("properties" | "patternProperties" | "definitions" | "$defs", Value::Object(map)) => {
                for schema in map.values_mut() {
                    if let Value::Object(schema) = schema {
                        strip_descriptions(schema);
                    }
                }
            }
            ("items" | "additionalProperties" | "not", Value::Object(schema)) => {
                strip_descriptions(schema)
            }
            ("items" | "allOf" | "anyOf" | "oneOf", Value::Array(list)) => {
                for schema in list {
                    if let Value::Object(schema) = schema {
                        strip_descriptions(schema);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Adds `field` to a schema's `required` list (for fields Rust defaults when deserializing but
/// the CRD declares required-with-default, as controller-gen does).
pub fn require(schema: &mut Schema, field: &str) {
    let required = schema
        .ensure_object()
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = required
        && !list.iter().any(|v| v == field)
    {
        list.push(field.into());
        list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
}
