//! The sandbox's network: every pod gets its own loopback address (127.N.x.y, with N chosen per
//! sandbox, so two sandboxes on one machine do not meet), so two tests never collide on ports
//! 5557/8089, and cluster names (`<service>`, `<service>.<namespace>`,
//! `<service>.<namespace>.svc[.cluster.local]`) resolve, for the pods' processes, through a
//! hosts file their resolver reads ([`super::python`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The cluster domain of Service names.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// Pod addresses and the names that resolve.
pub struct Network {
    hosts: PathBuf,
    octet: u8,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u32,
    free: Vec<Ipv4Addr>,
    /// Fully qualified name → address.
    names: BTreeMap<String, Ipv4Addr>,
}

impl Network {
    /// A network of the addresses 127.`octet`.x.y whose names are written to `hosts` (JSON:
    /// name → address).
    pub fn new(hosts: PathBuf, octet: u8) -> std::io::Result<Self> {
        let network = Self {
            hosts,
            octet,
            inner: Mutex::new(Inner::default()),
        };
        network.write(&BTreeMap::new())?;
        Ok(network)
    }

    /// The hosts file.
    pub fn hosts_file(&self) -> &Path {
        &self.hosts
    }

    /// A free pod address.
    pub fn allocate(&self) -> Ipv4Addr {
        let mut inner = self.lock();
        if let Some(address) = inner.free.pop() {
            return address;
        }
        inner.next += 1;
        let n = inner.next;
        // 127.N.0.1 … 127.N.254.254 (all of 127.0.0.0/8 is loopback on Linux); 127.N.255.x is
        // for the sandbox's own servers.
        let n = n % (254 * 254);
        Ipv4Addr::new(127, self.octet, (n / 254) as u8, (n % 254 + 1) as u8)
    }

    /// The address of the sandbox's own servers (the demo target).
    pub fn service_address(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.octet, 255, 1)
    }

    /// Gives `address` back.
    pub fn release(&self, address: Ipv4Addr) {
        self.lock().free.push(address);
    }

    /// Makes the Service `name` in `namespace` resolve to `address` (or not, with `None`).
    pub fn set_service(
        &self,
        namespace: &str,
        name: &str,
        address: Option<Ipv4Addr>,
    ) -> std::io::Result<()> {
        let fqdn = service_fqdn(namespace, name);
        let mut inner = self.lock();
        let changed = match address {
            Some(address) => inner.names.insert(fqdn, address) != Some(address),
            None => inner.names.remove(&fqdn).is_some(),
        };
        if changed {
            let names = inner.names.clone();
            drop(inner);
            self.write(&names)?;
        }
        Ok(())
    }

    /// Every Service name that resolves now, fully qualified.
    pub fn names(&self) -> BTreeMap<String, Ipv4Addr> {
        self.lock().names.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the hosts file whole (a rename, so a reader never sees half of it). Every
    /// fully qualified name is also written as `<service>.<namespace>.svc` and
    /// `<service>.<namespace>`; short names are resolved by the reader with the pod's namespace.
    fn write(&self, names: &BTreeMap<String, Ipv4Addr>) -> std::io::Result<()> {
        let mut all = serde_json::Map::new();
        for (fqdn, address) in names {
            let value = serde_json::Value::String(address.to_string());
            all.insert(fqdn.clone(), value.clone());
            if let Some(svc) = fqdn.strip_suffix(&format!(".{CLUSTER_DOMAIN}")) {
                all.insert(svc.to_owned(), value.clone());
                if let Some(namespaced) = svc.strip_suffix(".svc") {
                    all.insert(namespaced.to_owned(), value);
                }
            }
        }
        let text = serde_json::Value::Object(all).to_string();
        let temporary = self.hosts.with_extension("tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &self.hosts)
    }
}

/// The operator's way to a test's master in the sandbox: the address its master Service
/// resolves to for the pods (the name itself while it resolves to nothing yet, which then
/// fails to connect like an unready Service).
impl crate::locust::client::Resolve for Network {
    fn master(&self, namespace: &str, name: &str) -> String {
        let service = crate::names::node_name(name, crate::names::Role::Master);
        let fqdn = service_fqdn(namespace, &service);
        let port = crate::locust::client::WEB_PORT;
        match self.names().get(&fqdn) {
            Some(address) => format!("{address}:{port}"),
            None => format!("{fqdn}:{port}"),
        }
    }
}

/// `<name>.<namespace>.svc.cluster.local`.
pub fn service_fqdn(namespace: &str, name: &str) -> String {
    format!("{name}.{namespace}.svc.{CLUSTER_DOMAIN}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unique_until_released() {
        let dir = std::env::temp_dir().join(format!("sandbox-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let network = Network::new(dir.join("hosts.json"), 7).unwrap();
        let a = network.allocate();
        let b = network.allocate();
        assert_ne!(a, b);
        assert!(a.is_loopback() && b.is_loopback());
        assert_eq!(a.octets()[1], 7);
        assert_ne!(a, network.service_address());
        network.release(a);
        assert_eq!(network.allocate(), a);
        network
            .set_service("default", "demo-app", Some(Ipv4Addr::new(127, 0, 100, 1)))
            .unwrap();
        let text = std::fs::read_to_string(network.hosts_file()).unwrap();
        let hosts: serde_json::Value = serde_json::from_str(&text).unwrap();
        use crate::locust::client::Resolve;
        assert_eq!(
            network.master("load", "t"),
            "t-master.load.svc.cluster.local:8089",
            "not resolving yet"
        );
        network
            .set_service("load", "t-master", Some(Ipv4Addr::new(127, 7, 0, 9)))
            .unwrap();
        assert_eq!(network.master("load", "t"), "127.7.0.9:8089");
        for name in [
            "demo-app.default.svc.cluster.local",
            "demo-app.default.svc",
            "demo-app.default",
        ] {
            assert_eq!(hosts[name], "127.0.100.1", "{name}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
