//! The controller's caches of the objects it owns: Jobs, Services and Pods that carry the
//! operator's labels (nothing else in the cluster is watched or kept), `managedFields`
//! stripped. One set per watched scope (all namespaces, or one namespace of
//! `WATCH_NAMESPACE`). Pods are also indexed by test ([`PodIndex`]), so a reconcile reads its
//! test's pods without scanning the pods of all others.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::names::{LABEL_MANAGED_BY, LABEL_TEST_NAME, MANAGED_BY_VALUE, test_name_of};

/// Objects per page of a watch's (re)list. kube-runtime's default is 500: a page is held
/// whole, decoded before [`Slim`] can drop anything, and at a restart every cache lists at
/// once; 500 pods are tens of MiB. Smaller pages cost a few more requests, once per relist.
pub const LIST_PAGE_SIZE: u32 = 100;

/// The watch configuration of every cache: [`LIST_PAGE_SIZE`], and `selector` when given.
pub fn watch_config(selector: Option<&str>) -> watcher::Config {
    let config = watcher::Config::default().page_size(LIST_PAGE_SIZE);
    match selector {
        Some(selector) => config.labels(selector),
        None => config,
    }
}

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
    /// The names of the cached pods by test.
    pub pod_index: Arc<PodIndex>,
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

    /// The cached pods of test `name` in `namespace` (label `performance-test-name=<name>`),
    /// found through [`PodIndex`]: the cost does not grow with the other tests' pods.
    pub fn pods_of(&self, namespace: &str, name: &str) -> Vec<Pod> {
        self.pod_index
            .pods_of(namespace, name)
            .into_iter()
            .filter_map(|pod| self.pods.get(&ObjectRef::new(&pod).within(namespace)))
            // The store is the truth; the index may briefly name a pod it no longer holds.
            .filter(|pod| test_name_of(&pod.metadata) == Some(name))
            .map(|pod| (*pod).clone())
            .collect()
    }
}

/// `(namespace, name)`.
type Key = (String, String);

/// The names of the cached pods of each test, kept from the same watch events as the pod
/// cache (after the cache applied them, and before they trigger a reconcile). It may name a
/// pod the cache no longer holds for a moment (a relist in progress), never miss one a
/// reconcile could see: [`Caches::pods_of`] reads each named pod from the cache.
#[derive(Debug, Default)]
pub struct PodIndex {
    inner: Mutex<PodIndexInner>,
}

#[derive(Debug, Default)]
struct PodIndexInner {
    /// Test `(namespace, name)` -> names of its pods.
    pods: HashMap<Key, HashSet<String>>,
    /// Pod `(namespace, name)` -> its test.
    tests: HashMap<Key, Key>,
    /// During a relist: the pods it listed so far.
    relisted: Option<HashSet<Key>>,
}

impl PodIndex {
    /// Applies one watch event, the way the reflector applies it to the cache.
    pub fn apply(&self, event: &watcher::Event<Pod>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        match event {
            watcher::Event::Init => inner.relisted = Some(HashSet::new()),
            watcher::Event::InitApply(pod) => {
                let key = inner.upsert(pod);
                if let (Some(relisted), Some(key)) = (inner.relisted.as_mut(), key) {
                    relisted.insert(key);
                }
            }
            watcher::Event::InitDone => {
                // What the relist did not return is gone (the cache dropped it just now).
                if let Some(relisted) = inner.relisted.take() {
                    let gone: Vec<Key> = inner
                        .tests
                        .keys()
                        .filter(|pod| !relisted.contains(*pod))
                        .cloned()
                        .collect();
                    for pod in gone {
                        inner.remove(&pod);
                    }
                }
            }
            watcher::Event::Apply(pod) => {
                inner.upsert(pod);
            }
            watcher::Event::Delete(pod) => {
                if let Some(key) = pod_key(pod) {
                    inner.remove(&key);
                }
            }
        }
    }

    /// The names of the pods of test `name` in `namespace`.
    pub fn pods_of(&self, namespace: &str, name: &str) -> Vec<String> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        inner
            .pods
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|pods| pods.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of pods indexed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|i| i.tests.len()).unwrap_or(0)
    }

    /// True when no pod is indexed.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn pod_key(pod: &Pod) -> Option<Key> {
    Some((pod.metadata.namespace.clone()?, pod.metadata.name.clone()?))
}

impl PodIndexInner {
    /// Indexes `pod` under its test (moving it if its label changed); returns its key.
    fn upsert(&mut self, pod: &Pod) -> Option<Key> {
        let key = pod_key(pod)?;
        let test = test_name_of(&pod.metadata).map(|test| (key.0.clone(), test.to_owned()));
        if self.tests.get(&key) != test.as_ref() {
            self.remove(&key);
            if let Some(test) = test {
                self.pods
                    .entry(test.clone())
                    .or_default()
                    .insert(key.1.clone());
                self.tests.insert(key.clone(), test);
            }
        }
        Some(key)
    }

    fn remove(&mut self, pod: &Key) {
        let Some(test) = self.tests.remove(pod) else {
            return;
        };
        if let Some(pods) = self.pods.get_mut(&test) {
            pods.remove(&pod.1);
            if pods.is_empty() {
                self.pods.remove(&test);
            }
        }
    }
}

/// What the controller keeps of a child in its cache: metadata and status whole, of the spec
/// only what it reads. The caches hold every test's children (and pods), and a Job's pod
/// template or a pod's containers are most of their size.
pub trait Slim {
    /// Drops what the controller never reads.
    fn slim(&mut self);
}

impl Slim for Job {
    /// Of the spec, `suspend` only ([`super::plan::job_runs`]).
    fn slim(&mut self) {
        if let Some(spec) = &mut self.spec {
            *spec = k8s_openapi::api::batch::v1::JobSpec {
                suspend: spec.suspend,
                ..Default::default()
            };
        }
    }
}

impl Slim for Service {
    /// No spec: the controller only needs to know the Service is there, and whose it is.
    fn slim(&mut self) {
        self.spec = None;
    }
}

impl Slim for Pod {
    /// Of the spec, the containers' names and the init containers' restart policies (native
    /// sidecars are told from init containers by them, [`crate::status::pod_health`]).
    fn slim(&mut self) {
        if let Some(spec) = &mut self.spec {
            let names = |containers: &[k8s_openapi::api::core::v1::Container]| {
                containers
                    .iter()
                    .map(|c| k8s_openapi::api::core::v1::Container {
                        name: c.name.clone(),
                        restart_policy: c.restart_policy.clone(),
                        ..Default::default()
                    })
                    .collect::<Vec<_>>()
            };
            *spec = k8s_openapi::api::core::v1::PodSpec {
                containers: names(&spec.containers),
                init_containers: spec.init_containers.as_deref().map(names),
                ..Default::default()
            };
        }
    }
}

/// A watch of `api` restricted to the operator's labels, feeding `writer`, with
/// `managedFields` and what the controller never reads ([`Slim`]) stripped before caching.
/// Yields every object that changed.
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
        + Slim
        + 'static,
{
    trigger_stream(reflected(api, writer), synced, cache)
}

/// The Pods of [`child_stream`], also kept in `index`.
pub fn pod_stream(
    api: Api<Pod>,
    writer: Writer<Pod>,
    index: Arc<PodIndex>,
    synced: Arc<Synced>,
) -> impl Stream<Item = Result<Pod, watcher::Error>> + Send + 'static {
    let stream = reflected(api, writer).inspect_ok(move |event| index.apply(event));
    trigger_stream(stream, synced, Cache::Pods)
}

/// The watch events of `api` restricted to the operator's labels, applied to `writer`, with
/// `managedFields` and what [`Slim`] drops stripped before caching.
fn reflected<K>(
    api: Api<K>,
    writer: Writer<K>,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + Slim
        + 'static,
{
    let config = watch_config(Some(&child_selector()));
    watcher(api, config)
        .default_backoff()
        .modify(|object: &mut K| {
            object.meta_mut().managed_fields = None;
            object.slim();
        })
        .reflect(writer)
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
            Err(error) if is_routine(&error) => {
                tracing::debug!(?cache, %error, "watch expired; the watcher relists");
                Vec::new()
            }
            Err(error) => {
                tracing::warn!(?cache, %error, "watch error; the watcher retries");
                Vec::new()
            }
        };
        futures::stream::iter(objects.into_iter().map(Ok))
    })
}

/// A watch the API server ended with `410 Gone` / `Expired` ("too old resource version"):
/// routine (etcd compaction, a CRD update), the watcher relists and nothing is lost.
pub fn is_routine(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::WatchError(status) if status.code == 410)
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
            pod_index: Arc::default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn pod(namespace: &str, name: &str, test: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(namespace.to_owned()),
                name: Some(name.to_owned()),
                labels: test.map(|t| BTreeMap::from([(LABEL_TEST_NAME.to_owned(), t.to_owned())])),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    /// A store and an index fed the same events, like [`pod_stream`] feeds them.
    struct Both {
        caches: Caches,
        writer: Writer<Pod>,
    }

    impl Both {
        fn new() -> Self {
            let (caches, _, _, writer) = caches();
            Self { caches, writer }
        }

        fn apply(&mut self, event: watcher::Event<Pod>) {
            self.writer.apply_watcher_event(&event);
            self.caches.pod_index.apply(&event);
        }

        /// `pods_of` through the index.
        fn indexed(&self, namespace: &str, test: &str) -> Vec<String> {
            let mut names: Vec<String> = self
                .caches
                .pods_of(namespace, test)
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .collect();
            names.sort();
            names
        }

        /// The same by scanning the whole store.
        fn scanned(&self, namespace: &str, test: &str) -> Vec<String> {
            let mut names: Vec<String> = self
                .caches
                .pods
                .state()
                .iter()
                .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
                .filter(|p| test_name_of(&p.metadata) == Some(test))
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            names.sort();
            names
        }
    }

    #[test]
    fn pods_are_found_by_test_and_namespace() {
        let mut both = Both::new();
        both.apply(watcher::Event::Apply(pod("a", "t-master-1", Some("t"))));
        both.apply(watcher::Event::Apply(pod("a", "t-worker-1", Some("t"))));
        both.apply(watcher::Event::Apply(pod("a", "u-master-1", Some("u"))));
        both.apply(watcher::Event::Apply(pod("b", "t-master-1", Some("t"))));
        assert_eq!(both.indexed("a", "t"), ["t-master-1", "t-worker-1"]);
        assert_eq!(both.indexed("a", "u"), ["u-master-1"]);
        assert_eq!(both.indexed("b", "t"), ["t-master-1"]);
        assert!(both.indexed("b", "u").is_empty());
    }

    #[test]
    fn a_relabelled_pod_moves_and_an_unlabelled_one_leaves() {
        let mut both = Both::new();
        both.apply(watcher::Event::Apply(pod("a", "p", Some("t"))));
        both.apply(watcher::Event::Apply(pod("a", "p", Some("u"))));
        assert!(both.indexed("a", "t").is_empty());
        assert_eq!(both.indexed("a", "u"), ["p"]);
        both.apply(watcher::Event::Apply(pod("a", "p", None)));
        assert!(both.indexed("a", "u").is_empty());
        assert!(both.caches.pod_index.is_empty());
    }

    #[test]
    fn deleted_pods_leave_the_index() {
        let mut both = Both::new();
        both.apply(watcher::Event::Apply(pod("a", "p", Some("t"))));
        both.apply(watcher::Event::Delete(pod("a", "p", Some("t"))));
        assert!(both.indexed("a", "t").is_empty());
        assert!(both.caches.pod_index.is_empty());
    }

    #[test]
    fn a_relist_drops_what_it_no_longer_returns() {
        let mut both = Both::new();
        both.apply(watcher::Event::Apply(pod("a", "gone", Some("t"))));
        both.apply(watcher::Event::Apply(pod("a", "kept", Some("t"))));
        both.apply(watcher::Event::Init);
        both.apply(watcher::Event::InitApply(pod("a", "kept", Some("t"))));
        both.apply(watcher::Event::InitApply(pod("a", "new", Some("t"))));
        // Mid-relist the cache still shows the old list; the index may name more, never less.
        assert_eq!(both.indexed("a", "t"), ["gone", "kept"]);
        both.apply(watcher::Event::InitDone);
        assert_eq!(both.indexed("a", "t"), ["kept", "new"]);
        assert_eq!(both.caches.pod_index.len(), 2);
    }

    /// Random event sequences (a fixed-seed generator): after every event outside a relist,
    /// and after each relist, the index answers exactly what a scan of the whole cache
    /// answers, for every test.
    #[test]
    fn the_index_agrees_with_a_scan_of_the_cache_on_random_events() {
        let mut seed: u64 = 0x5eed_1234_abcd_0001;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let namespaces = ["a", "b"];
        let tests = ["t", "u", "v"];
        let mut both = Both::new();
        let mut relisting = false;
        for step in 0..5000 {
            let namespace = namespaces[next(2) as usize];
            let name = format!("p{}", next(12));
            let test = match next(5) {
                0 => None,
                n => Some(tests[(n % 3) as usize]),
            };
            let event = match (relisting, next(10)) {
                (false, 0) => {
                    relisting = true;
                    watcher::Event::Init
                }
                (false, 1..=3) => watcher::Event::Delete(pod(namespace, &name, test)),
                (false, _) => watcher::Event::Apply(pod(namespace, &name, test)),
                (true, 0..=1) => {
                    relisting = false;
                    watcher::Event::InitDone
                }
                (true, _) => watcher::Event::InitApply(pod(namespace, &name, test)),
            };
            both.apply(event);
            // Mid-relist the cache shows the previous list; from InitDone on, the new one.
            if relisting {
                continue;
            }
            for namespace in namespaces {
                for test in tests {
                    assert_eq!(
                        both.indexed(namespace, test),
                        both.scanned(namespace, test),
                        "step {step}: pods of {namespace}/{test}"
                    );
                }
            }
        }
    }

    /// What the caches keep of the children the builders make: the spec fields the
    /// controller reads, and nothing of the pod template or the containers.
    #[test]
    #[allow(clippy::expect_used)] // tests fail loudly by design
    fn slim_children_keep_what_the_controller_reads() {
        let test: crate::api::v2::LocustTest = serde_json::from_value(serde_json::json!({
            "apiVersion": "locust.io/v2", "kind": "LocustTest",
            "metadata": {"name": "t", "namespace": "load", "uid": "u"},
            "spec": {"image": "locustio/locust:2.43.3",
                     "master": {"command": "--locustfile /lotest/src/t.py"},
                     "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": 2}}
        }))
        .expect("a LocustTest");
        let (config, _) =
            crate::config::Config::from_lookup(&|_| None).expect("the default configuration");
        let desired = crate::builders::desired(&crate::defaulting::Defaulted::new(test), &config);

        let mut job = desired.master_job.clone();
        if let Some(spec) = &mut job.spec {
            spec.suspend = Some(true);
        }
        let template = job
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default();
        job.slim();
        assert_eq!(job.metadata, desired.master_job.metadata);
        let spec = job.spec.unwrap_or_default();
        assert_eq!(spec.suspend, Some(true));
        assert_eq!(spec.template, Default::default());
        assert_eq!(spec.backoff_limit, None);

        let mut service = desired.service.clone();
        service.slim();
        assert_eq!(service.metadata, desired.service.metadata);
        assert_eq!(service.spec, None);

        // A master pod: its Locust container and the exporter as a native sidecar.
        let mut pod = Pod {
            metadata: ObjectMeta {
                name: Some("t-master-abcde".to_owned()),
                ..template.metadata.clone().unwrap_or_default()
            },
            spec: template.spec.clone(),
            ..Pod::default()
        };
        let full = pod.clone();
        pod.slim();
        assert_eq!(pod.metadata, full.metadata);
        let (slim, full) = (pod.spec.unwrap_or_default(), full.spec.unwrap_or_default());
        let shape = |containers: &[k8s_openapi::api::core::v1::Container]| {
            containers
                .iter()
                .map(|c| (c.name.clone(), c.restart_policy.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(shape(&slim.containers), shape(&full.containers));
        let init = |spec: &k8s_openapi::api::core::v1::PodSpec| {
            shape(spec.init_containers.as_deref().unwrap_or_default())
        };
        assert_eq!(init(&slim), init(&full));
        assert!(
            init(&slim)
                .iter()
                .any(|(_, policy)| policy.as_deref() == Some("Always")),
            "the exporter sidecar keeps its restart policy: {:?}",
            init(&slim)
        );
        assert!(
            slim.containers
                .iter()
                .all(|c| c.image.is_none() && c.args.is_none())
        );
        assert!(slim.volumes.is_none());
    }
}
