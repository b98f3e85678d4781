//! Validation of an object against the generated CRD schema, the way an API server does it:
//! schema defaults applied first, then types, required fields, enums, ranges, lengths,
//! patterns, integer formats, unknown fields (kubectl's default strict field validation
//! rejects them), and the CEL rules (`x-kubernetes-validations`).
//!
//! This lets `locust-operator check` report what the API server would reject, not only what
//! the webhook would.

use std::collections::BTreeMap;

use kube::core::cel::{Validator, apply_defaults};
use serde_json::Value;

use crate::crd::{CrdError, locust_test_crd};
use crate::field::{FieldError, index, join};

/// The schemas of every served version, keyed by `apiVersion` (`locust.io/v2`).
pub struct SchemaChecker {
    schemas: BTreeMap<String, Value>,
    cel: Validator,
}

impl SchemaChecker {
    /// Builds the checker from the generated CRD.
    pub fn new() -> Result<Self, CrdError> {
        let crd = locust_test_crd()?;
        let mut schemas = BTreeMap::new();
        for version in crd.spec.versions {
            if let Some(schema) = version.schema.and_then(|s| s.open_api_v3_schema) {
                schemas.insert(
                    format!("{}/{}", crd.spec.group, version.name),
                    serde_json::to_value(schema)?,
                );
            }
        }
        Ok(Self {
            schemas,
            cel: Validator::new(),
        })
    }

    /// The schema of one `apiVersion`, if served.
    pub fn schema(&self, api_version: &str) -> Option<&Value> {
        self.schemas.get(api_version)
    }

    /// Every problem the API server would report for this object. An object whose
    /// `apiVersion` is not served gets one error saying so.
    pub fn check(&self, object: &Value) -> Vec<FieldError> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(schema) = self.schemas.get(api_version) else {
            let served: Vec<_> = self.schemas.keys().map(String::as_str).collect();
            return vec![FieldError::new(
                "apiVersion",
                format!(
                    "{api_version:?} is not served; use one of {}",
                    served.join(", ")
                ),
            )];
        };
        let defaulted = apply_defaults(schema, object);
        let mut errors = Errors::default();
        let root = defaulted.as_object();
        for (key, value) in root.into_iter().flatten() {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => check_metadata(value, &mut errors),
                _ => match schema.get("properties").and_then(|p| p.get(key)) {
                    Some(child) => walk(child, value, key, &mut errors),
                    None => errors.push(unknown_field(key)),
                },
            }
        }
        if root.is_none_or(|r| !r.contains_key("metadata")) {
            check_metadata(&Value::Object(serde_json::Map::new()), &mut errors);
        }
        for required in required_fields(schema) {
            if root.is_none_or(|r| !r.contains_key(required)) {
                errors.push(FieldError::new(required, "Required value"));
            }
        }
        // Like the API server, CEL rules are skipped when a value has the wrong type. (It also
        // skips them after a missing, unsupported or too long value; `check` evaluates them
        // anyway, since the validation it runs next repeats every rule on the typed test.)
        if errors.type_mismatch {
            errors.push(FieldError::new(
                "",
                "validation rules (x-kubernetes-validations) were not checked because the object has values of the wrong type",
            ));
        } else if let Err(failures) = self.cel.validate(schema, &named(defaulted), None) {
            for failure in failures.iter() {
                errors.push(cel_error(
                    failure.field_path.trim_start_matches('.'),
                    &failure.message,
                ));
            }
        }
        errors.list
    }
}

/// The object as the API server's CEL rules see it: with a `metadata.name` always (the API
/// server generates it from `generateName` before validation, and rejects an object with
/// neither, reported by [`check_metadata`]), so a rule reading the name never fails with
/// "No such key".
fn named(mut object: Value) -> Value {
    let Some(root) = object.as_object_mut() else {
        return object;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Some(metadata) = metadata.as_object_mut()
        && !metadata.get("name").is_some_and(Value::is_string)
    {
        // Five characters, like the API server's random suffix.
        let generated = match metadata.get("generateName").and_then(Value::as_str) {
            Some(prefix) => format!("{prefix}xxxxx"),
            None => String::new(),
        };
        metadata.insert("name".to_owned(), Value::String(generated));
    }
    object
}

/// Problems found so far, and whether one of them is a type mismatch (which, in the API
/// server, stops CEL rules from being evaluated).
#[derive(Default)]
struct Errors {
    list: Vec<FieldError>,
    type_mismatch: bool,
}

impl Errors {
    fn push(&mut self, error: FieldError) {
        self.list.push(error);
    }

    fn push_type_mismatch(&mut self, error: FieldError) {
        self.type_mismatch = true;
        self.list.push(error);
    }

    fn len(&self) -> usize {
        self.list.len()
    }
}

fn unknown_field(path: &str) -> FieldError {
    FieldError::new(
        path,
        "unknown field (check the spelling; `kubectl explain locusttest.spec` lists the fields)",
    )
}

fn required_fields(schema: &Value) -> impl Iterator<Item = &str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn check_metadata(metadata: &Value, errors: &mut Errors) {
    let Some(metadata) = metadata.as_object() else {
        errors.push(FieldError::new("metadata", "must be an object"));
        return;
    };
    if !metadata.contains_key("name") && !metadata.contains_key("generateName") {
        errors.push(FieldError::new(
            "metadata.name",
            "Required value: name or generateName is required",
        ));
    }
    for key in ["name", "generateName", "namespace"] {
        if let Some(value) = metadata.get(key)
            && !value.is_string()
        {
            errors.push(FieldError::new(join("metadata", key), "must be a string"));
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    }
}

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}

/// Every problem of `value` against `schema`, with field paths below `path`.
pub fn check_value(schema: &Value, value: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Errors::default();
    walk(schema, value, path, &mut errors);
    errors.list
}

fn walk(schema: &Value, value: &Value, path: &str, errors: &mut Errors) {
    let before = errors.len();
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            errors.push_type_mismatch(FieldError::new(
                path,
                format!(
                    "must be an integer or a string, found {} {}",
                    type_name(value),
                    show(value)
                ),
            ));
        }
        return;
    }
    if value.is_null() {
        // The API server prunes nulls of non-nullable fields before validating.
        return;
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str)
        && !type_matches(ty, value)
    {
        errors.push_type_mismatch(FieldError::new(
            path,
            format!(
                "must be of type {ty}, found {} {}",
                type_name(value),
                show(value)
            ),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errors.push(FieldError::new(
            path,
            format!(
                "unsupported value {}: supported values: {}",
                show(value),
                list.join(", ")
            ),
        ));
    }
    check_number(schema, value, path, errors);
    check_string(schema, value, path, errors);
    if errors.len() > before {
        return;
    }
    match value {
        Value::Object(object) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let preserve =
                schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            for (key, child) in object {
                let child_path = join(path, key);
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(child_schema), _) => walk(child_schema, child, &child_path, errors),
                    (None, Some(child_schema)) if child_schema.is_object() => {
                        walk(child_schema, child, &child_path, errors)
                    }
                    (None, Some(Value::Bool(true))) => {}
                    _ if preserve => {}
                    _ => errors.push(unknown_field(&child_path)),
                }
            }
            for required in required_fields(schema) {
                if object.get(required).is_none_or(Value::is_null) {
                    errors.push(FieldError::new(join(path, required), "Required value"));
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item_schema, item, &index(path, i), errors);
                }
            }
            check_list_bounds(schema, items.len(), path, errors);
        }
        _ => {}
    }
}

fn check_number(schema: &Value, value: &Value, path: &str, errors: &mut Errors) {
    let Some(number) = value.as_f64() else { return };
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && number < min
    {
        errors.push(FieldError::new(
            path,
            format!("should be greater than or equal to {min}, found {number}"),
        ));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && number > max
    {
        errors.push(FieldError::new(
            path,
            format!("should be less than or equal to {max}, found {number}"),
        ));
    }
    let range = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
        _ => None,
    };
    if let Some((low, high)) = range
        && value.as_i64().is_none_or(|n| n < low || n > high)
        && value.is_number()
        && !value.is_f64()
    {
        errors.push(FieldError::new(
            path,
            format!("{number} does not fit in a 32-bit integer"),
        ));
    }
}

fn check_string(schema: &Value, value: &Value, path: &str, errors: &mut Errors) {
    let Some(text) = value.as_str() else { return };
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && text.chars().count() as u64 > max
    {
        errors.push(FieldError::new(
            path,
            format!("may not be longer than {max} characters"),
        ));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && (text.chars().count() as u64) < min
    {
        errors.push(FieldError::new(
            path,
            format!("must be at least {min} characters long"),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && !regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
    {
        errors.push(FieldError::new(
            path,
            format!("{} should match '{pattern}'", show(value)),
        ));
    }
}

fn check_list_bounds(schema: &Value, len: usize, path: &str, errors: &mut Errors) {
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && len as u64 > max
    {
        errors.push(FieldError::new(
            path,
            format!("must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (len as u64) < min
    {
        errors.push(FieldError::new(
            path,
            format!("must have at least {min} items"),
        ));
    }
}

/// A CEL failure as a field error. A rule's message may start with the field it names
/// (`metadata.name must be ...`, the words the API server shows after the field path): the
/// field is then said once, `metadata.name: must be ...`. A rule without a field path whose
/// message starts with a field gets that field.
fn cel_error(field: &str, message: &str) -> FieldError {
    if let Some((first, rest)) = message.split_once(' ')
        && first.contains('.')
        && (field.is_empty() || field == first)
        && first
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']'))
    {
        return FieldError::new(first, rest);
    }
    FieldError::new(field, message)
}
