//! Object metadata shared by the builders: names, labels, owner references.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::api::{API_VERSION_V2, KIND, LocustTest};
use crate::names::{self, PROTECTED_LABELS, Role};

/// The test's name (`""` only for an object without one, which the API server never returns).
pub fn test_name(test: &LocustTest) -> &str {
    test.metadata.name.as_deref().unwrap_or_default()
}

/// The controller owner reference to `test`, or `None` when it has no uid (offline rendering).
pub fn owner_reference(test: &LocustTest) -> Option<OwnerReference> {
    let uid = test.metadata.uid.as_ref().filter(|uid| !uid.is_empty())?;
    Some(OwnerReference {
        api_version: API_VERSION_V2.to_owned(),
        kind: KIND.to_owned(),
        name: test_name(test).to_owned(),
        uid: uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Metadata of a role's top-level object (the Service is the master's): the node name, the
/// test's namespace, the operator's labels of the role and the owner reference.
pub fn object_meta(test: &LocustTest, role: Role) -> ObjectMeta {
    let name = test_name(test);
    owned_meta(
        test,
        names::node_name(name, role),
        names::pod_labels(name, role),
    )
}

/// Metadata of any object the operator makes for `test`: `name` in the test's namespace,
/// `labels`, and the controller owner reference, so that the garbage collector deletes it with
/// the test.
pub fn owned_meta(test: &LocustTest, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: test.metadata.namespace.clone(),
        labels: Some(labels),
        owner_references: owner_reference(test).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

/// Labels of a role's pods: the operator's labels, then the user's `master.labels` /
/// `worker.labels` merged over them except the keys of [`PROTECTED_LABELS`].
pub fn pod_template_labels(test: &LocustTest, role: Role) -> BTreeMap<String, String> {
    let mut labels = names::pod_labels(test_name(test), role);
    let user = match role {
        Role::Master => test.spec.master.labels.as_ref(),
        Role::Worker => test.spec.worker.labels.as_ref(),
    };
    for (key, value) in user.into_iter().flatten() {
        if !PROTECTED_LABELS.contains(&key.as_str()) {
            labels.insert(key.clone(), value.clone());
        }
    }
    labels
}

/// `Some(list)` when `list` has entries, otherwise `None` (never an empty list in an object).
pub(crate) fn non_empty<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}

/// `Some(map)` when `map` has entries, otherwise `None`.
pub(crate) fn non_empty_map<K, V>(map: BTreeMap<K, V>) -> Option<BTreeMap<K, V>> {
    (!map.is_empty()).then_some(map)
}
