//! The controller's caches of the objects it owns: Jobs, Services and Pods that carry the
//! operator's labels (nothing else in the cluster is watched or kept), `managedFields`
//! stripped. One set per watched scope (all namespaces, or one namespace of
//! `WATCH_NAMESPACE`).

use std::sync::Arc;

use futures::Stream;
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

/// Read side of the child caches of one scope.
#[derive(Clone)]
pub struct Caches {
    /// Jobs with the operator's labels.
    pub jobs: Store<Job>,
    /// Services with the operator's labels.
    pub services: Store<Service>,
    /// Pods with the operator's labels.
    pub pods: Store<Pod>,
}

impl Caches {
    /// Resolves once every cache holds a complete first list.
    pub async fn wait_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.jobs.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.pods.wait_until_ready().await
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
    watcher(api, config)
        .default_backoff()
        .modify(|object: &mut K| object.meta_mut().managed_fields = None)
        .reflect(writer)
        .touched_objects()
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
