//! The sandbox's one node: what the scheduler and the kubelet do for this machine. It watches
//! every pod and runs it ([`super::pod`]; room for its requests is the [`Host`]'s to give),
//! stops its processes when it is deleted, and keeps the Service names resolving to the pods
//! they select ([`super::network`]).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use kube::runtime::watcher;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::host::{Host, pod_key as key};

struct Running {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    address: Ipv4Addr,
    labels: BTreeMap<String, String>,
    namespace: String,
}

/// The node: its pods as it runs them, and the Services whose names it keeps resolving.
pub struct Node {
    /// What its pods share.
    pub host: Arc<Host>,
    pods: Mutex<HashMap<String, Running>>,
    /// Deleted pods whose processes are still stopping (awaited when the node stops).
    stopping: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    services: Mutex<BTreeMap<(String, String), BTreeMap<String, String>>>,
}

impl Node {
    /// A node running its pods on `host`.
    pub fn new(host: Arc<Host>) -> Arc<Self> {
        Arc::new(Self {
            host,
            pods: Mutex::new(HashMap::new()),
            stopping: Mutex::default(),
            services: Mutex::new(BTreeMap::new()),
        })
    }

    fn lock_pods(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.pods
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_services(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), BTreeMap<String, String>>> {
        self.services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs the node until `stop`; then stops every pod (SIGTERM, SIGKILL after the grace
    /// period) before returning.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let pods = watcher(
            Api::<Pod>::all(self.host.client.clone()),
            watcher::Config::default(),
        );
        let services = watcher(
            Api::<Service>::all(self.host.client.clone()),
            watcher::Config::default(),
        );
        let mut pods = std::pin::pin!(pods);
        let mut services = std::pin::pin!(services);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some(event) = pods.next() => match event {
                    Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => self.observe(pod),
                    Ok(watcher::Event::Delete(pod)) => self.forget(&pod),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(%error, "pod watch");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                },
                Some(event) = services.next() => match event {
                    Ok(watcher::Event::Apply(service) | watcher::Event::InitApply(service)) => {
                        let namespace = service.metadata.namespace.clone().unwrap_or_default();
                        let name = service.metadata.name.clone().unwrap_or_default();
                        let selector = service.spec.and_then(|s| s.selector).unwrap_or_default();
                        self.lock_services().insert((namespace, name), selector);
                        self.refresh_names();
                    }
                    Ok(watcher::Event::Delete(service)) => {
                        let namespace = service.metadata.namespace.clone().unwrap_or_default();
                        let name = service.metadata.name.clone().unwrap_or_default();
                        self.lock_services().remove(&(namespace.clone(), name.clone()));
                        let _ = self.host.network.set_service(&namespace, &name, None);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(%error, "service watch");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                },
            }
        }
        let running: Vec<Running> = self.lock_pods().drain().map(|(_, r)| r).collect();
        for pod in &running {
            pod.cancel.cancel();
        }
        for pod in running {
            let _ = pod.task.await;
        }
        let stopping: Vec<_> = self
            .stopping
            .lock()
            .map(|mut tasks| tasks.drain(..).collect())
            .unwrap_or_default();
        for task in stopping {
            let _ = task.await;
        }
    }

    /// A pod as watched: started when new, stopped when being deleted.
    fn observe(self: &Arc<Self>, pod: Pod) {
        let key = key(&pod);
        if pod.metadata.deletion_timestamp.is_some() {
            self.forget(&pod);
            return;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        let mut pods = self.lock_pods();
        if pods.contains_key(&key) || matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
            return;
        }
        let address = self.host.network.allocate();
        let cancel = CancellationToken::new();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let task = tokio::spawn(super::pod::run(
            Arc::clone(&self.host),
            pod,
            address,
            cancel.clone(),
        ));
        pods.insert(
            key,
            Running {
                cancel,
                task,
                address,
                labels,
                namespace,
            },
        );
        drop(pods);
        self.refresh_names();
    }

    /// A deleted pod: its processes are stopped, its address given back.
    fn forget(self: &Arc<Self>, pod: &Pod) {
        let Some(running) = self.lock_pods().remove(&key(pod)) else {
            return;
        };
        running.cancel.cancel();
        let node = Arc::clone(self);
        let task = tokio::spawn(async move {
            let _ = running.task.await;
            node.host.network.release(running.address);
            node.refresh_names();
        });
        if let Ok(mut stopping) = self.stopping.lock() {
            stopping.retain(|task| !task.is_finished());
            stopping.push(task);
        }
    }

    /// Points every Service name at a pod it selects (the first by name), or at nothing.
    fn refresh_names(&self) {
        let services = self.lock_services().clone();
        let pods = self.lock_pods();
        let mut addresses = Vec::new();
        for ((namespace, name), selector) in &services {
            let address = (!selector.is_empty())
                .then(|| {
                    let mut matching: Vec<(&String, &Running)> = pods
                        .iter()
                        .filter(|(_, p)| {
                            &p.namespace == namespace
                                && selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
                        })
                        .collect();
                    matching.sort_by(|a, b| a.0.cmp(b.0));
                    matching.first().map(|(_, p)| p.address)
                })
                .flatten();
            addresses.push((namespace.clone(), name.clone(), address));
        }
        drop(pods);
        for (namespace, name, address) in addresses {
            if let Err(error) = self.host.network.set_service(&namespace, &name, address) {
                tracing::warn!(%error, "cannot write the hosts file");
            }
        }
    }
}
