//! Validation of an object against the generated CRD schema, the way an API server does it:
//! schema defaults applied first, then types, required fields, enums, ranges, lengths,
//! patterns, integer formats, unknown fields (kubectl's default strict field validation
//! rejects them), and the CEL rules (`x-kubernetes-validations`).
//!
//! This lets `locust-operator check` report what the API server would reject, not only what
//! the webhook would. The structural rules are checked by the in-memory API server's own
//! walker ([`memory_apiserver::schema::violations`], the one schema checker of the
//! workspace); this module adds what kubectl and the API server add around it (metadata, the
//! served versions, unknown fields as kubectl's strict validation reports them, CEL) and says
//! each problem in words a user can act on.

use std::collections::BTreeMap;

use kube::core::cel::{Validator, apply_defaults};
use memory_apiserver::schema::{self, Broken, Violation};
use serde_json::Value;

use crate::crd::{CrdError, locust_test_crd};
use crate::field::{FieldError, join};

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
        match root.and_then(|r| r.get("metadata")) {
            Some(metadata) => check_metadata(metadata, &mut errors),
            None => check_metadata(&Value::Object(serde_json::Map::new()), &mut errors),
        }
        for violation in schema::violations(schema, &defaulted, "", true) {
            errors.type_mismatch |= violation.is_type_mismatch();
            errors.push(field_error(&violation));
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
}

fn unknown_field(path: &str) -> FieldError {
    FieldError::new(
        path,
        "unknown field (check the spelling; `kubectl explain locusttest.spec` lists the fields)",
    )
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

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}

/// Every problem of `value` against `schema`, with field paths below `path` (fields the
/// schema does not declare included).
pub fn check_value(schema: &Value, value: &Value, path: &str) -> Vec<FieldError> {
    schema::violations(schema, value, path, true)
        .iter()
        .map(field_error)
        .collect()
}

/// A broken schema rule in the words of `check`: the rule and the value found, which the
/// user can act on without knowing OpenAPI.
fn field_error(violation: &Violation) -> FieldError {
    let value = &violation.value;
    let number = value.as_f64().unwrap_or_default();
    let message = match &violation.broken {
        Broken::IntOrString => format!(
            "must be an integer or a string, found {} {}",
            schema::type_name(value),
            show(value)
        ),
        Broken::Type(ty) => format!(
            "must be of type {ty}, found {} {}",
            schema::type_name(value),
            show(value)
        ),
        Broken::Enum(allowed) => {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            format!(
                "unsupported value {}: supported values: {}",
                show(value),
                list.join(", ")
            )
        }
        Broken::Minimum(min) => {
            format!("should be greater than or equal to {min}, found {number}")
        }
        Broken::Maximum(max) => format!("should be less than or equal to {max}, found {number}"),
        Broken::Int32 => format!("{number} does not fit in a 32-bit integer"),
        Broken::MaxLength(max) => format!("may not be longer than {max} characters"),
        Broken::MinLength(min) => format!("must be at least {min} characters long"),
        Broken::Pattern(pattern) => format!("{} should match '{pattern}'", show(value)),
        Broken::MaxItems(max) => format!("must have at most {max} items"),
        Broken::MinItems(min) => format!("must have at least {min} items"),
        Broken::Required => "Required value".to_owned(),
        Broken::Unknown => return unknown_field(&violation.path),
    };
    FieldError::new(&violation.path, message)
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
