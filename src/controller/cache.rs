//! The controller's caches of the objects it owns: Jobs, Services and Pods that carry the
//! operator's labels (nothing else in the cluster is watched or kept), `managedFields`
//! stripped. One set per watched scope (all namespaces, or one namespace of
//! `WATCH_NAMESPACE`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{Stream, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::names::{LABEL_MANAGED_BY, LABEL_TEST_NAME, MANAGED_BY_VALUE};

/// The label selector of every child watch: objects the operator made for some test.
pub fn child_selector() -> String {
    format!("{LABEL_MANAGED_BY}={MANAGED_BY_VALUE},{LABEL_TEST_NAME}")
}

/// Which caches of one scope hold a complete first list. Set from the watch events themselves
/// (`InitDone`, after the reflector applied it), so nothing has to wait on a store's readiness
/// future: kube-runtime's keeps a single waker, and the controller already waits on the
/// LocustTest store's.
#[derive(Debug, Default)]
pub struct Synced {
    tests: AtomicBool,
    jobs: AtomicBool,
    services: AtomicBool,
    pods: AtomicBool,
}

/// One cache of [`Synced`].
#[derive(Clone, Copy, Debug)]
pub enum Cache {
    /// LocustTests.
    Tests,
    /// Jobs.
    Jobs,
    /// Services.
    Services,
    /// Pods.
    Pods,
}

impl Synced {
    fn flag(&self, cache: Cache) -> &AtomicBool {
        match cache {
            Cache::Tests => &self.tests,
            Cache::Jobs => &self.jobs,
            Cache::Services => &self.services,
            Cache::Pods => &self.pods,
        }
    }

    /// Marks `cache` as holding a complete list.
    pub fn mark(&self, cache: Cache) {
        self.flag(cache).store(true, Ordering::Release);
    }

    /// True when the child caches (Jobs, Services, Pods) hold a complete list.
    pub fn children(&self) -> bool {
        [Cache::Jobs, Cache::Services, Cache::Pods]
            .into_iter()
            .all(|cache| self.flag(cache).load(Ordering::Acquire))
    }

    /// True when every cache, LocustTests included, holds a complete list.
    pub fn all(&self) -> bool {
        self.children() && self.tests.load(Ordering::Acquire)
    }
}

/// Read side of the child caches of one scope.
#[derive(Clone)]
pub struct Caches {
    /// Jobs with the operator's labels.
    pub jobs: Store<Job>,
    /// Services with the operator's labels.
    pub services: Store<Service>,
    /// Pods with the operator's labels.
    pub pods: Store<Pod>,
    /// Which caches of the scope are synced.
    pub synced: Arc<Synced>,
}

impl Caches {
    /// True once the child caches hold a complete first list.
    pub fn ready(&self) -> bool {
        self.synced.children()
    }

    /// The cached Job `namespace/name`.
    pub fn job(&self, namespace: &str, name: &str) -> Option<Arc<Job>> {
        self.jobs.get(&ObjectRef::new(name).within(namespace))
    }

    /// The cached Service `namespace/name`.
    pub fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services.get(&ObjectRef::new(name).within(namespace))
    }

    /// The cached pods of test `name` in `namespace` (label `performance-test-name=<name>`).
    pub fn pods_of(&self, namespace: &str, name: &str) -> Vec<Pod> {
        self.pods
            .state()
            .into_iter()
            .filter(|pod| {
                pod.metadata.namespace.as_deref() == Some(namespace)
                    && pod
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(LABEL_TEST_NAME))
                        .is_some_and(|v| v == name)
            })
            .map(|pod| (*pod).clone())
            .collect()
    }
}

/// A watch of `api` restricted to the operator's labels, feeding `writer`, with
/// `managedFields` stripped before caching. Yields every object that changed.
pub fn child_stream<K>(
    api: Api<K>,
    writer: Writer<K>,
    synced: Arc<Synced>,
    cache: Cache,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let config = watcher::Config::default().labels(&child_selector());
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|object: &mut K| object.meta_mut().managed_fields = None)
        .reflect(writer);
    trigger_stream(stream, synced, cache)
}

/// The objects of a reflected watch `stream`, marking `cache` synced on `InitDone`. Watch
/// errors are logged and dropped here: the watcher retries with its own backoff, and an error
/// reaching the controller would make it back off *every* trigger (up to 30 s) on top.
pub fn trigger_stream<K>(
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    synced: Arc<Synced>,
    cache: Cache,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Send + 'static,
{
    stream.flat_map(move |event| {
        let objects: Vec<K> = match event {
            Ok(watcher::Event::InitDone) => {
                synced.mark(cache);
                Vec::new()
            }
            // Objects of a (re)list count too: after a restart or a 410 they are all looked at.
            Ok(
                watcher::Event::Apply(object)
                | watcher::Event::InitApply(object)
                | watcher::Event::Delete(object),
            ) => vec![object],
            Ok(watcher::Event::Init) => Vec::new(),
            Err(error) => {
                tracing::warn!(?cache, %error, "watch error; the watcher retries");
                Vec::new()
            }
        };
        futures::stream::iter(objects.into_iter().map(Ok))
    })
}

/// Empty caches and their writers for one scope.
pub fn caches() -> (Caches, Writer<Job>, Writer<Service>, Writer<Pod>) {
    let (jobs, jobs_writer) = reflector::store();
    let (services, services_writer) = reflector::store();
    let (pods, pods_writer) = reflector::store();
    (
        Caches {
            jobs,
            services,
            pods,
            synced: Arc::default(),
        },
        jobs_writer,
        services_writer,
        pods_writer,
    )
}

/// An `Api` for `K` in `namespace`, or in all namespaces when `None`.
pub fn scoped_api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}
