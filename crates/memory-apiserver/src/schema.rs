//! What the API server does with a custom resource's structural schema: prune unknown fields,
//! apply defaults, validate (types, enums, bounds, patterns, required) and evaluate CEL rules.

use serde_json::{Map, Value};

/// Removes fields the schema does not declare (`metadata`, `apiVersion`, `kind` are kept).
pub fn prune(schema: &Value, value: &mut Value, root: bool) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if properties.is_none() && additional.is_none() && !root {
                if schema.get("type").and_then(Value::as_str) == Some("object") {
                    map.clear();
                }
                return;
            }
            map.retain(|key, _| {
                (root && matches!(key.as_str(), "apiVersion" | "kind" | "metadata"))
                    || properties.is_some_and(|p| p.contains_key(key))
                    || additional.is_some()
            });
            for (key, child) in map.iter_mut() {
                if root && key == "metadata" {
                    continue;
                }
                if let Some(child_schema) = properties.and_then(|p| p.get(key)).or(additional) {
                    prune(child_schema, child, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune(item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

/// Drops `null` values of fields that are not nullable (the API server does this before
/// defaulting).
pub fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// A rule of a structural schema that a value breaks.
#[derive(Clone, Debug, PartialEq)]
pub enum Broken {
    /// `x-kubernetes-int-or-string`, and the value is neither.
    IntOrString,
    /// `type`: the type the schema wants.
    Type(String),
    /// `enum`: the allowed values.
    Enum(Vec<Value>),
    /// `minimum`.
    Minimum(f64),
    /// `maximum`.
    Maximum(f64),
    /// `format: int32`, and the integer does not fit.
    Int32,
    /// `maxLength` (in characters).
    MaxLength(u64),
    /// `minLength` (in characters).
    MinLength(u64),
    /// `pattern`.
    Pattern(String),
    /// `maxItems`.
    MaxItems(u64),
    /// `minItems`.
    MinItems(u64),
    /// `required`: the field is absent (or null).
    Required,
    /// A field the schema does not declare (reported only when asked, [`violations`]).
    Unknown,
}

/// One broken rule: where, the value found there (`null` for a missing one), and the rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// The field path, e.g. `spec.worker.replicas` or `spec.volumes[0].name`.
    pub path: String,
    /// The value found.
    pub value: Value,
    /// The rule.
    pub broken: Broken,
}

impl Violation {
    /// A value of the wrong type.
    pub fn is_type_mismatch(&self) -> bool {
        matches!(self.broken, Broken::Type(_) | Broken::IntOrString)
    }

    /// An error after which kube-apiserver does not evaluate CEL rules ("blocking" in its
    /// words): wrong type, required value missing, unsupported enum value, too long, too many.
    pub fn is_blocking(&self) -> bool {
        self.is_type_mismatch()
            || matches!(
                self.broken,
                Broken::Required | Broken::Enum(_) | Broken::MaxLength(_) | Broken::MaxItems(_)
            )
    }

    /// The cause message in kube-apiserver's words (without the field path).
    pub fn api_server_message(&self) -> String {
        let (path, value) = (&self.path, &self.value);
        match &self.broken {
            Broken::IntOrString => format!(
                "Invalid value: \"{}\": {path} in body must be of type int-or-string",
                type_name(value)
            ),
            Broken::Type(ty) => format!(
                "Invalid value: \"{0}\": {path} in body must be of type {ty}: \"{0}\"",
                type_name(value)
            ),
            Broken::Enum(allowed) => {
                let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
                format!(
                    "Unsupported value: {value}: supported values: {}",
                    list.join(", ")
                )
            }
            Broken::Minimum(min) => format!(
                "Invalid value: {value}: {path} in body should be greater than or equal to {min}"
            ),
            Broken::Maximum(max) => format!(
                "Invalid value: {value}: {path} in body should be less than or equal to {max}"
            ),
            Broken::Int32 => {
                format!("Invalid value: {value}: {path} in body must be of type int32")
            }
            Broken::MaxLength(max) => format!("Too long: may not be more than {max} bytes"),
            Broken::MinLength(min) => format!(
                "Invalid value: {value}: {path} in body should be at least {min} chars long"
            ),
            Broken::Pattern(pattern) => {
                format!("Invalid value: {value}: {path} in body should match '{pattern}'")
            }
            Broken::MaxItems(max) => format!(
                "Too many: {}: must have at most {max} items",
                value.as_array().map_or(0, Vec::len)
            ),
            Broken::MinItems(min) => format!(
                "Invalid value: {}: {path} in body should have at least {min} items",
                value.as_array().map_or(0, Vec::len)
            ),
            Broken::Required => "Required value".to_owned(),
            Broken::Unknown => "field not declared in schema".to_owned(),
        }
    }
}

/// Every rule of `schema` that `value` (at `path`) breaks, in the order kube-apiserver reports
/// them: a node's own rules, then its required fields, then its fields and items. Null values
/// are not validated (the API server drops them first). A value of the wrong type is not
/// looked into. With `unknown_fields`, fields the schema does not declare are reported too
/// (kubectl's strict field validation); otherwise they are ignored (the API server prunes
/// them). `apiVersion`, `kind` and `metadata` at the root are left to the caller.
pub fn violations(
    schema: &Value,
    value: &Value,
    path: &str,
    unknown_fields: bool,
) -> Vec<Violation> {
    let mut out = Vec::new();
    walk(schema, value, path, unknown_fields, &mut out);
    out
}

fn walk(schema: &Value, value: &Value, path: &str, unknown: bool, out: &mut Vec<Violation>) {
    let mut push = |broken: Broken| {
        out.push(Violation {
            path: path.to_owned(),
            value: value.clone(),
            broken,
        })
    };
    if value.is_null() {
        return;
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            push(Broken::IntOrString);
        }
        return;
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str)
        && !matches_type(ty, value)
    {
        push(Broken::Type(ty.to_owned()));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        push(Broken::Enum(allowed.clone()));
    }
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    let count = |key: &str| schema.get(key).and_then(Value::as_u64);
    if let Some(n) = value.as_f64() {
        if let Some(min) = number("minimum").filter(|min| n < *min) {
            push(Broken::Minimum(min));
        }
        if let Some(max) = number("maximum").filter(|max| n > *max) {
            push(Broken::Maximum(max));
        }
        if schema.get("format").and_then(Value::as_str) == Some("int32")
            && !value.is_f64()
            && value.as_i64().is_none_or(|n| i32::try_from(n).is_err())
        {
            push(Broken::Int32);
        }
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if let Some(max) = count("maxLength").filter(|max| chars > *max) {
            push(Broken::MaxLength(max));
        }
        if let Some(min) = count("minLength").filter(|min| chars < *min) {
            push(Broken::MinLength(min));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && !regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
        {
            push(Broken::Pattern(pattern.to_owned()));
        }
    }
    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if let Some(max) = count("maxItems").filter(|max| len > *max) {
            push(Broken::MaxItems(max));
        }
        if let Some(min) = count("minItems").filter(|min| len < *min) {
            push(Broken::MinItems(min));
        }
    }
    match value {
        Value::Object(map) => {
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if map.get(required).is_none_or(Value::is_null) {
                    out.push(Violation {
                        path: join(path, required),
                        value: Value::Null,
                        broken: Broken::Required,
                    });
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let preserve =
                schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            for (key, child) in map {
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let child_path = join(path, key);
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(child_schema), _) => walk(child_schema, child, &child_path, unknown, out),
                    (None, Some(child_schema)) if child_schema.is_object() => {
                        walk(child_schema, child, &child_path, unknown, out)
                    }
                    (None, Some(Value::Bool(true))) => {}
                    _ if preserve || !unknown => {}
                    _ => out.push(Violation {
                        path: child_path,
                        value: child.clone(),
                        broken: Broken::Unknown,
                    }),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), unknown, out);
                }
            }
        }
        _ => {}
    }
}

fn matches_type(ty: &str, value: &Value) -> bool {
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

/// `key` below `path`.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The JSON type of `value`, in the API server's words.
pub fn type_name(value: &Value) -> &'static str {
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

/// Decodes a custom resource the way the API server does before admission: nulls dropped,
/// unknown fields pruned, schema defaults applied. Validation comes later
/// ([`validate_custom`]), after the mutating webhooks: an object that breaks the schema still
/// reaches them.
pub fn decode_custom(schema: &Value, object: &Value) -> Value {
    let mut object = object.clone();
    drop_nulls(&mut object);
    prune(schema, &mut object, true);
    let mut object = kube::core::cel::apply_defaults(schema, &object);
    // apply_defaults may have produced maps where there were none; keep the object tidy.
    if let Value::Object(map) = &mut object {
        map.retain(|_, v| !v.is_null());
    }
    object
}

/// Validates a decoded custom resource against its version's schema and CEL rules, after
/// mutating admission; returns every cause. As in kube-apiserver, the CEL rules are skipped
/// after a "blocking" error (wrong type, required value missing, unsupported enum value, too
/// long, too many), with a cause saying so.
pub fn validate_custom(
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
) -> Result<(), Vec<(String, String)>> {
    // kube-apiserver does not check integer formats against their range.
    let mut found = violations(schema, object, "", false);
    found.retain(|v| v.broken != Broken::Int32);
    let blocking = found.iter().any(Violation::is_blocking);
    let mut causes: Vec<(String, String)> = found
        .iter()
        .map(|v| (v.path.clone(), v.api_server_message()))
        .collect();
    if blocking {
        causes.push((
            "<nil>".to_owned(),
            "Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".to_owned(),
        ));
    } else if let Err(failures) = kube::core::cel::Validator::new().validate(schema, object, old) {
        for failure in failures.iter() {
            let field = failure.field_path.trim_start_matches('.').to_owned();
            causes.push((
                if field.is_empty() {
                    "<nil>".to_owned()
                } else {
                    field
                },
                format!("Invalid value: \"object\": {}", failure.message),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(causes)
    }
}

/// The `openAPIV3Schema` of every version of a CRD, keyed by `group/version`.
pub fn crd_schemas(crd: &Value) -> Map<String, Value> {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let name = v.get("name")?.as_str()?;
            Some((
                format!("{group}/{name}"),
                v.pointer("/schema/openAPIV3Schema")?.clone(),
            ))
        })
        .collect()
}
