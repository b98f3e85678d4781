//! The sandbox's one node: what the scheduler and the kubelet do for this machine. It watches
//! every pod, reserves room for its requests (or reports it `Unschedulable`), runs it
//! ([`super::pod`]), stops its processes when it is deleted, and keeps the Service names
//! resolving to the pods they select ([`super::network`]).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::network::Network;
use super::python::Pythons;

/// The node's name.
pub const NODE_NAME: &str = "sandbox";

/// What the node can give its pods.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Allocatable {
    /// CPU in millicores.
    pub cpu_millis: f64,
    /// Memory in bytes.
    pub memory_bytes: f64,
}

impl Allocatable {
    /// This machine: its CPUs and its memory.
    pub fn of_this_machine() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .map_or(8.0 * 1024.0 * 1024.0 * 1024.0, |kb| kb * 1024.0);
        Self {
            cpu_millis: cpus as f64 * 1000.0,
            memory_bytes: memory,
        }
    }
}

/// A pod's requests: the largest init container's or the sum of the others', whichever is more
/// (sidecars count with the containers), as the scheduler counts them.
fn requests(pod: &Pod) -> (f64, f64) {
    let spec = pod.spec.clone().unwrap_or_default();
    let of = |c: &k8s_openapi::api::core::v1::Container, key: &str| {
        c.resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(key))
            .and_then(|q| crate::quantity::parse(&q.0).ok())
            .unwrap_or(0.0)
    };
    let init = spec.init_containers.clone().unwrap_or_default();
    let sidecars = init
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let sum = |key: &str, factor: f64| {
        spec.containers
            .iter()
            .chain(sidecars.clone())
            .map(|c| of(c, key) * factor)
            .sum::<f64>()
    };
    let max_init = |key: &str, factor: f64| {
        init.iter()
            .map(|c| of(c, key) * factor)
            .fold(0.0_f64, f64::max)
    };
    (
        sum("cpu", 1000.0).max(max_init("cpu", 1000.0)),
        sum("memory", 1.0).max(max_init("memory", 1.0)),
    )
}

struct Running {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    address: Ipv4Addr,
    labels: BTreeMap<String, String>,
    namespace: String,
    reserved: Option<(f64, f64)>,
}

/// The node.
pub struct Node {
    /// The API client.
    pub client: Client,
    /// Addresses and names.
    pub network: Network,
    /// The Locust images.
    pub pythons: Pythons,
    dir: PathBuf,
    allocatable: Allocatable,
    pods: Mutex<HashMap<String, Running>>,
    services: Mutex<BTreeMap<(String, String), BTreeMap<String, String>>>,
}

impl Node {
    /// A node keeping its pods under `dir`.
    pub fn new(
        client: Client,
        network: Network,
        pythons: Pythons,
        dir: PathBuf,
        allocatable: Allocatable,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            network,
            pythons,
            dir,
            allocatable,
            pods: Mutex::new(HashMap::new()),
            services: Mutex::new(BTreeMap::new()),
        })
    }

    /// The directory of a pod (volumes, logs, its filesystem).
    pub fn pod_dir(&self, namespace: &str, name: &str, uid: Option<&str>) -> PathBuf {
        let uid = uid.unwrap_or_default();
        let short = uid.get(..8).unwrap_or(uid);
        self.dir
            .join("pods")
            .join(namespace)
            .join(format!("{name}-{short}"))
    }

    /// The log file of a container of a running or finished pod, if any.
    pub fn log_file(&self, namespace: &str, pod: &str, container: &str) -> Option<PathBuf> {
        self.latest_log(namespace, |name| name == pod, container)
    }

    /// The newest log file of `container` among the pods whose name `pod` accepts (a Job's
    /// pods are `<job>-<suffix>`).
    pub fn latest_log(
        &self,
        namespace: &str,
        pod: impl Fn(&str) -> bool,
        container: &str,
    ) -> Option<PathBuf> {
        let dir = self.dir.join("pods").join(namespace);
        let mut candidates: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.rsplit_once('-'))
                    .is_some_and(|(name, _)| pod(name))
            })
            .map(|p| p.join("logs").join(format!("{container}.log")))
            .filter(|p| p.exists())
            .collect();
        candidates.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        candidates.pop()
    }

    /// Reserves room for `pod`, or says why it does not fit (the scheduler's message).
    pub fn reserve(&self, pod: &Pod) -> Result<(), String> {
        let key = key(pod);
        let (cpu, memory) = requests(pod);
        let mut pods = self.lock_pods();
        let (used_cpu, used_memory) = pods
            .values()
            .filter_map(|p| p.reserved)
            .fold((0.0, 0.0), |(c, m), (pc, pm)| (c + pc, m + pm));
        let mut short = Vec::new();
        if used_cpu + cpu > self.allocatable.cpu_millis {
            short.push("Insufficient cpu");
        }
        if used_memory + memory > self.allocatable.memory_bytes {
            short.push("Insufficient memory");
        }
        if !short.is_empty() {
            let reasons: Vec<String> = short.iter().map(|s| format!("1 {s}")).collect();
            return Err(format!(
                "0/1 nodes are available: {}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
                reasons.join(", ")
            ));
        }
        if let Some(running) = pods.get_mut(&key) {
            running.reserved = Some((cpu, memory));
        }
        Ok(())
    }

    /// Gives back what `pod` reserved.
    pub fn release(&self, pod: &Pod) {
        if let Some(running) = self.lock_pods().get_mut(&key(pod)) {
            running.reserved = None;
        }
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
            Api::<Pod>::all(self.client.clone()),
            watcher::Config::default(),
        );
        let services = watcher(
            Api::<Service>::all(self.client.clone()),
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
                        let _ = self.network.set_service(&namespace, &name, None);
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
        let address = self.network.allocate();
        let cancel = CancellationToken::new();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let task = tokio::spawn(super::pod::run(
            Arc::clone(self),
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
                reserved: None,
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
        tokio::spawn(async move {
            let _ = running.task.await;
            node.network.release(running.address);
            node.refresh_names();
        });
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
            if let Err(error) = self.network.set_service(&namespace, &name, address) {
                tracing::warn!(%error, "cannot write the hosts file");
            }
        }
    }

    /// The directory of the node's state.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The containers' logs, for the API server's `pods/log` (`kubectl logs`).
pub struct PodLogs(pub Arc<Node>);

impl memory_apiserver::Logs for PodLogs {
    fn read(&self, namespace: &str, pod: &str, container: &str) -> Option<Vec<u8>> {
        std::fs::read(self.0.log_file(namespace, pod, container)?).ok()
    }
}

fn key(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        )
    })
}
