//! Deletion with finalizers and propagation, and the garbage collector of owner references.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{Propagation, State, key};
use crate::resources::{self, ResourceType};
use crate::status::ApiError;
use crate::store::{Key, meta_str, metadata_mut, resource_version};

/// What a DELETE did.
pub enum Deleted {
    /// Marked (finalizers pending): the object is returned.
    Marked(Value),
    /// Removed at once.
    Removed(Value),
}

fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Deletes an object with a propagation policy.
pub fn delete(
    state: Arc<State>,
    resource: &ResourceType,
    key: &Key,
    propagation: Propagation,
) -> Result<Deleted, ApiError> {
    let current = state
        .store
        .get(key)
        .ok_or_else(|| ApiError::not_found(resource, &key.3))?;
    let extra: &[&str] = match propagation {
        Propagation::Foreground => &["foregroundDeletion"],
        Propagation::Orphan => &["orphan"],
        Propagation::Background => &[],
    };
    let has_dependents = !state
        .store
        .dependents(meta_str(&current, "uid").unwrap_or_default())
        .is_empty();
    if finalizers(&current).is_empty() && (extra.is_empty() || !has_dependents) {
        let removed = state.store.remove(resource, key)?;
        collect(
            state,
            resource.clone(),
            removed.clone(),
            Propagation::Background,
        );
        return Ok(Deleted::Removed(removed));
    }
    let marked = state.store.mark_deleted(resource, key, extra)?;
    collect(state, resource.clone(), marked.clone(), propagation);
    Ok(Deleted::Marked(marked))
}

/// Processes the dependents of `owner` in the background: deletes them (background,
/// foreground) or orphans them, then releases the owner's own finalizer.
pub fn collect(state: Arc<State>, resource: ResourceType, owner: Value, propagation: Propagation) {
    let Some(uid) = meta_str(&owner, "uid").map(str::to_owned) else {
        return;
    };
    let owner_key = key(
        &resource,
        meta_str(&owner, "namespace").unwrap_or_default(),
        meta_str(&owner, "name").unwrap_or_default(),
    );
    tokio::spawn(async move {
        // The real garbage collector reacts within milliseconds; mimic a short delay so
        // clients can observe the intermediate state.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let dependents = state.store.dependents(&uid);
        match propagation {
            Propagation::Orphan => {
                for (dep_key, dependent) in dependents {
                    let Some(dep_resource) = resource_of(&dep_key) else {
                        continue;
                    };
                    let mut next = dependent.clone();
                    if let Some(Value::Array(refs)) = next.pointer_mut("/metadata/ownerReferences")
                    {
                        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                    }
                    if next
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty)
                        && let Some(map) = next.get_mut("metadata").and_then(Value::as_object_mut)
                    {
                        map.remove("ownerReferences");
                    }
                    let rv = resource_version(&dependent).unwrap_or_default();
                    let _ = state.store.update(&dep_resource, &dep_key, rv, next, false);
                }
                release(&state, &resource, &owner_key, "orphan");
            }
            Propagation::Background => {
                for (dep_key, _) in dependents {
                    if let Some(dep_resource) = resource_of(&dep_key) {
                        let _ = delete(
                            state.clone(),
                            &dep_resource,
                            &dep_key,
                            Propagation::Background,
                        );
                    }
                }
            }
            Propagation::Foreground => {
                for (dep_key, _) in &dependents {
                    if let Some(dep_resource) = resource_of(dep_key) {
                        let _ = delete(
                            state.clone(),
                            &dep_resource,
                            dep_key,
                            Propagation::Foreground,
                        );
                    }
                }
                // Wait (bounded) until every dependent is gone, then let the owner go.
                for _ in 0..600 {
                    if state.store.dependents(&uid).is_empty() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                release(&state, &resource, &owner_key, "foregroundDeletion");
            }
        }
    });
}

/// Removes `finalizer` from an object marked for deletion; removes the object when no
/// finalizer is left.
fn release(state: &Arc<State>, resource: &ResourceType, key: &Key, finalizer: &str) {
    for _ in 0..8 {
        let Some(current) = state.store.get(key) else {
            return;
        };
        let mut next = current.clone();
        let remaining: Vec<String> = finalizers(&current)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        if remaining.is_empty() {
            let _ = state.store.remove(resource, key);
            return;
        }
        metadata_mut(&mut next).insert("finalizers".into(), json!(remaining));
        let rv = resource_version(&current).unwrap_or_default();
        if state.store.update(resource, key, rv, next, false).is_ok() {
            return;
        }
    }
}

/// The storage-version resource type of a store key.
fn resource_of(key: &Key) -> Option<ResourceType> {
    resources::all()
        .into_iter()
        .find(|r| r.group == key.0 && r.plural == key.1 && r.version == r.storage_version)
}
