//! Field validation (`?fieldValidation=Strict|Warn|Ignore`) of custom resources, in
//! kube-apiserver's words: fields the version's schema does not declare are an error
//! (`Strict`, kubectl's default), a warning each (`Warn`), or pruned silently (`Ignore`, and
//! here also when the parameter is absent). Where the error comes from depends on the request:
//! decoding a create or update body (400 `BadRequest`), applying a JSON or merge patch (422
//! `Invalid` on the field `patch`), or building the typed object of a server-side apply (500).

use serde_json::{Value, json};

use crate::resources::ResourceType;
use crate::schema::{Broken, type_name, violations};
use crate::status::ApiError;

/// What to do with unknown fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Fail the request.
    Strict,
    /// Warn about each (a `Warning` header).
    Warn,
    /// Drop them.
    Ignore,
}

impl FieldValidation {
    /// The `fieldValidation` query parameter (absent: `Ignore`, pruning as before).
    pub fn from_query(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            Some("Strict") => Ok(Self::Strict),
            Some("Warn") => Ok(Self::Warn),
            Some("Ignore") | None | Some("") => Ok(Self::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            ))),
        }
    }
}

/// The fields of `object` that `schema` does not declare, as paths (`spec.master.extra`), in
/// the order kube-apiserver reports them. `apiVersion`, `kind` and `metadata` are not looked
/// into.
pub fn unknown_fields(schema: &Value, object: &Value) -> Vec<String> {
    violations(schema, object, "", true)
        .into_iter()
        .filter(|v| v.broken == Broken::Unknown)
        .map(|v| v.path)
        .collect()
}

/// `unknown field "a", unknown field "b"`.
fn listed(unknown: &[String]) -> String {
    unknown
        .iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The warnings of `Warn` validation: one per field.
pub fn warnings(unknown: &[String]) -> Vec<String> {
    unknown
        .iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect()
}

/// 400 for a create or update body with unknown fields: `LocustTest in version "v2" cannot
/// be handled as a LocustTest: strict decoding error: unknown field "spec.x"`.
pub fn decode_error(resource: &ResourceType, unknown: &[String]) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        listed(unknown),
        kind = resource.kind,
        version = resource.version,
    ))
}

/// 422 for a JSON or merge patch whose result has unknown fields: the patched object, as
/// JSON, is the invalid value of the field `patch`.
pub fn patch_error(patched: &Value, unknown: &[String]) -> ApiError {
    let patched = serde_json::to_string(patched).unwrap_or_default();
    let quoted = serde_json::to_string(&patched).unwrap_or_default();
    let message = format!(
        "Invalid value: {quoted}: strict decoding error: {}",
        listed(unknown)
    );
    ApiError::new(
        422,
        "Invalid",
        format!(" \"\" is invalid: patch: {message}"),
        Some(
            json!({"causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]}),
        ),
    )
}

/// 500 for a server-side apply whose configuration has unknown fields: every field the typed
/// object could not take (unknown ones and values of the wrong type), as the structured-merge
/// library lists them. `None` when no field is unknown.
pub fn apply_error(
    resource: &ResourceType,
    namespace: &str,
    name: &str,
    schema: &Value,
    patch: &Value,
) -> Option<ApiError> {
    let found = violations(schema, patch, "", true);
    if !found.iter().any(|v| v.broken == Broken::Unknown) {
        return None;
    }
    let lines: Vec<String> = found
        .iter()
        .filter_map(|v| {
            let problem = match &v.broken {
                Broken::Unknown => "field not declared in schema".to_owned(),
                Broken::Type(ty) => {
                    let expected = match ty.as_str() {
                        "integer" | "number" => "numeric (int or float)",
                        "string" => "string",
                        "boolean" => "bool",
                        "object" => "map",
                        "array" => "list",
                        other => other,
                    };
                    format!("expected {expected}, got {}", type_name(&v.value))
                }
                _ => return None,
            };
            Some(format!("  .{}: {problem}", v.path))
        })
        .collect();
    let scope = if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    };
    let mut error = ApiError::new(
        500,
        "",
        format!(
            "failed to create typed patch object ({scope}; {}, Kind={}): errors:\n{}",
            resource.api_version(),
            resource.kind,
            lines.join("\n")
        ),
        None,
    );
    // This Status has no reason (the API server wraps a plain error).
    if let Value::Object(body) = &mut error.body {
        body.remove("reason");
    }
    Some(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "master": {"type": "object", "properties": {"command": {"type": "string"}}},
            "worker": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
        }}}})
    }

    #[test]
    fn unknown_fields_are_listed_in_order() {
        let object = json!({"apiVersion": "locust.io/v2", "kind": "LocustTest", "metadata": {"x": 1},
            "spec": {"extra": true, "master": {"command": "c", "replicaCount": 1}, "worker": {"replicas": "two"}}});
        let unknown = unknown_fields(&schema(), &object);
        assert_eq!(unknown, ["spec.extra", "spec.master.replicaCount"]);
        let resource = crate::resources::find("locust.io", "v2", "locusttests")
            .unwrap_or_else(|| unreachable!());
        let error = decode_error(&resource, &unknown);
        assert_eq!(error.code, 400);
        assert_eq!(
            error.body["message"],
            "LocustTest in version \"v2\" cannot be handled as a LocustTest: strict decoding error: unknown field \"spec.extra\", unknown field \"spec.master.replicaCount\""
        );
        let apply =
            apply_error(&resource, "ns", "t", &schema(), &object).unwrap_or_else(|| unreachable!());
        assert_eq!(apply.code, 500);
        assert_eq!(
            apply.body["message"],
            "failed to create typed patch object (ns/t; locust.io/v2, Kind=LocustTest): errors:\n  .spec.extra: field not declared in schema\n  .spec.master.replicaCount: field not declared in schema\n  .spec.worker.replicas: expected numeric (int or float), got string"
        );
    }
}
