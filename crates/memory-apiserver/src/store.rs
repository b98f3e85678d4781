//! The object store: one cluster-wide, monotonically increasing resourceVersion, objects kept
//! in their storage version, a bounded event history for watches that resume from a
//! resourceVersion, and a broadcast of live events.
//!
//! Every method takes the lock once and never awaits while holding it, so each write is atomic
//! and events are published in resourceVersion order.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};

use crate::resources::ResourceType;
use crate::status::ApiError;

/// How many past events are kept for watches that resume from a resourceVersion.
pub const HISTORY: usize = 20_000;

/// `(group, plural, namespace, name)`; namespace `""` for cluster-scoped objects.
pub type Key = (String, String, String, String);

/// The kind of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as stored (storage version).
#[derive(Clone, Debug)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// Group of the object.
    pub group: String,
    /// Plural of the object's resource.
    pub plural: String,
    /// Namespace (`""` when cluster-scoped).
    pub namespace: String,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for deletes: the last state with the delete's resourceVersion).
    pub object: Value,
    /// The object before a modification (to tell watches with selectors that an object
    /// stopped or started matching).
    pub previous: Option<Value>,
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Event>,
    /// Events with a resourceVersion up to this one were dropped from the history.
    compacted: u64,
}

/// The store.
pub struct Store {
    inner: Mutex<Inner>,
    live: broadcast::Sender<Event>,
    /// Notified to end every open watch (fault injection).
    pub drop_watches: Arc<Notify>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

/// Now, as the API server writes timestamps (RFC 3339, seconds).
pub fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now.to_string())
}

fn meta<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    object.get("metadata").and_then(|m| m.get(field))
}

/// `metadata.<field>` as a string.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    meta(object, field).and_then(Value::as_str)
}

/// `metadata` as a mutable map, created when missing.
pub fn metadata_mut(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    match object.get_mut("metadata") {
        Some(Value::Object(map)) => map,
        // Just ensured to be an object.
        _ => unreachable!("metadata is an object"),
    }
}

/// The object's resourceVersion as a number.
pub fn resource_version(object: &Value) -> Option<u64> {
    meta_str(object, "resourceVersion").and_then(|rv| rv.parse().ok())
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        let (live, _) = broadcast::channel(HISTORY);
        Self {
            inner: Mutex::new(Inner {
                rv: 100,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted: 100,
            }),
            live,
            drop_watches: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Subscribes to live events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    /// Events after `rv` still in the history, or `Err(oldest available rv)` when `rv` is too old.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Event>, u64> {
        let inner = self.lock();
        if rv < inner.compacted {
            return Err(inner.compacted + 1);
        }
        Ok(inner
            .history
            .iter()
            .filter(|e| e.rv > rv)
            .cloned()
            .collect())
    }

    /// Drops history up to the current resourceVersion (so older watches get 410).
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.compacted = inner.rv;
    }

    /// One object.
    pub fn get(&self, key: &Key) -> Option<Value> {
        self.lock().objects.get(key).cloned()
    }

    /// One page of a list: the objects of a resource (in one namespace, or all) that sort
    /// after `after` (namespace, name) and that `keep` accepts, at most `limit` of them, in
    /// namespace and name order; how many more would follow; the resourceVersion of the
    /// moment. Only the page is copied: a paged list of thousands of objects would otherwise
    /// copy them all for every page.
    pub fn list_page(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        after: Option<&(String, String)>,
        keep: impl Fn(&Value) -> bool,
        limit: Option<usize>,
    ) -> Page {
        let inner = self.lock();
        let group = resource.storage_group();
        let mut page = Page {
            items: Vec::new(),
            last: None,
            remaining: 0,
            rv: inner.rv,
        };
        let mut last = None;
        let candidates = inner.objects.iter().filter(|((g, p, ns, name), _)| {
            g == group
                && p == resource.plural
                && namespace.is_none_or(|n| n == ns)
                && after.is_none_or(|(a_ns, a_name)| (ns, name) > (a_ns, a_name))
        });
        for ((_, _, ns, name), value) in candidates {
            if !keep(value) {
                continue;
            }
            if limit.is_some_and(|limit| page.items.len() >= limit) {
                page.remaining += 1;
            } else {
                page.items.push(value.clone());
                last = Some((ns, name));
            }
        }
        page.last = last.map(|(ns, name)| (ns.clone(), name.clone()));
        page
    }

    /// Every object of a resource (in one namespace, or all), sorted by namespace and name,
    /// with the resourceVersion of the moment. Objects are in the storage of
    /// [`ResourceType::storage_group`] (so `events.k8s.io` Events list the core ones).
    pub fn list(&self, resource: &ResourceType, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let page = self.list_page(resource, namespace, None, |_| true, None);
        (page.items, page.rv)
    }

    /// Every object whose ownerReferences name `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<(Key, Value)> {
        self.lock()
            .objects
            .iter()
            .filter(|(_, v)| {
                meta(v, "ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                    })
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn publish(inner: &mut Inner, live: &broadcast::Sender<Event>, event: Event) {
        if inner.history.len() == HISTORY
            && let Some(dropped) = inner.history.pop_front()
        {
            inner.compacted = dropped.rv;
        }
        inner.history.push_back(event.clone());
        let _ = live.send(event);
    }

    /// Stores a new object; it gets uid, creationTimestamp, resourceVersion (and generation 1
    /// where maintained).
    pub fn create(
        &self,
        resource: &ResourceType,
        key: Key,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(resource, &key.3));
        }
        inner.rv += 1;
        let rv = inner.rv;
        let metadata = metadata_mut(&mut object);
        if !metadata.get("uid").is_some_and(Value::is_string) {
            metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        }
        metadata.insert("creationTimestamp".into(), json!(now()));
        metadata.insert("resourceVersion".into(), json!(rv.to_string()));
        metadata.remove("deletionTimestamp");
        if resource.generation {
            metadata.insert("generation".into(), json!(1));
        }
        inner.objects.insert(key.clone(), object.clone());
        let event = Event {
            rv,
            group: key.0,
            plural: key.1,
            namespace: key.2,
            kind: EventType::Added,
            object: object.clone(),
            previous: None,
        };
        Self::publish(&mut inner, &self.live, event);
        Ok(object)
    }

    /// Replaces an object if its resourceVersion is still `expected_rv`. A replacement equal to
    /// the stored object stores nothing and keeps the resourceVersion. `bump_generation` says
    /// whether the change counts as a spec change.
    pub fn update(
        &self,
        resource: &ResourceType,
        key: &Key,
        expected_rv: u64,
        mut object: Value,
        bump_generation: bool,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let Some(current) = inner.objects.get(key).cloned() else {
            return Err(ApiError::not_found(resource, &key.3));
        };
        if resource_version(&current) != Some(expected_rv) {
            return Err(ApiError::conflict(resource, &key.3));
        }
        // Server-managed metadata always comes from the stored object.
        {
            let metadata = metadata_mut(&mut object);
            for field in [
                "uid",
                "creationTimestamp",
                "resourceVersion",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match meta(&current, field) {
                    Some(value) => metadata.insert(field.into(), value.clone()),
                    None => metadata.remove(field),
                };
            }
        }
        if object == current {
            return Ok(current);
        }
        Ok(self.commit_modified(
            &mut inner,
            key,
            object,
            current,
            resource.generation && bump_generation,
        ))
    }

    /// Stores a modified object under a new resourceVersion (bumping its generation when
    /// asked) and publishes the MODIFIED event.
    fn commit_modified(
        &self,
        inner: &mut Inner,
        key: &Key,
        mut object: Value,
        previous: Value,
        bump_generation: bool,
    ) -> Value {
        inner.rv += 1;
        let rv = inner.rv;
        let metadata = metadata_mut(&mut object);
        metadata.insert("resourceVersion".into(), json!(rv.to_string()));
        if bump_generation {
            let generation = metadata
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            metadata.insert("generation".into(), json!(generation + 1));
        }
        inner.objects.insert(key.clone(), object.clone());
        let event = Event {
            rv,
            group: key.0.clone(),
            plural: key.1.clone(),
            namespace: key.2.clone(),
            kind: EventType::Modified,
            object: object.clone(),
            previous: Some(previous),
        };
        Self::publish(inner, &self.live, event);
        object
    }

    /// Marks an object for deletion: deletionTimestamp, grace 0, generation + 1, extra
    /// finalizers. Returns the stored object (unchanged when already marked with them).
    pub fn mark_deleted(
        &self,
        resource: &ResourceType,
        key: &Key,
        finalizers: &[&str],
    ) -> Result<Value, ApiError> {
        self.mark_deleted_with(resource, key, finalizers, Some(0), |_| {})
    }

    /// [`Store::mark_deleted`] with the grace period to record (`None`: none, as for
    /// namespaces) and a change of the object's own that comes with the mark (a namespace's
    /// `Terminating` phase).
    pub fn mark_deleted_with(
        &self,
        resource: &ResourceType,
        key: &Key,
        finalizers: &[&str],
        grace: Option<i64>,
        mutate: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let Some(mut object) = inner.objects.get(key).cloned() else {
            return Err(ApiError::not_found(resource, &key.3));
        };
        let before = object.clone();
        let metadata = metadata_mut(&mut object);
        let first_mark = !metadata.contains_key("deletionTimestamp");
        if first_mark {
            metadata.insert("deletionTimestamp".into(), json!(now()));
            if let Some(grace) = grace {
                metadata.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
        }
        if !finalizers.is_empty() {
            let list = metadata.entry("finalizers").or_insert_with(|| json!([]));
            if let Value::Array(list) = list {
                for finalizer in finalizers {
                    if !list.iter().any(|f| f == finalizer) {
                        list.push(json!(finalizer));
                    }
                }
            }
        }
        if first_mark {
            mutate(&mut object);
        }
        if object == before {
            return Ok(object);
        }
        Ok(self.commit_modified(
            &mut inner,
            key,
            object,
            before,
            resource.generation && first_mark,
        ))
    }

    /// The keys of every object in a namespace.
    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<Key> {
        self.lock()
            .objects
            .keys()
            .filter(|(_, _, ns, _)| ns == namespace)
            .cloned()
            .collect()
    }

    /// Removes an object now. The DELETED event carries a new resourceVersion.
    pub fn remove(&self, resource: &ResourceType, key: &Key) -> Result<Value, ApiError> {
        self.remove_as(resource, key, None, None)
    }

    /// Removes an object now, if its resourceVersion is still `expected_rv` (when given). The
    /// DELETED event carries `last` as the object's last state (an update that removed the last
    /// finalizer of an object marked for deletion is not stored: the object goes with that
    /// state), or the stored object, with a new resourceVersion.
    pub fn remove_as(
        &self,
        resource: &ResourceType,
        key: &Key,
        expected_rv: Option<u64>,
        last: Option<Value>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let Some(current) = inner.objects.get(key).cloned() else {
            return Err(ApiError::not_found(resource, &key.3));
        };
        if expected_rv.is_some_and(|rv| resource_version(&current) != Some(rv)) {
            return Err(ApiError::conflict(resource, &key.3));
        }
        inner.objects.remove(key);
        let mut object = last.unwrap_or(current);
        inner.rv += 1;
        let rv = inner.rv;
        metadata_mut(&mut object).insert("resourceVersion".into(), json!(rv.to_string()));
        let event = Event {
            rv,
            group: key.0.clone(),
            plural: key.1.clone(),
            namespace: key.2.clone(),
            kind: EventType::Deleted,
            object: object.clone(),
            previous: None,
        };
        Self::publish(&mut inner, &self.live, event);
        Ok(object)
    }
}

/// One page of [`Store::list_page`].
#[derive(Debug)]
pub struct Page {
    /// The objects of the page.
    pub items: Vec<Value>,
    /// The namespace and name of the last of them.
    pub last: Option<(String, String)>,
    /// How many more objects would follow.
    pub remaining: usize,
    /// The store's resourceVersion.
    pub rv: u64,
}
