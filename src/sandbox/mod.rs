//! `locust-operator sandbox`: the operator on one machine with no cluster. In one process, on
//! 127.0.0.1 only:
//!
//! 1. an embedded Kubernetes API server (the `memory-apiserver` crate) with the LocustTest CRD;
//! 2. the operator itself, unchanged: its webhook server over real TLS, registered with that
//!    API server for admission and conversion, and its controller ([`crate::operator::run`]);
//! 3. a local node ([`node`]): the scheduler, Job pods' kubelet and DNS for this machine; pods'
//!    containers run as real local processes, `locustio/locust:<version>` from a virtualenv
//!    made with pip on first use ([`python`]), the operator's metrics sidecar as an equivalent
//!    of its own ([`exporter`]);
//! 4. a demo target ([`demo`]) at `http://demo-app.default.svc:8080`, the examples' host.
//!
//! Nothing here changes what the operator does: the controller, the webhooks and the builders
//! do not know they run in a sandbox.

pub mod demo;
pub mod exporter;
pub mod follow;
pub mod host;
pub mod network;
pub mod node;
pub mod pod;
pub mod process;
pub mod python;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::Client;
use memory_apiserver::ApiServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::certs::generate::{new_ca, new_serving};
use crate::certs::rotation::Policy;
use crate::config::Config;
use crate::controller::State;
use crate::flags::{ProcessFlags, ServerFlags};
use crate::locust::client::MasterAddresses;
use crate::metrics::Metrics;
use crate::operator::{self, RunSettings};
use crate::random::random_u64;
use crate::webhook::server::Readiness;
use crate::webhook::tls::ReloadingCert;
use crate::webhook::{CertSource, Listeners, Serving};

use host::{Allocatable, Host};
use node::Node;

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The machine lacks what the sandbox needs.
    #[error(transparent)]
    Python(#[from] python::ImageError),
    /// Not Linux.
    #[error(
        "the sandbox needs Linux: it gives every pod an address of its own in 127.0.0.0/8, which only Linux routes without configuration; on other systems use a cluster (kind, minikube) and `locust-operator run`"
    )]
    NotLinux,
    /// A file or a listener.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The webhook certificate.
    #[error("cannot make the webhook certificate: {0}")]
    Certificate(String),
    /// The embedded API server.
    #[error("the embedded API server: {0}")]
    ApiServer(String),
}

/// How to start a sandbox.
#[derive(Clone, Debug)]
pub struct Options {
    /// Its state: kubeconfig, pods' files and logs.
    pub dir: PathBuf,
    /// The Locust virtualenvs (kept between runs).
    pub cache: PathBuf,
    /// The operator's configuration (from the environment, as in a cluster).
    pub config: Config,
    /// The operator's `--pod-health-grace-period`.
    pub grace: Duration,
    /// The operator's `--locust-poll-interval`.
    pub poll_interval: Duration,
    /// The operator's `--worker-connect-timeout`.
    pub worker_connect_timeout: Duration,
    /// What the node can give its pods.
    pub allocatable: Allocatable,
    /// Print progress (virtualenv installs) on stderr.
    pub progress: bool,
}

impl Options {
    /// The default cache directory: `$LOCUST_SANDBOX_CACHE`, else
    /// `$XDG_CACHE_HOME/locust-operator/sandbox`, else `~/.cache/locust-operator/sandbox`.
    pub fn default_cache() -> PathBuf {
        if let Some(dir) = std::env::var_os("LOCUST_SANDBOX_CACHE") {
            return PathBuf::from(dir);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("locust-operator").join("sandbox")
    }
}

/// A running sandbox.
pub struct Sandbox {
    api: ApiServer,
    /// A client of its API server.
    pub client: Client,
    /// The node's resources (its pods' files and logs, the Locust images).
    pub host: Arc<Host>,
    /// The demo target.
    pub demo: demo::Demo,
    /// The kubeconfig for `kubectl`.
    pub kubeconfig: PathBuf,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts everything; ready when it returns.
    pub async fn start(options: Options) -> Result<Self, SandboxError> {
        if !cfg!(target_os = "linux") {
            return Err(SandboxError::NotLinux);
        }
        python::Pythons::preflight().await?;
        let io = |what: &str| {
            let what = what.to_owned();
            move |e| SandboxError::Io(what, e)
        };
        std::fs::create_dir_all(&options.dir).map_err(io("the sandbox directory"))?;
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();

        // The API server (HTTPS, only for the bearer token of the kubeconfig), with the CRD.
        let tls = memory_apiserver::Tls::self_signed().map_err(SandboxError::Certificate)?;
        let api = ApiServer::start_with(memory_apiserver::Options {
            tls: Some(tls),
            token: Some(format!("{:016x}{:016x}", random_u64(), random_u64())),
            ..memory_apiserver::Options::default()
        })
        .await
        .map_err(|e| SandboxError::ApiServer(e.to_string()))?;
        let crd = crate::crd::locust_test_crd()
            .map_err(|e| SandboxError::ApiServer(e.to_string()))
            .and_then(|crd| {
                serde_json::to_value(crd).map_err(|e| SandboxError::ApiServer(e.to_string()))
            })?;
        api.install_crd(&crd).await;
        let client = api
            .client()
            .map_err(|e| SandboxError::ApiServer(e.to_string()))?;

        // The operator's webhook server over TLS, registered for admission and conversion.
        let (ca, serving) = certificate()?;
        let cert = Arc::new(ReloadingCert::default());
        cert.set_pem(serving.0.as_bytes(), serving.1.as_bytes(), "sandbox")
            .map_err(|e| SandboxError::Certificate(e.to_string()))?;
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let server_flags = ServerFlags {
            webhook_bind_address: loopback,
            health_probe_bind_address: loopback,
            metrics_bind_address: loopback,
            cert_dir: options.dir.join("certs"),
            cert_reload_interval: Duration::from_secs(10),
        };
        let listeners = Listeners::bind(&server_flags)
            .await
            .map_err(|e| SandboxError::ApiServer(e.to_string()))?;
        let webhook_address = listeners
            .webhook
            .local_addr()
            .map_err(io("the webhook listener"))?;
        let metrics = Arc::new(Metrics::new());
        let state = Arc::new(State::default());
        let serving = Serving {
            certificate: CertSource::Memory(Arc::clone(&cert)),
            metrics: Arc::clone(&metrics),
            readiness: Readiness::default(),
        };
        tasks.push(tokio::spawn({
            let stop = stop.clone();
            async move {
                if let Err(error) = crate::webhook::serve(listeners, serving, stop).await {
                    tracing::error!(%error, "the webhook server stopped");
                }
            }
        }));
        api.register_webhooks(&format!("https://{webhook_address}"), ca.as_bytes())
            .await
            .map_err(SandboxError::ApiServer)?;

        // The node, its network and the demo target.
        // A second octet of its own for the pods' addresses, one whose demo address is free.
        let mut attempt = 0;
        let (network, demo) = loop {
            attempt += 1;
            let octet = 2 + (u64::from(std::process::id()) + random_u64()) % 250;
            let network = network::Network::new(options.dir.join("hosts.json"), octet as u8)
                .map_err(io("the hosts file"))?;
            let network = Arc::new(network);
            match demo::Demo::start(network.service_address(), stop.clone()).await {
                Ok(demo) => break (network, demo),
                Err(error) if attempt >= 5 => {
                    return Err(SandboxError::Io("the demo target".into(), error));
                }
                Err(_) => continue,
            }
        };
        network
            .set_service(demo::NAMESPACE, demo::NAME, Some(network.service_address()))
            .map_err(io("the hosts file"))?;
        // The operator, as `run` starts it (one replica: no leader election).
        let flags = ProcessFlags::try_parse_from([
            "locust-operator".to_owned(),
            "--leader-elect=false".to_owned(),
            "--certs=files".to_owned(),
            format!(
                "--pod-health-grace-period={}",
                humantime::format_duration(options.grace)
            ),
            format!(
                "--locust-poll-interval={}",
                humantime::format_duration(options.poll_interval)
            ),
            format!(
                "--worker-connect-timeout={}",
                humantime::format_duration(options.worker_connect_timeout)
            ),
        ])
        .map_err(|e| SandboxError::ApiServer(e.to_string()))?;
        let mut settings = RunSettings::from_flags(&flags, options.config.clone(), "default");
        // The operator reads masters' web APIs at their pods' addresses, as the pods resolve
        // Services.
        settings.controller.masters = MasterAddresses(Arc::clone(&network) as _);
        tasks.push(tokio::spawn({
            let client = client.clone();
            let stop = stop.clone();
            async move {
                if let Err(error) =
                    operator::run(client, settings, &metrics, state, cert, stop.clone()).await
                {
                    tracing::error!(%error, "the operator stopped");
                    stop.cancel();
                }
            }
        }));

        let progress = options.progress;
        let pythons = python::Pythons::new(
            options.cache.clone(),
            &options.dir,
            Box::new(move |line: &str| {
                if progress {
                    eprintln!("sandbox: {line}");
                }
            }),
        )
        .map_err(io("the Python modules"))?;
        let host = Host::new(
            client.clone(),
            network,
            pythons,
            options.dir.clone(),
            options.allocatable,
        );
        tasks.push(tokio::spawn(Node::new(Arc::clone(&host)).run(stop.clone())));
        api.set_logs(Arc::new(host::PodLogs(Arc::clone(&host))));

        let kubeconfig = options.dir.join("kubeconfig");
        write_private(&kubeconfig, &api.kubeconfig("default")).map_err(io("the kubeconfig"))?;
        Ok(Self {
            api,
            client,
            host,
            demo,
            kubeconfig,
            stop,
            tasks,
        })
    }

    /// Installs the Locust versions the LocustTests of `files` run (their `spec.image`), so a
    /// machine that cannot (no PyPI on a first run) is told so before anything is applied.
    pub async fn prepare(&self, files: &[(String, String)]) -> Result<(), SandboxError> {
        let mut versions = std::collections::BTreeSet::new();
        for (_, text) in files {
            for document in crate::check::documents(text).unwrap_or_default() {
                if document["kind"] == crate::api::KIND
                    && let Some(image) = document.pointer("/spec/image").and_then(|i| i.as_str())
                    && let Ok(python::Image::Locust(version)) = python::Image::parse(image)
                {
                    versions.insert(version);
                }
            }
        }
        for version in versions {
            self.host.pythons.locust(&version).await?;
        }
        Ok(())
    }

    /// The API server's URL.
    pub fn url(&self) -> String {
        self.api.url()
    }

    /// A token cancelled when the sandbox stops (or must stop: its operator failed).
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops everything: every pod's processes (SIGTERM, then SIGKILL after their grace
    /// period), the operator, the servers.
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(40), task).await;
        }
    }
}

/// A CA and a serving certificate for 127.0.0.1 and localhost: `(CA PEM, (cert PEM, key PEM))`.
fn certificate() -> Result<(String, (String, String)), SandboxError> {
    let now = SystemTime::now();
    let policy = Policy::default();
    let error = |e: crate::certs::generate::GenerateError| SandboxError::Certificate(e.to_string());
    let (ca, ca_key) = new_ca(now, &policy).map_err(error)?;
    let names = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    let not_after = now + policy.ca_validity;
    let serving = new_serving(&ca, &ca_key, not_after, &names, now, &policy).map_err(error)?;
    Ok((ca, serving))
}

/// Writes `text` to a new file only its owner can read (mode 0600).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}
