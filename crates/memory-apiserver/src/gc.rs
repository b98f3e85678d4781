//! Deletion (finalizers, graceful deletion, propagation policies) and what the control plane
//! does after it: the garbage collector of owner references, the namespace controller (a
//! deleted namespace is emptied, then removed), and, when a Job controller runs, its first
//! reaction to a deleted Job: taking its `batch.kubernetes.io/job-tracking` finalizer off the
//! Job's pods before the garbage collector deletes them (as 13d of the recordings shows).
//! Everything else the Job controller does is [`crate::job_controller`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::defaults::{JOB_TRACKING_FINALIZER, job_of};
use crate::resources::{self, ResourceType};
use crate::state::{Propagation, State, key};
use crate::status::ApiError;
use crate::store::{Key, meta_str, metadata_mut, resource_version};

/// The finalizer of a foreground deletion.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer of an orphaning deletion.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// How long the simulated controllers take to react (the real ones take milliseconds; the
/// intermediate states stay observable).
const REACTION: Duration = Duration::from_millis(20);
/// How often a foreground deletion looks whether the owner's dependents are gone.
const FOREGROUND_POLL: Duration = Duration::from_millis(10);

/// What a DELETE did.
pub enum Deleted {
    /// Marked (finalizers pending): the object is returned.
    Marked(Value),
    /// Removed at once: the object as it was last (for graceful deletion: as marked).
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

fn is_kind(resource: &ResourceType, group: &str, kind: &str) -> bool {
    resource.group == group && resource.kind == kind
}

/// Deletes an object with a propagation policy, the way the API server's registry does:
/// `Foreground` and `Orphan` always add their finalizer (the garbage collector then does the
/// work and removes it), an object with finalizers is only marked, pods are deleted gracefully
/// (marked first, grace period 0 since nothing runs them), and namespaces turn `Terminating`.
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
    if is_kind(resource, "", "Namespace") {
        return delete_namespace(state, resource, key);
    }
    let extra: &[&str] = match propagation {
        Propagation::Foreground => &[FOREGROUND_FINALIZER],
        Propagation::Orphan => &[ORPHAN_FINALIZER],
        Propagation::Background => &[],
    };
    let graceful = resource.graceful_delete();
    if finalizers(&current).is_empty() && extra.is_empty() && !graceful {
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
    if graceful && finalizers(&marked).is_empty() {
        let removed = state.store.remove(resource, key)?;
        collect(state, resource.clone(), removed, Propagation::Background);
        return Ok(Deleted::Removed(marked));
    }
    collect(state, resource.clone(), marked.clone(), propagation);
    Ok(Deleted::Marked(marked))
}

/// A namespace turns `Terminating`; the namespace controller deletes everything in it, then
/// the namespace itself.
fn delete_namespace(
    state: Arc<State>,
    resource: &ResourceType,
    key: &Key,
) -> Result<Deleted, ApiError> {
    let marked = state
        .store
        .mark_deleted_with(resource, key, &[], None, |namespace| {
            namespace["status"]["phase"] = json!("Terminating");
        })?;
    let resource = resource.clone();
    let key = key.clone();
    let name = key.3.clone();
    tokio::spawn(async move {
        tokio::time::sleep(REACTION).await;
        for _ in 0..3000 {
            let contents = state.store.keys_in_namespace(&name);
            if contents.is_empty() {
                break;
            }
            for content in contents {
                if let Some(content_resource) = resource_of(&content) {
                    let _ = delete(
                        state.clone(),
                        &content_resource,
                        &content,
                        Propagation::Background,
                    );
                }
            }
            tokio::time::sleep(REACTION).await;
        }
        let _ = state.store.remove(&resource, &key);
    });
    Ok(Deleted::Marked(marked))
}

/// Whether deleting `object` in the foreground has to wait for dependents: it has some, or it
/// is a Service with a selector (which owns the EndpointSlice the control plane keeps for it).
fn blocks(state: &State, resource: &ResourceType, object: &Value) -> bool {
    let uid = meta_str(object, "uid").unwrap_or_default();
    let endpoint_slice = is_kind(resource, "", "Service")
        && object
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .is_some_and(|s| !s.is_empty());
    endpoint_slice || !state.store.dependents(uid).is_empty()
}

/// What the control plane does after a deletion step of `owner` (marked, or removed):
/// the Job controller (when one runs) lets go of the pods of a deleted Job; the garbage
/// collector deletes (background, foreground) or orphans the dependents, then removes the
/// owner's own propagation finalizer once they are gone (foreground: however long that takes,
/// as the garbage collector waits for dependents that are still terminating).
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
        tokio::time::sleep(REACTION).await;
        // Here rather than in the Job controller's own loop so that it always comes before
        // the garbage collector's deletions below (as on a real cluster, where the Job
        // controller reacts within milliseconds and the collector later).
        if state.job_controller && is_kind(&resource, "batch", "Job") {
            for (dep_key, dependent) in state.store.dependents(&uid) {
                if let Some(pods) = resource_of(&dep_key)
                    && is_kind(&pods, "", "Pod")
                    && job_of(&dependent).is_some_and(|(_, job_uid)| job_uid == uid)
                {
                    release(&state, &pods, &dep_key, JOB_TRACKING_FINALIZER);
                }
            }
        }
        let still_there = state
            .store
            .get(&owner_key)
            .is_some_and(|o| meta_str(&o, "uid") == Some(uid.as_str()));
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
                release(&state, &resource, &owner_key, ORPHAN_FINALIZER);
            }
            // Dependents go once the owner is gone (not while other finalizers hold it).
            Propagation::Background if still_there => {}
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
                for (dep_key, dependent) in &dependents {
                    if let Some(dep_resource) = resource_of(dep_key) {
                        let policy = if blocks(&state, &dep_resource, dependent) {
                            Propagation::Foreground
                        } else {
                            Propagation::Background
                        };
                        let _ = delete(state.clone(), &dep_resource, dep_key, policy);
                    }
                }
                // Wait until every dependent is gone (a dependent held by a finalizer holds the
                // owner too), then let the owner go, unless it went another way meanwhile.
                loop {
                    let owner_there = state
                        .store
                        .get(&owner_key)
                        .is_some_and(|o| meta_str(&o, "uid") == Some(uid.as_str()));
                    if !owner_there {
                        return;
                    }
                    if state.store.dependents(&uid).is_empty() {
                        break;
                    }
                    tokio::time::sleep(FOREGROUND_POLL).await;
                }
                release(&state, &resource, &owner_key, FOREGROUND_FINALIZER);
            }
        }
    });
}

/// Removes `finalizer` from an object. When it was the last one of an object marked for
/// deletion, the object goes (the garbage collector's own `foregroundDeletion` stays in the
/// last state, as the API server shows it).
pub(crate) fn release(state: &Arc<State>, resource: &ResourceType, key: &Key, finalizer: &str) {
    for _ in 0..8 {
        let Some(current) = state.store.get(key) else {
            return;
        };
        let all = finalizers(&current);
        if !all.iter().any(|f| f == finalizer) {
            return;
        }
        let remaining: Vec<String> = all.into_iter().filter(|f| f != finalizer).collect();
        let mut next = current.clone();
        if remaining.is_empty() {
            metadata_mut(&mut next).remove("finalizers");
        } else {
            metadata_mut(&mut next).insert("finalizers".into(), json!(remaining));
        }
        let rv = resource_version(&current).unwrap_or_default();
        if remaining.is_empty() && meta_str(&current, "deletionTimestamp").is_some() {
            let last = if finalizer == FOREGROUND_FINALIZER {
                current
            } else {
                next
            };
            if let Ok(removed) = state.store.remove_as(resource, key, Some(rv), Some(last)) {
                collect(
                    state.clone(),
                    resource.clone(),
                    removed,
                    Propagation::Background,
                );
                return;
            }
        } else if state.store.update(resource, key, rv, next, false).is_ok() {
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
