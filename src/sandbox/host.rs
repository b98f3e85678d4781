//! What the sandbox's node has and keeps for its pods: the API client, the network, the
//! Locust images, each pod's directory (volumes, logs) and the room its requests take on this
//! machine (the scheduler's accounting).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use kube::Client;

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

/// The node's resources, shared by its pods.
pub struct Host {
    /// The API client.
    pub client: Client,
    /// Addresses and names.
    pub network: Arc<Network>,
    /// The Locust images.
    pub pythons: Pythons,
    dir: PathBuf,
    allocatable: Allocatable,
    /// Requests of the pods that have room, by pod uid.
    reserved: Mutex<HashMap<String, (f64, f64)>>,
}

impl Host {
    /// A node keeping its pods under `dir`.
    pub fn new(
        client: Client,
        network: Arc<Network>,
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
            reserved: Mutex::new(HashMap::new()),
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
        let (cpu, memory) = requests(pod);
        let mut reserved = self.lock();
        let (used_cpu, used_memory) = reserved
            .values()
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
        reserved.insert(pod_key(pod), (cpu, memory));
        Ok(())
    }

    /// Gives back what `pod` reserved.
    pub fn release(&self, pod: &Pod) {
        self.lock().remove(&pod_key(pod));
    }

    /// The directory of the node's state.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (f64, f64)>> {
        self.reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The containers' logs, for the API server's `pods/log` (`kubectl logs`).
pub struct PodLogs(pub Arc<Host>);

impl memory_apiserver::Logs for PodLogs {
    fn read(&self, namespace: &str, pod: &str, container: &str) -> Option<Vec<u8>> {
        std::fs::read(self.0.log_file(namespace, pod, container)?).ok()
    }
}

/// A pod's key: its uid, else `namespace/name`.
pub fn pod_key(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        )
    })
}
