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
        "containers" | "initContainers" | "env" | "volumes" | "imagePullSecrets" | "webhooks" => {
            "name"
        }
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

// ---- managed fields and server-side apply ------------------------------------------------

/// A field path: map keys from the root (`["spec", "template", "spec", "containers"]`).
pub type FieldPath = Vec<String>;

/// Whether an object is of a built-in type (custom resources own every map key separately).
fn is_builtin(object: &Value) -> bool {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    crate::resources::by_kind(api_version, kind).is_none_or(|r| !r.custom)
}

/// Maps of built-in types that are owned as a whole (`+mapType=atomic` / `+structType=atomic`):
/// a Service's or Job's `spec.selector`, and node selectors.
fn atomic_map(path: &[String]) -> bool {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    names == ["spec", "selector"] || names.last() == Some(&"nodeSelector")
}

/// Leaf paths of an object, the granularity at which fields are owned: maps are descended;
/// lists, scalars, empty maps and atomic maps are leaves; `null` is no field at all.
/// apiVersion/kind and server-managed metadata are excluded.
pub fn leaf_paths(value: &Value) -> BTreeSet<FieldPath> {
    let builtin = is_builtin(value);
    let mut out = BTreeSet::new();
    collect(value, &mut Vec::new(), &mut out, builtin);
    out.retain(|path| {
        let first = path.first().map(String::as_str);
        let second = path.get(1).map(String::as_str);
        let type_meta = matches!(first, Some("apiVersion" | "kind"));
        let server_meta = first == Some("metadata")
            && (path.len() == 1
                || matches!(
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
                            | "selfLink"
                    )
                ));
        !type_meta && !server_meta
    });
    out
}

fn collect(value: &Value, prefix: &mut FieldPath, out: &mut BTreeSet<FieldPath>, builtin: bool) {
    match value {
        Value::Null => {}
        Value::Object(map) if !(map.is_empty() || builtin && atomic_map(prefix)) => {
            for (key, child) in map {
                prefix.push(key.clone());
                collect(child, prefix, out, builtin);
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
pub fn fields_v1(paths: &BTreeSet<FieldPath>) -> Value {
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

fn paths_of(tree: &Value, prefix: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
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
fn owned(entry: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Some(tree) = entry.get("fieldsV1") {
        paths_of(tree, &mut Vec::new(), &mut out);
    }
    out
}

fn entry_str<'a>(entry: &'a Value, field: &str) -> Option<&'a str> {
    entry.get(field).and_then(Value::as_str)
}

/// Orders managedFields entries the way the API server does: by operation (`Apply` before
/// `Update`), then time, manager, apiVersion and subresource.
fn sort_entries(entries: &mut [Value]) {
    entries.sort_by(|a, b| {
        let key = |e: &Value| {
            (
                entry_str(e, "operation").unwrap_or_default().to_owned(),
                entry_str(e, "time").unwrap_or_default().to_owned(),
                entry_str(e, "manager").unwrap_or_default().to_owned(),
                entry_str(e, "apiVersion").unwrap_or_default().to_owned(),
                entry_str(e, "subresource").unwrap_or_default().to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });
}

/// A field conflict of server-side apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The manager that owns the field.
    pub manager: String,
    /// The apiVersion of that manager's entry.
    pub api_version: String,
    /// The operation of that manager's entry (`Apply`, `Update`).
    pub operation: String,
    /// The subresource of that manager's entry.
    pub subresource: Option<String>,
    /// The time of that manager's entry.
    pub time: Option<String>,
    /// The field, as `.spec.parallelism`.
    pub field: String,
}

impl Conflict {
    /// The manager as the API server names it in conflict messages:
    /// `"curl" using batch/v1`, `"op" with subresource "status" using v1 at <time>`.
    pub fn manager_description(&self) -> String {
        let mut text = format!("{:?}", self.manager);
        if let Some(subresource) = &self.subresource {
            text.push_str(&format!(" with subresource {subresource:?}"));
        }
        text.push_str(&format!(" using {}", self.api_version));
        if self.operation == "Apply"
            && let Some(time) = &self.time
        {
            text.push_str(&format!(" at {time}"));
        }
        text
    }
}

/// The message of a 409 for apply conflicts, as the API server words it.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [conflict] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflict.manager_description(),
            conflict.field
        );
    }
    let mut by_manager: std::collections::BTreeMap<String, Vec<&str>> =
        std::collections::BTreeMap::new();
    for conflict in conflicts {
        by_manager
            .entry(conflict.manager_description())
            .or_default()
            .push(&conflict.field);
    }
    let mut lines = Vec::new();
    for (manager, fields) in by_manager {
        lines.push(format!("conflicts with {manager}:"));
        lines.extend(fields.iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Whether `desired` (from an apply configuration) leaves `current` as it is. Keyed lists
/// (containers by name, ports by port, ...) are compared item by item: an applied item matches
/// when every field it sets has the live value, so fields others set (or defaults) do not count.
fn applied_matches(field: &str, current: Option<&Value>, desired: &Value) -> bool {
    let Some(current) = current else {
        return false;
    };
    match (current, desired) {
        (Value::Array(live), Value::Array(applied)) => match merge_key(field, applied) {
            Some(key) if applied.iter().all(Value::is_object) => applied.iter().all(|item| {
                live.iter()
                    .find(|l| item.get(key).is_some() && l.get(key) == item.get(key))
                    .is_some_and(|l| subset(l, item))
            }),
            _ => live == applied,
        },
        (current, desired) => current == desired,
    }
}

/// Whether every field of `desired` has the same value in `live`.
fn subset(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d
            .iter()
            .all(|(k, v)| applied_matches(k, l.get(k), v) || (v.is_null() && l.get(k).is_none())),
        (l, d) => l == d,
    }
}

/// Merges an applied value into the live one: keyed lists item by item, maps key by key,
/// anything else replaced.
fn merge_applied(field: &str, live: &mut Value, desired: &Value) {
    match (live, desired) {
        (Value::Array(live), Value::Array(applied)) => match merge_key(field, applied) {
            Some(key) if applied.iter().all(Value::is_object) => {
                for item in applied {
                    match live
                        .iter_mut()
                        .find(|l| item.get(key).is_some() && l.get(key) == item.get(key))
                    {
                        Some(existing) => merge_applied("", existing, item),
                        None => live.push(item.clone()),
                    }
                }
            }
            _ => *live = applied.clone(),
        },
        (Value::Object(live), Value::Object(applied)) => {
            for (k, v) in applied {
                match live.get_mut(k) {
                    Some(existing) => merge_applied(k, existing, v),
                    None => {
                        live.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (live, desired) => *live = desired.clone(),
    }
}

/// Server-side apply of `config` by `manager` onto `live` (absent for a create). Without
/// `force`, changing a field another manager owns is a conflict; with `force` the field moves
/// to the applier. Fields applied with their live value become shared. Fields this manager
/// applied before and no longer applies, that nobody else owns, are removed. Returns the new
/// object with its managedFields (an `Apply` entry for the manager).
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
    let changed: BTreeSet<FieldPath> = config_paths
        .iter()
        .filter(|path| {
            let field = path.last().map(String::as_str).unwrap_or_default();
            get_path(config, path)
                .is_some_and(|desired| !applied_matches(field, get_path(&object, path), desired))
        })
        .cloned()
        .collect();
    let mut conflicts = Vec::new();
    for entry in &entries {
        let other = entry_str(entry, "manager").unwrap_or_default();
        if other == manager {
            continue;
        }
        for path in owned(entry).intersection(&changed) {
            conflicts.push(Conflict {
                manager: other.to_owned(),
                api_version: entry_str(entry, "apiVersion")
                    .unwrap_or_default()
                    .to_owned(),
                operation: entry_str(entry, "operation").unwrap_or_default().to_owned(),
                subresource: entry_str(entry, "subresource").map(str::to_owned),
                time: entry_str(entry, "time").map(str::to_owned),
                field: format!(".{}", path.join(".")),
            });
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    let mine = |e: &Value| {
        entry_str(e, "manager") == Some(manager)
            && entry_str(e, "operation") == Some("Apply")
            && entry_str(e, "subresource") == subresource
    };
    let previous: BTreeSet<FieldPath> =
        entries.iter().filter(|e| mine(e)).flat_map(owned).collect();
    let others: BTreeSet<FieldPath> = entries
        .iter()
        .filter(|e| !mine(e))
        .flat_map(owned)
        .collect();
    for path in previous.difference(&config_paths) {
        if !others.contains(path) {
            remove_path(&mut object, path);
        }
    }
    for path in &changed {
        let Some(desired) = get_path(config, path) else {
            continue;
        };
        let field = path.last().map(String::as_str).unwrap_or_default();
        match get_path(&object, path).cloned() {
            Some(mut current) => {
                merge_applied(field, &mut current, desired);
                set_path(&mut object, path, current);
            }
            None => set_path(&mut object, path, desired.clone()),
        }
    }
    // Changed fields leave their other owners (they were forced); unchanged ones are shared.
    let mut new_entries: Vec<Value> = Vec::new();
    for entry in entries {
        if mine(&entry) {
            continue;
        }
        let remaining: BTreeSet<FieldPath> = owned(&entry).difference(&changed).cloned().collect();
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
    sort_entries(&mut new_entries);
    crate::store::metadata_mut(&mut object)
        .insert("managedFields".into(), Value::Array(new_entries));
    Ok(object)
}

/// A managedFields entry.
pub fn managed_entry(
    manager: &str,
    operation: &str,
    api_version: &str,
    paths: &BTreeSet<FieldPath>,
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
    record_update_with(
        old,
        new,
        &BTreeSet::new(),
        manager,
        api_version,
        subresource,
    );
}

/// [`record_update`], plus `reset`: paths the request set that the server then reset (a label
/// sent to `/status`). Like the API server, the manager is recorded as owning them anyway.
/// Fields that were removed leave every owner; fields that changed leave their other owners.
pub fn record_update_with(
    old: Option<&Value>,
    new: &mut Value,
    reset: &BTreeSet<FieldPath>,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
) {
    let new_paths = leaf_paths(new);
    let old_paths = old.map(leaf_paths).unwrap_or_default();
    let mut changed: BTreeSet<FieldPath> = new_paths
        .iter()
        .filter(|p| old.is_none_or(|old| get_path(old, p) != get_path(new, p)))
        .cloned()
        .collect();
    changed.extend(reset.iter().cloned());
    let removed: BTreeSet<FieldPath> = old_paths.difference(&new_paths).cloned().collect();
    let mut entries: Vec<Value> = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if changed.is_empty() && removed.is_empty() {
        crate::store::metadata_mut(new).insert("managedFields".into(), Value::Array(entries));
        return;
    }
    for entry in &mut entries {
        let remaining: BTreeSet<FieldPath> = owned(entry)
            .into_iter()
            .filter(|p| !changed.contains(p) && !removed.contains(p))
            .collect();
        entry["fieldsV1"] = fields_v1(&remaining);
    }
    let mine = entries.iter().position(|e| {
        entry_str(e, "manager") == Some(manager)
            && entry_str(e, "operation") == Some("Update")
            && entry_str(e, "subresource") == subresource
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
    if !paths.is_empty() {
        entries.push(managed_entry(
            manager,
            "Update",
            api_version,
            &paths,
            subresource,
        ));
    }
    sort_entries(&mut entries);
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

    fn conflict(field: &str) -> Conflict {
        Conflict {
            manager: "curl".into(),
            api_version: "batch/v1".into(),
            operation: "Update".into(),
            subresource: None,
            time: Some(crate::store::now()),
            field: field.into(),
        }
    }

    #[test]
    fn apply_conflicts_unless_forced_and_moves_ownership() {
        let mut live = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": 2, "x": 1, "backoffLimit": 0}});
        record_update(None, &mut live, "curl", "batch/v1", None);
        let config = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": 3, "backoffLimit": 0}});
        let conflicts = apply(Some(&live), &config, "op", false, "batch/v1", None).unwrap_err();
        let mut expected = conflict(".spec.parallelism");
        expected.time = conflicts.first().and_then(|c| c.time.clone());
        assert_eq!(conflicts, vec![expected]);
        assert_eq!(
            conflict_message(&conflicts),
            "Apply failed with 1 conflict: conflict with \"curl\" using batch/v1: .spec.parallelism"
        );
        let forced = apply(Some(&live), &config, "op", true, "batch/v1", None).unwrap();
        assert_eq!(
            forced["spec"],
            json!({"parallelism": 3, "x": 1, "backoffLimit": 0})
        );
        let entries = forced["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(entries[0]["operation"], "Apply", "Apply entries sort first");
        // backoffLimit was applied with its live value: shared; parallelism moved.
        assert!(
            entries[1]["fieldsV1"]["f:spec"]
                .get("f:backoffLimit")
                .is_some()
        );
        assert!(
            entries[1]["fieldsV1"]["f:spec"]
                .get("f:parallelism")
                .is_none()
        );
        // Re-applying without the field removes it (the applier owned it alone).
        let dropped = apply(
            Some(&forced),
            &json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"backoffLimit": 0}}),
            "op",
            false,
            "batch/v1",
            None,
        )
        .unwrap();
        assert_eq!(dropped["spec"], json!({"x": 1, "backoffLimit": 0}));
    }

    #[test]
    fn applied_containers_merge_by_name_and_keep_defaults() {
        let mut live = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a", "imagePullPolicy": "IfNotPresent"}]}}}});
        record_update(None, &mut live, "curl", "batch/v1", None);
        let same = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a"}]}}}});
        let applied = apply(Some(&live), &same, "op", false, "batch/v1", None).unwrap();
        assert_eq!(
            applied["spec"], live["spec"],
            "nothing changes, no conflict"
        );
        let changed = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "b"}]}}}});
        let forced = apply(Some(&live), &changed, "op", true, "batch/v1", None).unwrap();
        assert_eq!(
            forced["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c", "image": "b", "imagePullPolicy": "IfNotPresent"}])
        );
    }

    #[test]
    fn updates_own_empty_maps_not_nulls_and_forget_removed_fields() {
        let mut created = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"labels": {"a": "1"}}, "spec": {"selector": {"matchLabels": {"x": "y"}}, "template": {"metadata": {"creationTimestamp": null}, "spec": {"securityContext": {}}}}});
        record_update(None, &mut created, "curl", "batch/v1", None);
        let owned_paths = owned(&created["metadata"]["managedFields"][0]);
        let has = |p: &[&str]| {
            owned_paths.contains(&p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        };
        assert!(has(&["spec", "template", "spec", "securityContext"]));
        assert!(has(&["spec", "selector"]), "atomic");
        assert!(!has(&["spec", "template", "metadata", "creationTimestamp"]));
        let mut next = created.clone();
        next["metadata"]["labels"] = json!({"b": "2"});
        record_update(Some(&created), &mut next, "other", "batch/v1", None);
        let curl = next["metadata"]["managedFields"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["manager"] == "curl"))
            .cloned()
            .unwrap_or_default();
        assert!(curl["fieldsV1"]["f:metadata"].get("f:labels").is_none());
    }
}
