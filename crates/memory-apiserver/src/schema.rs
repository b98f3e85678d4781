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

/// OpenAPI validation failures `(field, message)` in the API server's wording.
pub fn validate(schema: &Value, value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            out.push((
                path.to_owned(),
                format!(
                    "Invalid value: \"{}\": {path} in body must be of type int-or-string",
                    type_name(value)
                ),
            ));
        }
        return;
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str)
        && !matches_type(ty, value)
    {
        out.push((
            path.to_owned(),
            format!(
                "Invalid value: \"{}\": {path} in body must be of type {ty}: \"{}\"",
                type_name(value),
                type_name(value)
            ),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        out.push((
            path.to_owned(),
            format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        ));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            out.push((path.to_owned(), format!("Invalid value: {value}: {path} in body should be greater than or equal to {min}")));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            out.push((
                path.to_owned(),
                format!(
                    "Invalid value: {value}: {path} in body should be less than or equal to {max}"
                ),
            ));
        }
    }
    if let Some(text) = value.as_str() {
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && text.chars().count() as u64 > max
        {
            out.push((
                path.to_owned(),
                format!("Too long: may not be more than {max} bytes"),
            ));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && !regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
        {
            out.push((
                path.to_owned(),
                format!("Invalid value: {value}: {path} in body should match '{pattern}'"),
            ));
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
                if !map.contains_key(required) {
                    out.push((join(path, required), "Required value".to_owned()));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map {
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(child_schema) = properties.and_then(|p| p.get(key)).or(additional) {
                    validate(child_schema, child, &join(path, key), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
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
    let mut causes = Vec::new();
    validate(schema, object, "", &mut causes);
    let blocking = causes.iter().any(|(_, message)| {
        message.contains(" in body must be of type ")
            || [
                "Required value",
                "Unsupported value",
                "Too long",
                "Too many",
            ]
            .iter()
            .any(|kind| message.starts_with(kind))
    });
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
