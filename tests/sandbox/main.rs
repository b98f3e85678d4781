//! The sandbox end to end, with real Locust: the operator in a sandbox runs LocustTests whose
//! pods are real Locust processes, and the status it writes is the user's document's, from
//! what those processes really did. Every test starts a sandbox of its own (its own API server,
//! operator, node and loopback addresses) and stops it, checking that no process is left.
//!
//! Locust comes from PyPI into a virtualenv made once under `LOCUST_SANDBOX_CACHE` (default:
//! `target/tmp/sandbox-cache`), as the sandbox makes it for a user.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod binary;
mod failures;
mod kubectl;
mod lifecycle;
mod processes;
mod results;

use std::path::PathBuf;
use std::time::Duration;

use kube::Api;
use kube::api::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use locust_operator::config::Config;
use locust_operator::sandbox::follow::{self, TestRef};
use locust_operator::sandbox::host::Allocatable;
use locust_operator::sandbox::{Options, Sandbox};
use serde_json::Value;

/// The grace period of the operator in these tests (its own `--pod-health-grace-period`).
const GRACE: Duration = Duration::from_secs(4);
/// The operator's `--locust-poll-interval` in these tests: Locust's numbers change every 2–3 s.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// The operator's `--worker-connect-timeout` unless a test says otherwise.
const WORKER_CONNECT_TIMEOUT: Duration = Duration::from_secs(300);
/// Upper bound of one wait for a test to reach a state.
const WAIT: Duration = Duration::from_secs(180);

/// The locustfile ConfigMap of the examples.
const LOCUSTFILE_CONFIGMAP: &str = include_str!("../../examples/locustfile-configmap.yaml");

/// A short LocustTest against the demo target: 2 workers, 4 users, `run_time` seconds, autoquit
/// after 2 s.
fn quick_test(name: &str, configmap: &str, run_time: u32) -> String {
    format!(
        r#"apiVersion: locust.io/v2
kind: LocustTest
metadata:
  name: {name}
spec:
  image: locustio/locust:2.43.3
  testFiles:
    configMapRef: {configmap}
  master:
    command: --locustfile /lotest/src/locustfile.py --host http://demo-app.default.svc:8080 --users 4 --spawn-rate 4 --run-time {run_time}s
    autoquit:
      enabled: true
      timeout: 2
  worker:
    command: --locustfile /lotest/src/locustfile.py
    replicas: 2
"#
    )
}

/// A sandbox for one test, in a directory of its own.
struct Lab {
    sandbox: Option<Sandbox>,
    dir: PathBuf,
}

impl Lab {
    /// Starts a sandbox with the operator's configuration from `config` (environment-style
    /// lookups) and a node of `allocatable`.
    async fn start_with(lookups: &[(&str, &str)], allocatable: Allocatable) -> Self {
        Self::start_full(lookups, allocatable, GRACE, WORKER_CONNECT_TIMEOUT).await
    }

    /// [`Self::start_with`], with the operator's `--pod-health-grace-period` and
    /// `--worker-connect-timeout`.
    async fn start_full(
        lookups: &[(&str, &str)],
        allocatable: Allocatable,
        grace: Duration,
        worker_connect_timeout: Duration,
    ) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        let dir =
            std::env::temp_dir().join(format!("sandbox-test-{}-{}", std::process::id(), random()));
        let lookup = |key: &str| {
            lookups
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        };
        let config = Config::from_lookup(&lookup).expect("the configuration").0;
        let options = Options {
            dir: dir.clone(),
            cache: cache(),
            config,
            grace,
            poll_interval: POLL_INTERVAL,
            worker_connect_timeout,
            allocatable,
            progress: true,
        };
        let sandbox = Sandbox::start(options).await.expect("the sandbox starts");
        Self {
            sandbox: Some(sandbox),
            dir,
        }
    }

    /// A sandbox with the default configuration on a node of 8 CPUs and 16 GiB.
    async fn start() -> Self {
        Self::start_with(&[], node()).await
    }

    fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    /// Applies manifests (as `sandbox FILE...` does); the LocustTests among them.
    async fn apply(&self, manifests: &[&str]) -> Vec<TestRef> {
        let files: Vec<(String, String)> = manifests
            .iter()
            .enumerate()
            .map(|(i, text)| (format!("manifest-{i}.yaml"), (*text).to_owned()))
            .collect();
        follow::apply(&self.sandbox().client, &files)
            .await
            .expect("the manifests apply")
    }

    /// The LocustTest `name` as JSON.
    async fn test(&self, name: &str) -> Value {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("locust.io", "v2", "LocustTest"),
            "locusttests",
        );
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.sandbox().client.clone(), "default", &resource);
        serde_json::to_value(api.get(name).await.expect("the test")).unwrap()
    }

    /// Polls the test until `pred` holds; every distinct phase seen on the way, in order.
    async fn wait_for(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> (Value, Vec<String>) {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut phases: Vec<String> = Vec::new();
        loop {
            let test = self.test(name).await;
            if let Some(phase) = test["status"]["phase"].as_str()
                && phases.last().map(String::as_str) != Some(phase)
            {
                phases.push(phase.to_owned());
            }
            if pred(&test) {
                return (test, phases);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: not {what} within {WAIT:?}; phases {phases:?}; last: {:#}",
                test["status"]
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops the sandbox and checks that no process of it is left.
    async fn stop(mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            sandbox.stop().await;
        }
        let left = processes::under(&self.dir);
        assert!(
            left.is_empty(),
            "processes left after the sandbox stopped: {left:?}"
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The virtualenv cache shared by the tests (and kept between runs).
fn cache() -> PathBuf {
    std::env::var_os("LOCUST_SANDBOX_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox-cache"))
}

/// A node of 8 CPUs and 16 GiB, whatever this machine has (scheduling is the test's to decide).
fn node() -> Allocatable {
    Allocatable {
        cpu_millis: 8000.0,
        memory_bytes: 16.0 * 1024.0 * 1024.0 * 1024.0,
    }
}

fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(1);
    hasher.finish()
}

/// The condition `type_` of a test as `(status, reason, message)`.
fn condition(test: &Value, type_: &str) -> Option<(String, String, String)> {
    test["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

fn phase(test: &Value) -> &str {
    test["status"]["phase"].as_str().unwrap_or_default()
}
