//! PATCH: JSON merge patch (RFC 7386), JSON Patch (RFC 6902), strategic merge patch for the
//! built-in types used here, and server-side apply as a field-owning merge recorded in
//! `metadata.managedFields`.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// Patch content types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// From a Content-Type header.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies an RFC 6902 patch; `Err` when it does not apply (a failed `test`, a missing path).
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, String> {
    let patch: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| e.to_string())?;
    let mut out = target.clone();
    json_patch::patch(&mut out, &patch).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Applies an RFC 7386 merge patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    json_patch::merge(&mut out, patch);
    out
}

/// The merge key of a list, by the list's field name (the patchMergeKey of the built-in
/// types this harness serves). `None`: the list is replaced.
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let key = match field {
        "containers" | "initContainers" | "env" | "volumes" | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "ports" => {
            // Service ports merge by `port`, container ports by `containerPort`.
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    };
    Some(key)
}

/// Applies a strategic merge patch: maps merge (`null` deletes a key; a map left empty
/// disappears), keyed lists merge by their key with new items first, other lists are replaced.
pub fn strategic_merge(target: &Value, patch: &Value) -> Value {
    strategic(target, patch, "")
}

fn strategic(target: &Value, patch: &Value, field: &str) -> Value {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            let mut out = target.clone();
            for (key, value) in patch {
                if value.is_null() {
                    out.remove(key);
                    continue;
                }
                let merged = match out.get(key) {
                    Some(existing) => strategic(existing, value, key),
                    None => strip_nulls(value),
                };
                if merged.as_object().is_some_and(Map::is_empty)
                    && out
                        .get(key)
                        .is_some_and(|e| !e.as_object().is_some_and(Map::is_empty))
                {
                    out.remove(key);
                } else {
                    out.insert(key.clone(), merged);
                }
            }
            Value::Object(out)
        }
        (Value::Array(target), Value::Array(patch)) => match merge_key(field, patch) {
            Some(key) => {
                let mut fresh = Vec::new();
                let mut merged: Vec<Value> = target.clone();
                for item in patch {
                    let id = item.get(key);
                    match merged.iter_mut().find(|t| id.is_some() && t.get(key) == id) {
                        Some(existing) => *existing = strategic(existing, item, ""),
                        None => fresh.push(strip_nulls(item)),
                    }
                }
                fresh.extend(merged);
                Value::Array(fresh)
            }
            None => Value::Array(patch.clone()),
        },
        (_, patch) => strip_nulls(patch),
    }
}

fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

// ---- server-side apply -------------------------------------------------------------------

/// Leaf paths of an object (maps descended; lists and scalars are leaves), excluding
/// apiVersion/kind and server-managed metadata.
pub fn leaf_paths(value: &Value) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    collect(value, &mut Vec::new(), &mut out);
    out.retain(|path| {
        let first = path.first().map(String::as_str);
        let second = path.get(1).map(String::as_str);
        let type_meta = matches!(first, Some("apiVersion" | "kind"));
        let server_meta = first == Some("metadata")
            && matches!(
                second,
                Some(
                    "name"
                        | "namespace"
                        | "uid"
                        | "resourceVersion"
                        | "generation"
                        | "creationTimestamp"
                        | "managedFields"
                        | "deletionTimestamp"
                        | "deletionGracePeriodSeconds"
                )
            );
        !type_meta && !server_meta
    });
    out
}

fn collect(value: &Value, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    match value {
        // An empty map owns nothing below it (and is created on demand).
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(key.clone());
                collect(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

fn get_path<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn set_path(value: &mut Value, path: &[String], leaf: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = value;
    for key in parents {
        if !current.get(key).is_some_and(Value::is_object) {
            current[key.as_str()] = json!({});
        }
        current = &mut current[key.as_str()];
    }
    current[last.as_str()] = leaf;
}

fn remove_path(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = value;
    for key in parents {
        match current.get_mut(key) {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Value::Object(map) = current {
        map.remove(last);
    }
}

/// A managedFields `fieldsV1` tree of leaf paths.
pub fn fields_v1(paths: &BTreeSet<Vec<String>>) -> Value {
    let mut tree = json!({});
    for path in paths {
        let mut current = &mut tree;
        for key in path {
            let entry = format!("f:{key}");
            if current.get(&entry).is_none() {
                current[entry.as_str()] = json!({});
            }
            current = &mut current[entry.as_str()];
        }
    }
    tree
}

fn paths_of(tree: &Value, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    let Some(map) = tree.as_object() else { return };
    let children: Vec<_> = map.iter().filter(|(k, _)| k.starts_with("f:")).collect();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        return;
    }
    for (key, child) in children {
        prefix.push(key.trim_start_matches("f:").to_owned());
        paths_of(child, prefix, out);
        prefix.pop();
    }
}

/// The leaf paths a managedFields entry owns.
fn owned(entry: &Value) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    if let Some(tree) = entry.get("fieldsV1") {
        paths_of(tree, &mut Vec::new(), &mut out);
    }
    out
}

/// A field conflict of server-side apply: `(other manager, path)`.
pub type Conflict = (String, String);

/// Server-side apply of `config` by `manager` onto `live` (absent for a create). Fails with
/// the conflicts when, without `force`, a field owned by another manager would change.
/// Returns the new object with its managedFields updated.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    subresource: Option<&str>,
) -> Result<Value, Vec<Conflict>> {
    let mut object = live.cloned().unwrap_or_else(|| json!({}));
    let entries: Vec<Value> = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let config_paths = leaf_paths(config);
    let mut conflicts = Vec::new();
    for entry in &entries {
        let other = entry
            .get("manager")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if other == manager {
            continue;
        }
        for path in owned(entry).intersection(&config_paths) {
            if get_path(&object, path) != get_path(config, path) {
                conflicts.push((other.to_owned(), format!(".{}", path.join("."))));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    // Fields this manager applied before and no longer applies, that nobody else owns, go.
    let previous: BTreeSet<Vec<String>> = entries
        .iter()
        .filter(|e| {
            e.get("manager").and_then(Value::as_str) == Some(manager)
                && e.get("operation").and_then(Value::as_str) == Some("Apply")
        })
        .flat_map(owned)
        .collect();
    let others: BTreeSet<Vec<String>> = entries
        .iter()
        .filter(|e| e.get("manager").and_then(Value::as_str) != Some(manager))
        .flat_map(owned)
        .collect();
    for path in previous.difference(&config_paths) {
        if !others.contains(path) {
            remove_path(&mut object, path);
        }
    }
    for path in &config_paths {
        if let Some(value) = get_path(config, path) {
            set_path(&mut object, path, value.clone());
        }
    }
    // Ownership: the applier owns its config paths; forced fields leave their old owners.
    let mut new_entries: Vec<Value> = Vec::new();
    for entry in entries {
        let other = entry
            .get("manager")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if other == manager && entry.get("operation").and_then(Value::as_str) == Some("Apply") {
            continue;
        }
        let remaining: BTreeSet<Vec<String>> =
            owned(&entry).difference(&config_paths).cloned().collect();
        if remaining.is_empty() {
            continue;
        }
        let mut entry = entry;
        entry["fieldsV1"] = fields_v1(&remaining);
        new_entries.push(entry);
    }
    new_entries.push(managed_entry(
        manager,
        "Apply",
        api_version,
        &config_paths,
        subresource,
    ));
    crate::store::metadata_mut(&mut object)
        .insert("managedFields".into(), Value::Array(new_entries));
    Ok(object)
}

/// A managedFields entry.
pub fn managed_entry(
    manager: &str,
    operation: &str,
    api_version: &str,
    paths: &BTreeSet<Vec<String>>,
    subresource: Option<&str>,
) -> Value {
    let mut entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": crate::store::now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1(paths),
    });
    if let Some(subresource) = subresource {
        entry["subresource"] = json!(subresource);
    }
    entry
}

/// Records an Update by `manager`: it takes ownership of every leaf that changed between
/// `old` and `new` (all leaves on create).
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
) {
    let new_paths = leaf_paths(new);
    let changed: BTreeSet<Vec<String>> = new_paths
        .iter()
        .filter(|p| old.is_none_or(|old| get_path(old, p) != get_path(new, p)))
        .cloned()
        .collect();
    let mut entries: Vec<Value> = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if changed.is_empty() {
        crate::store::metadata_mut(new).insert("managedFields".into(), Value::Array(entries));
        return;
    }
    // Others lose the fields that changed; fields that no longer exist are dropped too.
    for entry in &mut entries {
        let remaining: BTreeSet<Vec<String>> = owned(entry)
            .into_iter()
            .filter(|p| !changed.contains(p) && new_paths.contains(p))
            .collect();
        entry["fieldsV1"] = fields_v1(&remaining);
    }
    let mine = entries.iter().position(|e| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Update")
            && e.get("subresource").and_then(Value::as_str) == subresource
    });
    let mut paths = changed;
    if let Some(index) = mine {
        paths.extend(owned(&entries[index]));
        entries.remove(index);
    }
    entries.retain(|e| {
        e.get("fieldsV1")
            .is_some_and(|f| f.as_object().is_some_and(|m| !m.is_empty()))
    });
    entries.push(managed_entry(
        manager,
        "Update",
        api_version,
        &paths,
        subresource,
    ));
    crate::store::metadata_mut(new).insert("managedFields".into(), Value::Array(entries));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategic_merge_keyed_lists_and_null_deletes() {
        let service = json!({"spec": {"ports": [{"name": "a", "port": 1}]}, "metadata": {"annotations": {"x": "1"}}});
        let patch = json!({"spec": {"ports": [{"name": "b", "port": 2}]}, "metadata": {"annotations": {"x": null}}});
        let out = strategic_merge(&service, &patch);
        assert_eq!(
            out["spec"]["ports"],
            json!([{"name": "b", "port": 2}, {"name": "a", "port": 1}])
        );
        assert!(out["metadata"].get("annotations").is_none());
    }

    #[test]
    fn apply_conflicts_unless_forced_and_moves_ownership() {
        let mut live = json!({"spec": {"parallelism": 2, "x": 1}});
        record_update(None, &mut live, "curl", "batch/v1", None);
        let config = json!({"spec": {"parallelism": 3}});
        let conflicts = apply(Some(&live), &config, "op", false, "batch/v1", None).unwrap_err();
        assert_eq!(
            conflicts,
            vec![("curl".to_owned(), ".spec.parallelism".to_owned())]
        );
        let forced = apply(Some(&live), &config, "op", true, "batch/v1", None).unwrap();
        assert_eq!(forced["spec"], json!({"parallelism": 3, "x": 1}));
        // Re-applying without the field removes it (the applier owned it alone).
        let dropped = apply(
            Some(&forced),
            &json!({"spec": {}}),
            "op",
            false,
            "batch/v1",
            None,
        )
        .unwrap();
        assert_eq!(dropped["spec"], json!({"x": 1}));
    }
}
