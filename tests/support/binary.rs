//! `locust-operator run`, the real binary, as a child process of an end-to-end test: one
//! replica with leader election on a Lease in the test's namespace (the lease timings of
//! `operator::fast_timings`: 3 s, 2 s, 250 ms), watching that namespace, its webhook, probe
//! and metrics servers on ports of its own, logging JSON to a file (printed when the test
//! fails). Dropping a [`Binary`] kills the process if it still runs.
//!
//! Include next to `e2e.rs`, `objects.rs` and `scenario.rs` (each as a module of the same name
//! at the root of the test crate).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // a support module; tests fail loudly

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use super::e2e::{self, poll, random_suffix};
use super::objects::metric;
use super::scenario::Scenario;

/// Upper bound of one wait for the binary (its servers bound, a metric, readiness).
pub const WAIT: Duration = Duration::from_secs(20);

/// `locust-operator run` as a child process, logging JSON to a file.
pub struct Binary {
    name: String,
    child: Child,
    log: PathBuf,
    probes: SocketAddr,
    metrics: SocketAddr,
}

impl Binary {
    /// Starts a replica and waits (bounded) until its servers are bound.
    pub async fn start(
        dir: &Path,
        kubeconfig: &Path,
        namespace: &str,
        lease: &str,
        name: &str,
    ) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_locust-operator"));
        command
            .args([
                "run",
                "--leader-elect=true",
                "--leader-election-namespace",
                namespace,
                "--leader-election-id",
                lease,
                "--watch-namespace",
                namespace,
                "--leader-elect-lease-duration=3s",
                "--leader-elect-renew-deadline=2s",
                "--leader-elect-retry-period=250ms",
                "--webhook-bind-address=127.0.0.1:0",
                "--health-probe-bind-address=127.0.0.1:0",
                "--metrics-bind-address=127.0.0.1:0",
                "--pod-health-grace-period=2s",
            ])
            .arg("--cert-dir")
            .arg(dir.join("certs"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", name)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file));
        if let Some(home) = std::env::var_os("HOME") {
            command.env("HOME", home); // exec credential plugins of a real kubeconfig
        }
        let child = command.spawn().unwrap();
        let unbound: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut binary = Self {
            name: name.to_owned(),
            child,
            log,
            probes: unbound,
            metrics: unbound,
        };
        let started = Instant::now();
        loop {
            if let Some((probes, metrics)) = binary.serving() {
                binary.probes = probes;
                binary.metrics = metrics;
                return binary;
            }
            if let Some(status) = binary.child.try_wait().unwrap() {
                panic!("{name} exited with {status}:\n{}", binary.log_text());
            }
            assert!(
                started.elapsed() < WAIT,
                "{name} did not bind its servers:\n{}",
                binary.log_text()
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// What it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The probe and metrics addresses from the `serving` log line.
    fn serving(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.log_text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["message"] == "serving")
            .and_then(|line| {
                Some((
                    line["probes"].as_str()?.parse().ok()?,
                    line["metrics"].as_str()?.parse().ok()?,
                ))
            })
    }

    /// `GET /readyz`: status and body.
    pub async fn readyz(&self) -> Result<(u16, String), String> {
        http_get(self.probes, "/readyz").await
    }

    /// `GET /metrics`, which must answer 200.
    pub async fn metrics_text(&self) -> Result<String, String> {
        match http_get(self.metrics, "/metrics").await? {
            (200, body) => Ok(body),
            (status, body) => Err(format!("{}: /metrics {status}: {body}", self.name)),
        }
    }

    /// Waits until the leader gauge is `value`.
    pub async fn wait_for_leader_gauge(&self, value: f64) {
        poll(
            &format!("{} to report locust_operator_leader {value}", self.name),
            WAIT,
            || async {
                let text = self.metrics_text().await?;
                match metric(&text, "locust_operator_leader") {
                    Some(v) if v == value => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        poll(&format!("{} /readyz 200", self.name), WAIT, || async {
            match self.readyz().await? {
                (200, _) => Ok(()),
                (status, body) => Err(format!("{status}: {body}")),
            }
        })
        .await;
    }

    /// Sends it SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.child.id());
    }

    /// Waits (at most `limit`) until the process exits.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "{} did not exit within {limit:?}:\n{}",
                self.name,
                self.log_text()
            );
            sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- log of {} ---\n{}", self.name, self.log_text());
        }
    }
}

/// A plain-HTTP GET (probes, metrics): status and body, bounded in time.
async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: hyper::Uri = format!("http://{addr}{path}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let exchange = async {
        let response = client
            .get(uri)
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map_err(|e| format!("GET {path}: reading the body: {e}"))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(e2e::REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("GET {path}: no answer in time"))?
}

/// A kubeconfig for the harness at `url` (plain HTTP, no credentials).
fn harness_kubeconfig(dir: &Path, url: &str, namespace: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "harness", "cluster": {"server": url}}],
        "users": [{"name": "harness", "user": {}}],
        "contexts": [{"name": "harness", "context": {"cluster": "harness", "user": "harness", "namespace": namespace}}],
        "current-context": "harness"
    });
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

/// A scratch directory for replicas of the binary (`certs/` with a serving certificate, logs)
/// and the kubeconfig they use: the harness's, or the real cluster's.
pub fn binary_dir(s: &Scenario, label: &str) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "e2e-ha-{label}-{}-{}",
        std::process::id(),
        random_suffix(6)
    ));
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let leaf = e2e::Ca::new("locust-operator e2e-ha CA").issue("webhook");
    std::fs::write(certs.join("tls.crt"), &leaf.cert_pem).unwrap();
    std::fs::write(certs.join("tls.key"), &leaf.key_pem).unwrap();
    let kubeconfig = match s.harness() {
        Some(harness) => harness_kubeconfig(&dir, &harness.url(), s.namespace()),
        None => e2e::kubeconfig_path().expect("the real cluster's kubeconfig"),
    };
    (dir, kubeconfig)
}
