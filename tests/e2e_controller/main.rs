//! End to end: the controller against an API server (the harness, or a real one through
//! `LOCUST_E2E_KUBECONFIG`), driven only through the Kubernetes API. Pod status is written the
//! way kubelet would (`memory_apiserver::sim`); a Job's pods and status come from the Job
//! controller where one runs (the harness's by default, kube-controller-manager on a cluster),
//! and from the test as the Job controller would write them where none runs (envtest-like;
//! `LOCUST_E2E_JOB_CONTROLLER`, see `tests/support/jobs.rs`). Where a test needs what only the
//! harness can do (fault injection, an API server without webhooks), it says so and adapts or
//! skips in real-cluster mode.
//!
//! Every assertion on status is in the vocabulary of the user's monitoring guide
//! (`docs/monitor-test-status.md`): condition types, statuses, reasons and messages
//! exactly, the message format `{Reason}: {N} pod(s) affected [{pod-names}]: {detail}`, the
//! labels of the `kubectl get pods -l` selectors, `kubectl wait` conditions, and events a user
//! filters on.
//!
//! Each test is one [`Scenario`](scenario::Scenario) (start an Env and the operator, act and
//! wait, tear down); the objects they create and read are `tests/support/objects.rs`'s. The tests
//! are grouped by the behaviour they specify:
//!
//! - [`lifecycle`]: a test's life to `Succeeded`, and a terminal phase that never changes;
//! - [`kubectl`]: the events and `kubectl wait` conditions a user relies on;
//! - [`live`]: the run as its Locust master reports it (numbers, events, results, gauges);
//! - [`failures`]: each pod-health failure and a failed master Job, the failure message, the
//!   grace period;
//! - [`drift`]: spec and metadata edits of a test that was built;
//! - [`recreation`]: children deleted by someone else, recreated from the original spec;
//! - [`resilience`]: an operator restart, transient API errors and broken watches;
//! - [`ownership`]: the same name in two namespaces, a test deleted and created again;
//! - [`invalid_spec`]: an invalid spec that bypassed admission.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../support/e2e.rs"]
mod e2e;
#[path = "../support/locust_master.rs"]
mod locust_master;
#[path = "../support/logs.rs"]
mod logs;
#[path = "../support/objects.rs"]
mod objects;
#[path = "../support/operator.rs"]
mod operator;
#[path = "../support/scenario.rs"]
mod scenario;
#[path = "../support/test_status.rs"]
mod test_status;

mod drift;
mod failures;
mod invalid_spec;
mod kubectl;
mod lifecycle;
mod live;
mod ownership;
mod recreation;
mod resilience;

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use objects::{TestNamespace, WAIT};

/// Logs of the operator in the test's output (`RUST_LOG` overrides; shown for failing tests
/// or with `--nocapture`).
fn init_logs() {
    logs::init("locust_operator=info");
}

// ---------------------------------------------------------------------------------------------
// Phases as `kubectl get locusttest -w` shows them

/// Every phase a watch of one test saw, consecutive repeats folded.
struct PhaseLog {
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PhaseLog {
    fn start(place: &TestNamespace, name: &str) -> Self {
        let api = place.locust_tests("v2");
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let task = tokio::spawn({
            let seen = Arc::clone(&seen);
            async move {
                let mut stream =
                    std::pin::pin!(watcher(api, config).default_backoff().applied_objects());
                while let Some(item) = stream.next().await {
                    if let Ok(object) = item
                        && let Some(phase) = object.data["status"]["phase"].as_str()
                    {
                        let mut seen = seen.lock().unwrap();
                        if seen.last().map(String::as_str) != Some(phase) {
                            seen.push(phase.to_owned());
                        }
                    }
                }
            }
        });
        Self { seen, task }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until the watch has seen `expected` (exactly, in order).
    async fn expect(&self, expected: &[&str]) {
        let result = tokio::time::timeout(WAIT, async {
            loop {
                let seen = self.seen();
                if seen.len() >= expected.len() {
                    return seen;
                }
                tokio::time::sleep(e2e::POLL_INTERVAL).await;
            }
        })
        .await;
        let seen = result.unwrap_or_else(|_| self.seen());
        assert_eq!(seen, expected, "phases seen by a watch");
    }
}

impl Drop for PhaseLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}
