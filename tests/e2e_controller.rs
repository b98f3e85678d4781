//! End to end: the controller against an API server (the harness, or a real one through
//! `LOCUST_E2E_KUBECONFIG`), driven only through the Kubernetes API. Pod status is written the
//! way kubelet would (`memory_apiserver::sim`); a Job's pods and status come from the Job
//! controller where one runs (the harness's by default, kube-controller-manager on a cluster),
//! and from the test as the Job controller would write them where none runs (envtest-like;
//! `LOCUST_E2E_JOB_CONTROLLER`, see `support/jobs.rs`). Where a test needs what only the
//! harness can do (fault injection, an API server without webhooks), it says so and adapts or
//! skips in real-cluster mode.
//!
//! Every assertion on status is in the vocabulary of the user's monitoring guide
//! (`docs/monitor-test-status.md`): condition types, statuses, reasons and messages
//! exactly, the message format `{Reason}: {N} pod(s) affected [{pod-names}]: {detail}`, the
//! labels of the `kubectl get pods -l` selectors, `kubectl wait` conditions, and events a user
//! filters on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/logs.rs"]
mod logs;
#[path = "support/objects.rs"]
mod objects;
#[path = "support/operator.rs"]
mod operator;
#[path = "support/scenario.rs"]
mod scenario;
#[path = "support/test_status.rs"]
mod test_status;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::poll;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod, Service};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::wait::await_condition;
use kube::runtime::{WatchStreamExt, watcher};
use locust_operator::api::LocustTest;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::controller::plan::{ANNOTATION_ORIGINAL_SPEC, encode_original};
use locust_operator::status::{
    MESSAGE_EVENT_SUCCEEDED, MESSAGE_PODS_HEALTHY, MESSAGE_RESOURCES_CREATED, MESSAGE_SPEC_DRIFTED,
    MESSAGE_SPEC_RESTORED, MESSAGE_TEST_NOT_STARTED, MESSAGE_TEST_RUNNING, MESSAGE_TEST_STARTED,
    MESSAGE_TEST_SUCCEEDED, MESSAGE_WAITING_FOR_PODS, event_reasons,
};
use locust_operator::validation::validate;
use memory_apiserver::{Filter, sim};
use objects::{
    CONTROLLER, IMAGE, QUIET, TestNamespace, WAIT, assert_condition, built, condition_types,
    event_summary, manifest, metric, notes, occurrences, owner_uid, series, time_of,
};
use operator::Options;
use scenario::Scenario;
use serde_json::{Value, json};
use test_status::{condition, has, phase};

/// The Job controller's message of a Job that failed its backoff limit.
const BACKOFF_LIMIT_MESSAGE: &str = "Job has reached the specified backoff limit";
/// The end of the `Recreated` event's message.
const RECREATED_WHY: &str = "deleted by someone else, from the spec the test started with";

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

// =============================================================================================
// 1 + 11. Lifecycle to Succeeded, events, metrics

#[tokio::test]
async fn lifecycle_to_succeeded() {
    init_logs();
    // A grace period that outlasts the test's Pending phase: pods that are not running yet
    // stay "starting" throughout.
    let mut options = Options::new();
    options.grace = Duration::from_secs(60);
    Scenario::run(options, async |s| {
        let name = "lifecycle";
        let uid = s.create(name, 2).await;
        let log = PhaseLog::start(s, name);

        // Service + 2 Jobs, each with a controller owner reference to the test.
        let kids = s.children(name).await;
        for meta in [
            &kids.service.metadata,
            &kids.master.metadata,
            &kids.worker.metadata,
        ] {
            let owners = meta.owner_references.clone().unwrap_or_default();
            assert_eq!(owners.len(), 1, "{:?}", meta.name);
            let owner = &owners[0];
            assert_eq!(
                (
                    owner.api_version.as_str(),
                    owner.kind.as_str(),
                    owner.name.as_str(),
                    owner.uid.as_str(),
                    owner.controller,
                    owner.block_owner_deletion
                ),
                (
                    "locust.io/v2",
                    "LocustTest",
                    name,
                    uid.as_str(),
                    Some(true),
                    Some(true)
                ),
                "{:?}",
                meta.name
            );
        }
        for (job, role) in [(&kids.master, "master"), (&kids.worker, "worker")] {
            let labels = job
                .spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            assert_eq!(
                labels.get("performance-test-name").map(String::as_str),
                Some(name)
            );
            assert_eq!(
                labels.get("performance-test-pod-name"),
                Some(&format!("{name}-{role}"))
            );
        }
        assert_eq!(
            kids.worker.spec.as_ref().and_then(|s| s.parallelism),
            Some(2)
        );

        // Pending with the initial conditions. A Job controller makes the pods at once (they
        // are starting); without one there are none until the test makes them.
        let starting = if s.jobs().has_controller() {
            "Pods are starting: failures are reported once a pod is older than the 1m grace period"
        } else {
            MESSAGE_WAITING_FOR_PODS
        };
        let test = s
            .wait_for(name, "Pending, Ready=True, pods starting", |t| {
                phase(t) == "Pending"
                    && has(t, types::READY, "True", reasons::RESOURCES_CREATED)
                    && condition(t, types::PODS_HEALTHY).is_some_and(|c| c["message"] == starting)
            })
            .await;
        assert_condition(
            &test,
            types::READY,
            "True",
            reasons::RESOURCES_CREATED,
            MESSAGE_RESOURCES_CREATED,
        );
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WAITING_FOR_WORKERS,
            "0/2 workers connected",
        );
        assert_condition(
            &test,
            types::PODS_HEALTHY,
            "True",
            reasons::PODS_STARTING,
            starting,
        );
        assert_condition(
            &test,
            types::TEST_COMPLETED,
            "False",
            reasons::TEST_IN_PROGRESS,
            MESSAGE_TEST_NOT_STARTED,
        );
        assert_eq!(
            condition_types(&test),
            [
                types::READY,
                types::WORKERS_CONNECTED,
                types::PODS_HEALTHY,
                types::TEST_COMPLETED
            ],
            "no SpecDrifted while Pending"
        );
        assert_eq!(test["status"]["expectedWorkers"], 2);
        assert_eq!(test["status"]["connectedWorkers"], 0);
        assert_eq!(
            test["status"]["observedGeneration"],
            test["metadata"]["generation"]
        );
        assert!(test["status"]["startTime"].is_null());
        assert!(test["status"]["completionTime"].is_null());

        // The spec the children were built from is recorded.
        let typed: LocustTest = serde_json::from_value(test.clone()).unwrap();
        assert_eq!(
            test["metadata"]["annotations"][ANNOTATION_ORIGINAL_SPEC].as_str(),
            Some(encode_original(&typed.spec).as_str())
        );

        // The master runs: Running, with a start time; no worker connected yet.
        let master = s.start_master(name).await;
        let test = s.wait_for(name, "Running", |t| phase(t) == "Running").await;
        let started = time_of(&test["status"]["startTime"]);
        assert_condition(
            &test,
            types::TEST_COMPLETED,
            "False",
            reasons::TEST_IN_PROGRESS,
            MESSAGE_TEST_RUNNING,
        );
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WAITING_FOR_WORKERS,
            "0/2 workers connected",
        );
        assert_condition(
            &test,
            types::READY,
            "True",
            reasons::RESOURCES_CREATED,
            MESSAGE_RESOURCES_CREATED,
        );
        assert!(
            condition(&test, types::SPEC_DRIFTED).is_none(),
            "SpecDrifted appears only when the spec is edited: {test}"
        );

        // Workers connect one by one (the worker Job's `ready`).
        let workers = s.start_one_of_two_workers(name).await;
        let test = s
            .wait_for(name, "1/2 workers", |t| {
                has(
                    t,
                    types::WORKERS_CONNECTED,
                    "False",
                    reasons::WORKERS_MISSING,
                )
            })
            .await;
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WORKERS_MISSING,
            "1/2 workers connected",
        );
        assert_eq!(test["status"]["connectedWorkers"], 1);
        s.connect_second_worker(name, &workers).await;
        let test = s
            .wait_for(name, "2/2 workers", |t| {
                has(
                    t,
                    types::WORKERS_CONNECTED,
                    "True",
                    reasons::ALL_WORKERS_CONNECTED,
                ) && has(t, types::PODS_HEALTHY, "True", reasons::PODS_HEALTHY)
            })
            .await;
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "True",
            reasons::ALL_WORKERS_CONNECTED,
            "2/2 workers connected",
        );
        assert_condition(
            &test,
            types::PODS_HEALTHY,
            "True",
            reasons::PODS_HEALTHY,
            MESSAGE_PODS_HEALTHY,
        );
        assert_eq!(test["status"]["connectedWorkers"], 2);

        // The pods carry the labels of the user's selectors.
        let pods = s.api::<Pod>();
        let all = pods
            .list(&ListParams::default().labels(&format!("performance-test-name={name}")))
            .await
            .unwrap();
        assert_eq!(all.items.len(), 3);
        let worker_pods = pods
            .list(
                &ListParams::default().labels(&format!("performance-test-pod-name={name}-worker")),
            )
            .await
            .unwrap();
        assert_eq!(worker_pods.items.len(), 2);

        // The master exits 0: Succeeded.
        s.finish_master(name, &master).await;
        let test = s
            .wait_for(name, "Succeeded", |t| phase(t) == "Succeeded")
            .await;
        assert_condition(
            &test,
            types::TEST_COMPLETED,
            "True",
            reasons::TEST_SUCCEEDED,
            MESSAGE_TEST_SUCCEEDED,
        );
        assert_condition(
            &test,
            types::READY,
            "True",
            reasons::RESOURCES_CREATED,
            MESSAGE_RESOURCES_CREATED,
        );
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "True",
            reasons::ALL_WORKERS_CONNECTED,
            "2/2 workers connected",
        );
        assert_condition(
            &test,
            types::PODS_HEALTHY,
            "True",
            reasons::PODS_HEALTHY,
            MESSAGE_PODS_HEALTHY,
        );
        assert_eq!(test["status"]["connectedWorkers"], 2);
        assert_eq!(test["status"]["expectedWorkers"], 2);
        assert_eq!(
            time_of(&test["status"]["startTime"]),
            started,
            "startTime kept"
        );
        assert!(time_of(&test["status"]["completionTime"]) >= started);
        log.expect(&["Pending", "Running", "Succeeded"]).await;

        // Events a user filters on, each once.
        let list = s.wait_event(name, event_reasons::TEST_SUCCEEDED).await;
        assert_eq!(
            notes(&list, "Created"),
            [(
                "Normal".to_owned(),
                format!("Created Service {name}-master, Job {name}-master, Job {name}-worker")
            )]
        );
        assert_eq!(
            notes(&list, event_reasons::TEST_STARTED),
            [("Normal".to_owned(), MESSAGE_TEST_STARTED.to_owned())]
        );
        assert_eq!(
            notes(&list, event_reasons::TEST_SUCCEEDED),
            [("Normal".to_owned(), MESSAGE_EVENT_SUCCEEDED.to_owned())]
        );
        for reason in [
            "Created",
            event_reasons::TEST_STARTED,
            event_reasons::TEST_SUCCEEDED,
        ] {
            assert_eq!(occurrences(&list, reason), 1, "{reason}");
        }
        assert_eq!(list.len(), 3, "{:?}", event_summary(&list));
        for event in &list {
            let regarding = event.regarding.as_ref().unwrap();
            assert_eq!(regarding.kind.as_deref(), Some("LocustTest"));
            assert_eq!(regarding.uid.as_deref(), Some(uid.as_str()));
            assert_eq!(
                event.reporting_controller.as_deref(),
                Some("locust-operator")
            );
        }

        // Metrics (11).
        poll(
            "locust_operator_tests{phase=\"Succeeded\"} 1",
            WAIT,
            || async {
                let text = s.metrics_text();
                if metric(&text, "locust_operator_tests{phase=\"Succeeded\"}") == Some(1.0) {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        )
        .await;
        let text = s.metrics_text();
        for (series, expected) in [
            ("locust_operator_tests{phase=\"Pending\"}", 0.0),
            ("locust_operator_tests{phase=\"Running\"}", 0.0),
            ("locust_operator_tests{phase=\"Failed\"}", 0.0),
            (
                "locust_operator_test_duration_seconds_count{phase=\"Succeeded\"}",
                1.0,
            ),
            (
                "controller_runtime_reconcile_errors_total{controller=\"locusttest\"}",
                0.0,
            ),
            (
                "controller_runtime_max_concurrent_reconciles{controller=\"locusttest\"}",
                16.0,
            ),
            ("locust_operator_leader", 1.0),
        ] {
            assert_eq!(metric(&text, series), Some(expected), "{series} in\n{text}");
        }
        for result in ["success", "requeue_after"] {
            let series = series(
                "controller_runtime_reconcile_total",
                &format!("{CONTROLLER},result=\"{result}\""),
            );
            assert!(
                metric(&text, &series).is_some_and(|v| v >= 1.0),
                "{series} in\n{text}"
            );
        }
        assert!(
            metric(
                &text,
                &series(
                    "controller_runtime_reconcile_time_seconds_count",
                    CONTROLLER
                ),
            )
            .is_some_and(|v| v >= 1.0),
            "{text}"
        );
    })
    .await;
}

// =============================================================================================
// The `kubectl get events --field-selector reason=...` of the user's document

/// The operator records `events.k8s.io/v1` Events; `kubectl get events` reads `core/v1`, where
/// a real API server shows the same objects (one storage) and filters on `reason`.
#[tokio::test]
async fn events_are_filterable_by_reason_as_kubectl_does() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "filtered";
        s.create(name, 1).await;
        let (master, _) = s.run_to_running(name, 1).await;
        s.finish_master(name, &master).await;
        s.wait_for(name, "Succeeded", |t| phase(t) == "Succeeded")
            .await;
        s.wait_event(name, event_reasons::TEST_SUCCEEDED).await;
        let core = s.api::<CoreEvent>();
        let all = core.list(&ListParams::default()).await.unwrap();
        let reasons_seen: Vec<_> = all.items.iter().filter_map(|e| e.reason.clone()).collect();
        for reason in [
            "Created",
            event_reasons::TEST_STARTED,
            event_reasons::TEST_SUCCEEDED,
        ] {
            assert!(
                reasons_seen.iter().any(|r| r == reason),
                "core/v1 Events show {reason}: {reasons_seen:?}"
            );
        }
        let filtered = core
            .list(&ListParams::default().fields("reason=TestSucceeded"))
            .await
            .unwrap_or_else(|e| panic!("--field-selector reason=TestSucceeded: {e}"));
        assert_eq!(filtered.items.len(), 1);
        let event = &filtered.items[0];
        assert_eq!(event.reason.as_deref(), Some("TestSucceeded"));
        assert_eq!(event.message.as_deref(), Some(MESSAGE_EVENT_SUCCEEDED));
        assert_eq!(event.involved_object.name.as_deref(), Some(name));
        assert_eq!(event.involved_object.kind.as_deref(), Some("LocustTest"));
        let by_object = core
            .list(
                &ListParams::default()
                    .fields(&format!("involvedObject.name={name},reason=TestStarted")),
            )
            .await
            .unwrap();
        assert_eq!(by_object.items.len(), 1);
    })
    .await;
}

// =============================================================================================
// 2 + 11. Failure paths, one test per row of the user's table (and compat Part B 6)

#[derive(Clone, Copy, Debug)]
enum Role {
    Master,
    Worker,
}

#[derive(Clone, Copy, Debug)]
enum Inflict {
    /// The containers of `count` pods of `role` wait with `reason` / `message`.
    Waiting {
        role: Role,
        count: usize,
        reason: &'static str,
        message: &'static str,
    },
    /// `count` worker pods cannot be scheduled.
    Unschedulable { count: usize, message: &'static str },
    /// A worker pod whose init container `setup` (added at admission) exited 1.
    InitFailed,
    /// A worker pod OOMKilled.
    OomKilled,
    /// A worker pod evicted.
    Evicted { message: &'static str },
    /// The master Job failed (no pod-health failure).
    MasterJobFailed,
}

struct Row {
    name: &'static str,
    workers: i64,
    /// Reach `Running` before the failure (`Running --> Failed`).
    running_first: bool,
    inflict: Inflict,
    /// The `PodsHealthy=False` reason (`None`: the master Job failed instead).
    reason: Option<&'static str>,
    /// The error detail; `{worker}` stands for the worker node name.
    detail: &'static str,
}

const ROWS: [Row; 12] = [
    Row {
        name: "f-pull",
        workers: 1,
        running_first: false,
        inflict: Inflict::Waiting {
            role: Role::Master,
            count: 1,
            reason: "ErrImagePull",
            message: "rpc error: code = NotFound desc = failed to pull and unpack image",
        },
        reason: Some(reasons::IMAGE_PULL_ERROR),
        detail: "ErrImagePull",
    },
    Row {
        name: "f-backoff",
        workers: 2,
        running_first: false,
        inflict: Inflict::Waiting {
            role: Role::Worker,
            count: 2,
            reason: "ImagePullBackOff",
            message: "Back-off pulling image \"locustio/locust:nope\"",
        },
        reason: Some(reasons::IMAGE_PULL_ERROR),
        detail: "ImagePullBackOff",
    },
    Row {
        name: "f-badname",
        workers: 1,
        running_first: false,
        inflict: Inflict::Waiting {
            role: Role::Master,
            count: 1,
            reason: "InvalidImageName",
            message: "Failed to apply default image tag \"Locust:Bad\": couldn't parse image name",
        },
        reason: Some(reasons::IMAGE_PULL_ERROR),
        detail: "InvalidImageName",
    },
    Row {
        name: "f-config",
        workers: 3,
        running_first: false,
        inflict: Inflict::Waiting {
            role: Role::Worker,
            count: 3,
            reason: "CreateContainerConfigError",
            message: "secret \"api-creds\" not found",
        },
        reason: Some(reasons::CONFIGURATION_ERROR),
        detail: "Secret \"api-creds\" not found",
    },
    Row {
        name: "f-sched",
        workers: 2,
        running_first: false,
        inflict: Inflict::Unschedulable {
            count: 2,
            message: "0/3 nodes available: insufficient cpu",
        },
        reason: Some(reasons::SCHEDULING_ERROR),
        detail: "0/3 nodes available: insufficient cpu",
    },
    Row {
        name: "f-crash",
        workers: 1,
        running_first: false,
        inflict: Inflict::Waiting {
            role: Role::Master,
            count: 1,
            reason: "CrashLoopBackOff",
            message: "back-off 5m0s restarting failed container",
        },
        reason: Some(reasons::CRASH_LOOP_BACK_OFF),
        detail: "CrashLoopBackOff",
    },
    Row {
        name: "f-init",
        workers: 1,
        running_first: false,
        inflict: Inflict::InitFailed,
        reason: Some(reasons::INITIALIZATION_ERROR),
        detail: "init container \"setup\" exited with code 1",
    },
    Row {
        name: "f-create",
        workers: 1,
        running_first: false,
        inflict: Inflict::Waiting {
            role: Role::Master,
            count: 1,
            reason: "CreateContainerError",
            message: "failed to reserve container name \"locust\": name is reserved",
        },
        reason: Some(reasons::CONTAINER_ERROR),
        detail: "failed to reserve container name \"locust\": name is reserved",
    },
    Row {
        name: "f-run",
        workers: 1,
        running_first: false,
        inflict: Inflict::Waiting {
            role: Role::Worker,
            count: 1,
            reason: "RunContainerError",
            message: "exec: \"locust\": executable file not found in $PATH",
        },
        reason: Some(reasons::CONTAINER_ERROR),
        detail: "exec: \"locust\": executable file not found in $PATH",
    },
    Row {
        name: "f-oom",
        workers: 1,
        running_first: true,
        inflict: Inflict::OomKilled,
        reason: Some(reasons::OOM_KILLED),
        detail: "container \"{worker}\" was OOMKilled",
    },
    Row {
        name: "f-evicted",
        workers: 1,
        running_first: true,
        inflict: Inflict::Evicted {
            message: "The node was low on resource: memory.",
        },
        reason: Some(reasons::EVICTED),
        detail: "The node was low on resource: memory.",
    },
    Row {
        name: "f-job",
        workers: 1,
        running_first: true,
        inflict: Inflict::MasterJobFailed,
        reason: None,
        detail: "",
    },
];

/// The pod has the init container the injector adds ([`Env::inject_init_container`]).
#[track_caller]
fn assert_injected(pod: &Pod) {
    let init: Vec<&str> = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map(|c| c.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(init, [e2e::INIT_CONTAINER], "{}", pod.name_any());
}

/// Creates the failing pods of `row` (or fails the master Job); returns the pods that fail.
async fn inflict(s: &TestNamespace, row: &Row) -> Vec<Pod> {
    let (client, ns) = (s.client(), s.namespace());
    let worker_job = format!("{}-worker", row.name);
    let master_job = format!("{}-master", row.name);
    match row.inflict {
        Inflict::Waiting {
            role,
            count,
            reason,
            message,
        } => {
            let job = match role {
                Role::Master => &master_job,
                Role::Worker => &worker_job,
            };
            let pods = s.job_pods(job, count).await;
            for pod in &pods {
                sim::set_pod_waiting(client, ns, pod, reason, message, false)
                    .await
                    .unwrap();
            }
            pods
        }
        Inflict::Unschedulable { count, message } => {
            let pods = s.job_pods(&worker_job, count).await;
            for pod in &pods {
                sim::set_pod_unschedulable(client, ns, pod, message)
                    .await
                    .unwrap();
            }
            pods
        }
        Inflict::InitFailed => {
            // The injector of `failure_row` gave the pod its init container.
            let pods = s.job_pods(&worker_job, 1).await;
            assert_injected(&pods[0]);
            sim::set_init_container_failed(client, ns, &pods[0], e2e::INIT_CONTAINER, 1)
                .await
                .unwrap();
            pods
        }
        Inflict::OomKilled => {
            let pods = s.job_pods(&worker_job, 1).await;
            sim::set_pod_terminated(client, ns, &pods[0], 137, "OOMKilled")
                .await
                .unwrap();
            pods
        }
        Inflict::Evicted { message } => {
            let pods = s.job_pods(&worker_job, 1).await;
            sim::set_pod_evicted(client, ns, &pods[0], message)
                .await
                .unwrap();
            pods
        }
        Inflict::MasterJobFailed => {
            let master = s
                .api::<Pod>()
                .list(
                    &ListParams::default()
                        .labels(&format!("performance-test-pod-name={master_job}")),
                )
                .await
                .unwrap()
                .items;
            for pod in &master {
                sim::set_pod_terminated(client, ns, pod, 1, "Error")
                    .await
                    .unwrap();
            }
            let job = s.settle(&master_job).await;
            assert!(e2e::jobs::finished(&job, "Failed"), "{:?}", job.status);
            Vec::new()
        }
    }
}

/// One row: create, (run,) fail, and check status and events. Returns the pods of the test.
async fn failure_row(s: &Scenario, row: &Row) -> Vec<String> {
    let name = row.name;
    if matches!(row.inflict, Inflict::InitFailed) {
        // An init container reaches the operator's pods only through admission (a sidecar
        // injector): the worker pods get one.
        s.inject_init_container("performance-test-pod-name", &format!("{name}-worker"))
            .await;
    }
    s.create(name, row.workers).await;
    s.children(name).await;
    if row.running_first {
        s.start_master(name).await;
        s.wait_for(name, "Running", |t| phase(t) == "Running").await;
    }
    let failing = inflict(s, row).await;

    let test = s.wait_for(name, "Failed", |t| phase(t) == "Failed").await;
    assert!(test["status"]["completionTime"].is_string(), "{name}");
    assert_eq!(
        test["status"]["startTime"].is_string(),
        row.running_first,
        "{name}: startTime only when the master ran"
    );
    let list = s.wait_event(name, event_reasons::TEST_FAILED).await;
    let cause = match row.reason {
        Some(reason) => {
            // Every pod in that failure state, whether or not they were created in the same
            // second (then their grace periods end apart).
            let mut pods: Vec<String> = failing.iter().map(ResourceExt::name_any).collect();
            pods.sort();
            let detail = row.detail.replace("{worker}", &format!("{name}-worker"));
            let message = format!(
                "{reason}: {} pod(s) affected [{}]: {detail}",
                pods.len(),
                pods.join(", ")
            );
            assert_condition(&test, types::PODS_HEALTHY, "False", reason, &message);
            assert_eq!(
                notes(&list, event_reasons::POD_FAILURE),
                [("Warning".to_owned(), message.clone())],
                "{name}"
            );
            message
        }
        None => {
            assert_eq!(
                condition(&test, types::PODS_HEALTHY).unwrap()["status"],
                "True",
                "{name}: a failed master Job is not a pod-health failure"
            );
            assert_eq!(occurrences(&list, event_reasons::POD_FAILURE), 0, "{name}");
            format!("Job {name}-master failed (BackoffLimitExceeded): {BACKOFF_LIMIT_MESSAGE}")
        }
    };
    let failed = format!("Test failed: {cause}");
    assert_condition(
        &test,
        types::READY,
        "False",
        reasons::RESOURCES_FAILED,
        &failed,
    );
    assert_condition(
        &test,
        types::TEST_COMPLETED,
        "True",
        reasons::TEST_FAILED,
        &failed,
    );
    assert_eq!(
        notes(&list, event_reasons::TEST_FAILED),
        [("Warning".to_owned(), failed.clone())],
        "{name}"
    );
    let mut pods: Vec<String> = s
        .api::<Pod>()
        .list(&ListParams::default().labels(&format!("performance-test-name={name}")))
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    pods.sort();
    pods
}

#[tokio::test]
async fn failure_paths() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let results = futures::future::join_all(ROWS.iter().map(|row| failure_row(s, row))).await;
        // Nothing is deleted: the Jobs and pods stay for `kubectl logs`.
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (row, pods) in ROWS.iter().zip(&results) {
            let name = row.name;
            assert_eq!(
                s.children_now(name).await,
                [
                    format!("Service/{name}-master"),
                    format!("Job/{name}-master"),
                    format!("Job/{name}-worker")
                ],
                "{name}: children kept"
            );
            for pod in pods {
                let found = s.api::<Pod>().get_opt(pod).await.unwrap();
                assert!(
                    found.is_some_and(|p| p.metadata.deletion_timestamp.is_none()),
                    "{name}: pod {pod} kept"
                );
            }
            assert_eq!(phase(&s.get(name).await), "Failed", "{name}: still Failed");
        }
        // Metrics: pod-health failures by reason, tests by phase.
        let text = s.metrics_text();
        for (reason, count) in [
            (reasons::IMAGE_PULL_ERROR, 3.0),
            (reasons::CONFIGURATION_ERROR, 1.0),
            (reasons::SCHEDULING_ERROR, 1.0),
            (reasons::CRASH_LOOP_BACK_OFF, 1.0),
            (reasons::INITIALIZATION_ERROR, 1.0),
            (reasons::CONTAINER_ERROR, 2.0),
            (reasons::OOM_KILLED, 1.0),
            (reasons::EVICTED, 1.0),
        ] {
            let series = format!("locust_operator_pod_failures_total{{reason=\"{reason}\"}}");
            assert_eq!(metric(&text, &series), Some(count), "{series} in\n{text}");
        }
        poll(
            "locust_operator_tests{phase=\"Failed\"} 12",
            WAIT,
            || async {
                let text = s.metrics_text();
                if metric(&text, "locust_operator_tests{phase=\"Failed\"}") == Some(12.0) {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        )
        .await;
    })
    .await;
}

// =============================================================================================
// 2b. The failure message names every pod in that failure state, whenever it was created

/// Failure states reached by three worker pods created seconds apart.
#[derive(Clone, Copy, Debug)]
enum Staggered {
    /// `CreateContainerConfigError`: a Secret is missing.
    Config,
    /// `PodScheduled=False`, `Unschedulable`.
    Unschedulable,
    /// The injected init container exits 1 (all three pods' at about the same time: with
    /// `backoffLimit: 0` the Job controller ends the Job's remaining pods once it counts one
    /// failed pod).
    InitFailed,
}

impl Staggered {
    fn reason_and_detail(self) -> (&'static str, &'static str) {
        match self {
            Self::Config => (
                reasons::CONFIGURATION_ERROR,
                "Secret \"api-creds\" not found",
            ),
            Self::Unschedulable => (
                reasons::SCHEDULING_ERROR,
                "0/3 nodes are available: 3 Insufficient cpu.",
            ),
            Self::InitFailed => (
                reasons::INITIALIZATION_ERROR,
                "init container \"setup\" exited with code 1",
            ),
        }
    }
}

/// One test whose worker Job gets three pods seconds apart (its parallelism raised from 1 to
/// 2 to 3, as `kubectl patch job` does), each in the failure state as soon as it exists; the
/// test fails once the first pod's grace period is over, and the message names all three.
async fn staggered_failure(s: &Scenario, name: &str, kind: Staggered) {
    let (client, ns) = (s.client(), s.namespace());
    let worker = format!("{name}-worker");
    if matches!(kind, Staggered::InitFailed) {
        s.inject_init_container("performance-test-pod-name", &worker)
            .await;
    }
    s.create(name, 1).await;
    s.children(name).await;
    let jobs = s.jobs();
    let mut pods: Vec<Pod> = Vec::new();
    for n in 1..=3 {
        if n > 1 {
            // Whole seconds apart: creation timestamps have whole seconds.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            jobs.scale(&worker, n).await;
        }
        let usize_n = usize::try_from(n).unwrap();
        let pod = jobs
            .pods(&worker, usize_n)
            .await
            .into_iter()
            .find(|p| pods.iter().all(|q| q.name_any() != p.name_any()))
            .expect("a new pod");
        match kind {
            Staggered::Config => {
                sim::set_pod_waiting(
                    client,
                    ns,
                    &pod,
                    "CreateContainerConfigError",
                    "secret \"api-creds\" not found",
                    false,
                )
                .await
                .unwrap();
            }
            Staggered::Unschedulable => {
                sim::set_pod_unschedulable(
                    client,
                    ns,
                    &pod,
                    "0/3 nodes are available: 3 Insufficient cpu.",
                )
                .await
                .unwrap();
            }
            Staggered::InitFailed => {
                assert_injected(&pod);
                sim::set_init_containers_running(client, ns, &pod)
                    .await
                    .unwrap();
            }
        }
        pods.push(pod);
    }
    if matches!(kind, Staggered::InitFailed) {
        for pod in &pods {
            sim::set_init_container_failed(client, ns, pod, e2e::INIT_CONTAINER, 1)
                .await
                .unwrap();
        }
    }
    let created: std::collections::BTreeSet<_> =
        pods.iter().map(ResourceExt::creation_timestamp).collect();
    assert_eq!(created.len(), 3, "{name}: pods created seconds apart");

    let test = s.wait_for(name, "Failed", |t| phase(t) == "Failed").await;
    let (reason, detail) = kind.reason_and_detail();
    let mut names: Vec<String> = pods.iter().map(ResourceExt::name_any).collect();
    names.sort();
    let message = format!(
        "{reason}: 3 pod(s) affected [{}]: {detail}",
        names.join(", ")
    );
    assert_condition(&test, types::PODS_HEALTHY, "False", reason, &message);
    let list = s.wait_event(name, event_reasons::TEST_FAILED).await;
    assert_eq!(
        notes(&list, event_reasons::POD_FAILURE),
        [("Warning".to_owned(), message)],
        "{name}"
    );
}

#[tokio::test]
async fn the_failure_message_names_every_pod_in_that_state_whenever_created() {
    init_logs();
    // Longer than the ~3 s over which the pods are made, so all three are failing when the
    // first one's grace period ends.
    let mut options = Options::new();
    options.grace = Duration::from_secs(8);
    Scenario::run(options, async |s| {
        futures::future::join_all([
            staggered_failure(s, "s-config", Staggered::Config),
            staggered_failure(s, "s-sched", Staggered::Unschedulable),
            staggered_failure(s, "s-init", Staggered::InitFailed),
        ])
        .await;
    })
    .await;
}

// =============================================================================================
// 6b. The operator's own Job deleted in the foreground

/// The finalizer with which the test holds a pod (as a slow kubelet would, terminating it).
const HOLD: &str = "e2e.locust.io/hold";

/// Changes a pod's finalizers (merge patch, with the read resourceVersion as precondition).
async fn set_finalizers(s: &TestNamespace, pod: &str, change: impl Fn(&mut Vec<String>)) {
    let current = s.api::<Pod>().get(pod).await.unwrap();
    let mut finalizers = current.finalizers().to_vec();
    change(&mut finalizers);
    let finalizers = if finalizers.is_empty() {
        Value::Null
    } else {
        json!(finalizers)
    };
    s.api::<Pod>()
        .patch(
            pod,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {
                "resourceVersion": current.metadata.resource_version,
                "finalizers": finalizers
            }})),
        )
        .await
        .unwrap_or_else(|e| panic!("finalizers of pod {pod}: {e}"));
}

/// `kubectl delete job <test>-worker --cascade=foreground`: the Job is marked (deletion
/// timestamp, `foregroundDeletion`) until its pods are gone. Meanwhile it is still the
/// operator's own Job going away, not a foreign object taking the name: no `NameConflict`,
/// no error; once it is gone, the operator recreates it.
#[tokio::test]
async fn its_job_deleted_in_the_foreground_is_waited_for_then_recreated() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "fg";
        let worker = format!("{name}-worker");
        s.create(name, 2).await;
        let (_, workers) = s.run_to_running(name, 2).await;
        let original = s.children(name).await;
        // Pods take their time to terminate (a kubelet gives them their grace period): one
        // is held by a finalizer until the test lets it go.
        let held = workers[0].name_any();
        set_finalizers(s, &held, |finalizers| finalizers.push(HOLD.to_owned())).await;
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        let before = s.reconciles();
        let marked = s
            .api::<Job>()
            .delete(&worker, &DeleteParams::foreground())
            .await
            .unwrap()
            .left()
            .expect("a Job with a foreground finalizer is marked, not removed");
        assert!(marked.metadata.deletion_timestamp.is_some());
        assert!(
            marked
                .finalizers()
                .iter()
                .any(|f| f == "foregroundDeletion")
        );
        // Without kube-controller-manager a real API server has no garbage collector: the
        // test deletes the pods as it would.
        let gc_by_hand = s.is_real_cluster() && !s.jobs().has_controller();
        if gc_by_hand {
            for pod in &workers {
                let _ = s
                    .api::<Pod>()
                    .delete(&pod.name_any(), &DeleteParams::background())
                    .await;
            }
        }
        poll("the held pod terminating", WAIT, || async {
            let pod = s.api::<Pod>().get(&held).await.map_err(|e| e.to_string())?;
            if pod.metadata.deletion_timestamp.is_some() {
                Ok(())
            } else {
                Err("not deleted yet".to_owned())
            }
        })
        .await;
        s.reconciled_since(before).await;
        // While it goes the test is Pending, recreating (as for any child deleted by someone
        // else), and stays so: waiting writes nothing.
        let waiting = s.get(name).await;
        assert_eq!(phase(&waiting), "Pending", "{}", waiting["status"]);
        assert_condition(
            &waiting,
            types::READY,
            "False",
            reasons::RESOURCES_CREATING,
            &format!("Recreating externally deleted resources: Job {worker}"),
        );
        tokio::time::sleep(QUIET).await;
        let later = s.get(name).await;
        assert_eq!(
            later["metadata"]["resourceVersion"], waiting["metadata"]["resourceVersion"],
            "no write while waiting: {} then {}",
            waiting["status"], later["status"]
        );
        let deleting = s.api::<Job>().get(&worker).await.unwrap();
        assert_eq!(
            deleting.metadata.uid, original.worker.metadata.uid,
            "the Job waits for its pods; nothing can take its name meanwhile"
        );
        assert!(deleting.metadata.deletion_timestamp.is_some());
        let list = s.events(name).await;
        assert_eq!(
            notes(&list, "NameConflict"),
            Vec::<(String, String)>::new(),
            "its own Job being deleted is no name conflict"
        );
        let child_owned_by_other = series(
            "locust_operator_reconcile_errors_by_kind_total",
            &format!("{CONTROLLER},kind=\"child_owned_by_other\""),
        );
        let text = s.metrics_text();
        assert_eq!(
            metric(&text, &child_owned_by_other).unwrap_or_default(),
            0.0,
            "{child_owned_by_other} in\n{text}"
        );

        // The pod goes, then the Job; the operator recreates it.
        set_finalizers(s, &held, |finalizers| finalizers.retain(|f| f != HOLD)).await;
        if gc_by_hand {
            let _ = s
                .api::<Job>()
                .patch(
                    &worker,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await;
        }
        let recreated = poll("the worker Job recreated", WAIT, || async {
            match s.api::<Job>().get_opt(&worker).await {
                Ok(Some(job)) if job.metadata.uid != original.worker.metadata.uid => Ok(job),
                other => Err(format!("{:?}", other.map(|j| j.map(|j| j.metadata.uid)))),
            }
        })
        .await;
        assert_eq!(built(&recreated), built(&original.worker));
        let list = s.wait_event(name, "Recreated").await;
        assert_eq!(
            notes(&list, "Recreated"),
            [(
                "Warning".to_owned(),
                format!("Recreated Job {worker}, {RECREATED_WHY}")
            )]
        );
        assert_eq!(occurrences(&list, "NameConflict"), 0);
        s.start_workers(name, 2).await;
        s.wait_for(name, "2/2 workers again", |t| {
            has(
                t,
                types::WORKERS_CONNECTED,
                "True",
                reasons::ALL_WORKERS_CONNECTED,
            )
        })
        .await;
        let text = s.metrics_text();
        assert_eq!(
            metric(&text, &child_owned_by_other).unwrap_or_default(),
            0.0,
            "{child_owned_by_other} in\n{text}"
        );
    })
    .await;
}

// =============================================================================================
// 3. Grace period

#[tokio::test]
async fn grace_period_then_failed_without_further_changes() {
    init_logs();
    let grace = Duration::from_secs(4);
    let mut options = Options::new();
    options.grace = grace;
    Scenario::run(options, async |s| {
        let name = "grace";
        s.create(name, 1).await;
        s.children(name).await;
        let pods = s.job_pods(&format!("{name}-master"), 1).await;
        let pod = sim::set_pod_waiting(
            s.client(),
            s.namespace(),
            &pods[0],
            "ErrImagePull",
            "pull access denied",
            false,
        )
        .await
        .unwrap();
        let created = pod.metadata.creation_timestamp.clone().unwrap().0;
        // Inside the grace period: starting, not failed.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let test = s.get(name).await;
        assert!(
            Timestamp::now() < created + grace,
            "the check ran inside the grace period"
        );
        assert_eq!(phase(&test), "Pending");
        assert_condition(
            &test,
            types::PODS_HEALTHY,
            "True",
            reasons::PODS_STARTING,
            "Pods are starting: failures are reported once a pod is older than the 4s grace period",
        );
        // After it, Failed: the controller looks again by itself.
        let test = s.wait_for(name, "Failed", |t| phase(t) == "Failed").await;
        let completed = time_of(&test["status"]["completionTime"]);
        assert!(
            completed >= created + grace,
            "failed at {completed}, the pod was created at {created}"
        );
        assert_condition(
            &test,
            types::PODS_HEALTHY,
            "False",
            reasons::IMAGE_PULL_ERROR,
            &format!(
                "ImagePullError: 1 pod(s) affected [{}]: ErrImagePull",
                pod.name_any()
            ),
        );
        // Nothing but the controller wrote since the pod's status.
        let now = s.api::<Pod>().get(&pod.name_any()).await.unwrap();
        assert_eq!(now.metadata.resource_version, pod.metadata.resource_version);
    })
    .await;
}

// =============================================================================================
// 4. Terminal phases never change

#[tokio::test]
async fn terminal_phase_never_changes() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "frozen";
        let (client, ns) = (s.client(), s.namespace());
        s.create(name, 2).await;
        let (master, workers) = s.run_to_running(name, 2).await;
        s.finish_master(name, &master).await;
        let done = s
            .wait_for(name, "Succeeded", |t| phase(t) == "Succeeded")
            .await;
        let events_before = event_summary(&s.wait_event(name, event_reasons::TEST_SUCCEEDED).await);

        // The master Job and pods look failed afterwards. Only without a Job controller can
        // the test write that on the Job (and a real API server may refuse a Failed condition
        // on a complete Job); with one, only the pods change.
        let before = s.reconciles();
        if !s.jobs().has_controller() {
            let _ = sim::fail_job(client, ns, &format!("{name}-master")).await;
        }
        sim::set_pod_evicted(
            client,
            ns,
            &workers[0],
            "The node was low on resource: memory.",
        )
        .await
        .unwrap();
        sim::set_pod_waiting(
            client,
            ns,
            &workers[1],
            "CrashLoopBackOff",
            "back-off",
            false,
        )
        .await
        .unwrap();
        s.settle(&format!("{name}-worker")).await;
        s.reconciled_since(before).await;
        tokio::time::sleep(operator::TEST_GRACE).await; // past every grace period
        let test = s.get(name).await;
        assert_eq!(
            test["status"], done["status"],
            "status frozen after failures"
        );

        // Pods and children deleted: nothing recreated, status unchanged.
        let before = s.reconciles();
        for pod in std::iter::once(&master).chain(&workers) {
            let _ = s
                .api::<Pod>()
                .delete(&pod.name_any(), &DeleteParams::background())
                .await;
        }
        for job in ["master", "worker"] {
            s.api::<Job>()
                .delete(&format!("{name}-{job}"), &DeleteParams::background())
                .await
                .unwrap();
        }
        s.api::<Service>()
            .delete(&format!("{name}-master"), &DeleteParams::background())
            .await
            .unwrap();
        s.reconciled_since(before).await;
        assert_eq!(
            s.children_now(name).await,
            Vec::<String>::new(),
            "nothing recreated"
        );
        let test = s.get(name).await;
        assert_eq!(
            test["status"], done["status"],
            "status frozen after deletions"
        );

        // A spec edit is still seen (SpecDrifted, observedGeneration); nothing else moves.
        s.patch_spec(name, json!({"worker": {"replicas": 3}})).await;
        let test = s
            .wait_for(name, "SpecDrifted=True", |t| {
                has(t, types::SPEC_DRIFTED, "True", reasons::SPEC_CHANGE_IGNORED)
            })
            .await;
        assert_eq!(phase(&test), "Succeeded");
        assert_eq!(test["status"]["observedGeneration"], 2);
        for key in [
            "startTime",
            "completionTime",
            "expectedWorkers",
            "connectedWorkers",
        ] {
            assert_eq!(test["status"][key], done["status"][key], "{key}");
        }
        for type_ in [
            types::READY,
            types::WORKERS_CONNECTED,
            types::PODS_HEALTHY,
            types::TEST_COMPLETED,
        ] {
            let (mut was, mut is) = (
                condition(&done, type_).unwrap().clone(),
                condition(&test, type_).unwrap().clone(),
            );
            was.as_object_mut().unwrap().remove("observedGeneration");
            is.as_object_mut().unwrap().remove("observedGeneration");
            assert_eq!(is, was, "{type_} frozen");
            assert_eq!(condition(&test, type_).unwrap()["observedGeneration"], 2);
        }
        assert_eq!(
            s.children_now(name).await,
            Vec::<String>::new(),
            "nothing recreated"
        );
        let list = s.wait_event(name, event_reasons::SPEC_CHANGE_IGNORED).await;
        let mut expected = events_before.clone();
        expected.push((event_reasons::SPEC_CHANGE_IGNORED.to_owned(), 1));
        expected.sort();
        assert_eq!(
            event_summary(&list),
            expected,
            "no Recreated, TestFailed or PodFailure"
        );
    })
    .await;
}

// =============================================================================================
// 5. SpecDrifted

#[tokio::test]
async fn spec_drift_is_reported_and_ignored() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "drift";
        s.create(name, 2).await;
        s.run_to_running(name, 2).await;
        let kids = s.children(name).await;
        let running = s.get(name).await;
        assert!(
            condition(&running, types::SPEC_DRIFTED).is_none(),
            "no SpecDrifted before an edit: {running}"
        );

        // Edit: the webhook warns but allows; the controller reports and ignores it.
        s.patch_spec(
            name,
            json!({"image": "locustio/locust:2.44.0", "worker": {"replicas": 3}}),
        )
        .await;
        let test = s
            .wait_for(name, "SpecDrifted=True", |t| {
                has(t, types::SPEC_DRIFTED, "True", reasons::SPEC_CHANGE_IGNORED)
            })
            .await;
        assert_condition(
            &test,
            types::SPEC_DRIFTED,
            "True",
            reasons::SPEC_CHANGE_IGNORED,
            MESSAGE_SPEC_DRIFTED,
        );
        assert_eq!(test["metadata"]["generation"], 2);
        assert_eq!(test["status"]["observedGeneration"], 2);
        assert_eq!(phase(&test), "Running");
        assert_eq!(
            test["status"]["expectedWorkers"], 2,
            "the edited replica count is ignored"
        );
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "True",
            reasons::ALL_WORKERS_CONNECTED,
            "2/2 workers connected",
        );
        let list = s.wait_event(name, event_reasons::SPEC_CHANGE_IGNORED).await;
        assert_eq!(
            notes(&list, event_reasons::SPEC_CHANGE_IGNORED),
            [("Warning".to_owned(), MESSAGE_SPEC_DRIFTED.to_owned())]
        );
        let now = s.children(name).await;
        assert_eq!(now.versions(), kids.versions(), "no child written");
        assert_eq!(now.worker.spec, kids.worker.spec);
        assert_eq!(now.master.spec, kids.master.spec);

        // Edit back: SpecDrifted goes away.
        s.patch_spec(name, json!({"image": IMAGE, "worker": {"replicas": 2}}))
            .await;
        let test = s
            .wait_for(name, "SpecDrifted gone", |t| {
                condition(t, types::SPEC_DRIFTED).is_none()
                    && t["status"]["observedGeneration"] == 3
            })
            .await;
        assert_eq!(phase(&test), "Running");
        let list = s.wait_event(name, event_reasons::SPEC_RESTORED).await;
        assert_eq!(
            notes(&list, event_reasons::SPEC_RESTORED),
            [("Normal".to_owned(), MESSAGE_SPEC_RESTORED.to_owned())]
        );
        assert_eq!(occurrences(&list, event_reasons::SPEC_CHANGE_IGNORED), 1);
        assert_eq!(
            s.children(name).await.versions(),
            kids.versions(),
            "no child written"
        );
    })
    .await;
}

// =============================================================================================
// 6. External deletion in Running: recreated from the original spec

#[tokio::test]
async fn externally_deleted_children_are_recreated_from_the_original_spec() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "recover";
        let uid = s.create(name, 2).await;
        s.run_to_running(name, 2).await;
        let started = s.get(name).await["status"]["startTime"].clone();
        let original = s.children(name).await;
        let log = PhaseLog::start(s, name);
        log.expect(&["Running"]).await;

        // The spec is edited (ignored), then the worker Job is deleted by someone else.
        s.patch_spec(
            name,
            json!({"image": "locustio/locust:2.44.0", "worker": {"replicas": 3}}),
        )
        .await;
        s.wait_for(name, "SpecDrifted=True", |t| {
            has(t, types::SPEC_DRIFTED, "True", reasons::SPEC_CHANGE_IGNORED)
        })
        .await;
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        s.api::<Job>()
            .delete(&format!("{name}-worker"), &DeleteParams::background())
            .await
            .unwrap();
        let worker = poll("the worker Job recreated", WAIT, || async {
            match s.api::<Job>().get_opt(&format!("{name}-worker")).await {
                Ok(Some(job)) if job.metadata.uid != original.worker.metadata.uid => Ok(job),
                other => Err(format!("{:?}", other.map(|j| j.map(|j| j.metadata.uid)))),
            }
        })
        .await;
        assert_eq!(
            worker.spec.as_ref().unwrap().parallelism,
            Some(2),
            "original replicas"
        );
        assert_eq!(
            built(&worker),
            built(&original.worker),
            "built from the original spec"
        );
        let image = worker
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone();
        assert_eq!(image.as_deref(), Some(IMAGE));
        assert_eq!(owner_uid(&worker.metadata), std::slice::from_ref(&uid));
        let list = s.wait_event(name, "Recreated").await;
        assert_eq!(
            notes(&list, "Recreated"),
            [(
                "Warning".to_owned(),
                format!("Recreated Job {name}-worker, {RECREATED_WHY}")
            )]
        );
        log.expect(&["Running", "Pending", "Running"]).await;
        // The new worker pods connect again.
        let test = s.get(name).await;
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WAITING_FOR_WORKERS,
            "0/2 workers connected",
        );
        s.start_workers(name, 2).await;
        s.wait_for(name, "2/2 workers again", |t| {
            has(
                t,
                types::WORKERS_CONNECTED,
                "True",
                reasons::ALL_WORKERS_CONNECTED,
            )
        })
        .await;

        // The Service.
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        s.api::<Service>()
            .delete(&format!("{name}-master"), &DeleteParams::background())
            .await
            .unwrap();
        let service = poll("the Service recreated", WAIT, || async {
            match s.api::<Service>().get_opt(&format!("{name}-master")).await {
                Ok(Some(s)) if s.metadata.uid != original.service.metadata.uid => Ok(s),
                other => Err(format!("{:?}", other.map(|s| s.map(|s| s.metadata.uid)))),
            }
        })
        .await;
        assert_eq!(
            service.spec.as_ref().unwrap().ports,
            original.service.spec.as_ref().unwrap().ports
        );
        log.expect(&["Running", "Pending", "Running", "Pending", "Running"])
            .await;

        // The master Job: Pending until its new pod runs.
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        s.api::<Job>()
            .delete(&format!("{name}-master"), &DeleteParams::background())
            .await
            .unwrap();
        let master = poll("the master Job recreated", WAIT, || async {
            match s.api::<Job>().get_opt(&format!("{name}-master")).await {
                Ok(Some(job)) if job.metadata.uid != original.master.metadata.uid => Ok(job),
                other => Err(format!("{:?}", other.map(|j| j.map(|j| j.metadata.uid)))),
            }
        })
        .await;
        assert_eq!(
            built(&master),
            built(&original.master),
            "built from the original spec"
        );
        log.expect(&[
            "Running", "Pending", "Running", "Pending", "Running", "Pending",
        ])
        .await;
        tokio::time::sleep(QUIET).await;
        assert_eq!(
            phase(&s.get(name).await),
            "Pending",
            "until the new master runs"
        );
        s.start_master(name).await;
        let test = s
            .wait_for(name, "Running again", |t| phase(t) == "Running")
            .await;
        log.expect(&[
            "Running", "Pending", "Running", "Pending", "Running", "Pending", "Running",
        ])
        .await;
        assert_eq!(test["status"]["startTime"], started, "startTime kept");

        let list = s.events(name).await;
        assert_eq!(occurrences(&list, "Recreated"), 3);
        assert_eq!(occurrences(&list, "Created"), 1);
        assert_eq!(occurrences(&list, event_reasons::TEST_STARTED), 1);
    })
    .await;
}

// =============================================================================================
// 7. Operator restart mid-test

#[tokio::test]
async fn operator_restart_mid_test() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "restart";
        s.create(name, 2).await;
        let kids = s.children(name).await;
        let master = s.start_master(name).await;
        let workers = s.start_one_of_two_workers(name).await;
        s.wait_for(name, "Running, 1/2", |t| {
            phase(t) == "Running"
                && has(
                    t,
                    types::WORKERS_CONNECTED,
                    "False",
                    reasons::WORKERS_MISSING,
                )
        })
        .await;
        s.wait_event(name, event_reasons::TEST_STARTED).await;
        s.stop_operator().await;

        // While it is down, the second worker connects.
        s.connect_second_worker(name, &workers).await;
        tokio::time::sleep(QUIET).await;
        assert_eq!(
            s.get(name).await["status"]["connectedWorkers"],
            1,
            "nobody reconciles"
        );

        // A new operator catches up without recreating or re-announcing anything.
        s.start_operator(Options::new());
        let test = s
            .wait_for(name, "2/2 after the restart", |t| {
                has(
                    t,
                    types::WORKERS_CONNECTED,
                    "True",
                    reasons::ALL_WORKERS_CONNECTED,
                )
            })
            .await;
        assert_eq!(phase(&test), "Running");
        assert_eq!(
            s.children(name).await.uids(),
            kids.uids(),
            "nothing recreated"
        );
        let list = s.events(name).await;
        assert_eq!(occurrences(&list, "Created"), 1);
        assert_eq!(occurrences(&list, event_reasons::TEST_STARTED), 1);
        s.stop_operator().await;

        // A restart where nothing changed writes nothing.
        let kids = s.children(name).await;
        let rv = s.get(name).await["metadata"]["resourceVersion"].clone();
        let summary = event_summary(&s.events(name).await);
        s.start_operator(Options::new());
        poll("caches synced", WAIT, || async {
            if s.state().caches_synced() {
                Ok(())
            } else {
                Err("not yet")
            }
        })
        .await;
        s.reconciled_since(0.0).await;
        assert_eq!(
            s.get(name).await["metadata"]["resourceVersion"],
            rv,
            "no status write"
        );
        assert_eq!(
            s.children(name).await.versions(),
            kids.versions(),
            "no child write"
        );
        assert_eq!(event_summary(&s.events(name).await), summary, "no event");
        s.stop_operator().await;

        // The test ends while no operator runs.
        s.finish_master(name, &master).await;
        s.start_operator(Options::new());
        let test = s
            .wait_for(name, "Succeeded", |t| phase(t) == "Succeeded")
            .await;
        assert_condition(
            &test,
            types::TEST_COMPLETED,
            "True",
            reasons::TEST_SUCCEEDED,
            MESSAGE_TEST_SUCCEEDED,
        );
        let list = s.wait_event(name, event_reasons::TEST_SUCCEEDED).await;
        for reason in [
            "Created",
            event_reasons::TEST_STARTED,
            event_reasons::TEST_SUCCEEDED,
        ] {
            assert_eq!(occurrences(&list, reason), 1, "{reason}");
        }
        assert_eq!(occurrences(&list, "Recreated"), 0);
        assert_eq!(s.children(name).await.uids(), kids.uids());
    })
    .await;
}

// =============================================================================================
// 8. Transient API errors (harness only: fault injection)

#[tokio::test]
async fn transient_api_errors_converge_without_duplicates() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let Some(harness) = s.harness() else {
            eprintln!("skipped in real-cluster mode: fault injection needs the harness");
            return;
        };
        let faults = harness.faults();
        let post_jobs = Filter {
            method: Some(hyper::Method::POST),
            path_contains: Some("/jobs".into()),
        };
        let status_of = |name: &str| Filter {
            method: Some(hyper::Method::PATCH),
            path_contains: Some(format!("/locusttests/{name}/status")),
        };

        // Job creates fail twice.
        let name = "t-jobs";
        faults.fail_next(post_jobs.clone(), 2, 500);
        let log = PhaseLog::start(s, name);
        s.create(name, 1).await;
        let kids = s.children(name).await;
        s.wait_for(name, "Ready", |t| {
            has(t, types::READY, "True", reasons::RESOURCES_CREATED)
        })
        .await;
        assert!(faults.injected() >= 2);
        let list = s.wait_event(name, "Created").await;
        assert_eq!(
            occurrences(&list, "Created"),
            1,
            "{:?}",
            notes(&list, "Created")
        );
        assert_eq!(occurrences(&list, "Recreated"), 0);
        let labelled = ListParams::default().labels(&format!("performance-test-name={name}"));
        assert_eq!(s.api::<Job>().list(&labelled).await.unwrap().items.len(), 2);
        assert_eq!(
            s.api::<Service>()
                .list(&labelled)
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        s.run_to_running(name, 1).await;
        assert_eq!(s.children(name).await.uids(), kids.uids());
        log.expect(&["Pending", "Running"]).await;

        // The first status write fails: the creation is still announced, once.
        let name = "t-status";
        faults.fail_next(status_of(name), 1, 500);
        let log = PhaseLog::start(s, name);
        s.create(name, 1).await;
        let kids = s.children(name).await;
        s.wait_for(name, "Ready", |t| {
            has(t, types::READY, "True", reasons::RESOURCES_CREATED)
        })
        .await;
        let list = s.wait_event(name, "Created").await;
        assert_eq!(occurrences(&list, "Created"), 1);
        // The status write of the transition to Running fails twice (500), then conflicts
        // twice (409): TestStarted once, no phase regression.
        faults.fail_next(status_of(name), 2, 500);
        faults.fail_next(status_of(name), 2, 409);
        let master = s.start_master(name).await;
        s.start_workers(name, 1).await;
        s.wait_for(name, "Running", |t| phase(t) == "Running").await;
        s.wait_event(name, event_reasons::TEST_STARTED).await;
        tokio::time::sleep(QUIET).await;
        let list = s.events(name).await;
        assert_eq!(occurrences(&list, event_reasons::TEST_STARTED), 1);
        // The watches break and the history is compacted: every watch resumes with 410 Gone
        // and relists. No child is thought missing, nothing is recreated. (Each 410 is an error
        // of the controller's trigger stream, which kube backs off as a whole, exponentially
        // from 0.8 s: the controller resumes after several seconds.)
        harness.compact();
        harness.drop_watches();
        tokio::time::sleep(Duration::from_secs(1)).await;
        faults.fail_next(status_of(name), 1, 500);
        s.finish_master(name, &master).await;
        poll("Succeeded after the watches recover", 2 * WAIT, || async {
            let test = s.get(name).await;
            if phase(&test) == "Succeeded" {
                Ok(())
            } else {
                Err(test["status"].to_string())
            }
        })
        .await;
        s.wait_event(name, event_reasons::TEST_SUCCEEDED).await;
        tokio::time::sleep(QUIET).await;
        let list = s.events(name).await;
        for reason in [
            "Created",
            event_reasons::TEST_STARTED,
            event_reasons::TEST_SUCCEEDED,
        ] {
            assert_eq!(
                occurrences(&list, reason),
                1,
                "{reason}: {:?}",
                event_summary(&list)
            );
        }
        assert_eq!(occurrences(&list, "Recreated"), 0);
        assert_eq!(
            s.children(name).await.uids(),
            kids.uids(),
            "nothing recreated"
        );
        log.expect(&["Pending", "Running", "Succeeded"]).await;
        let text = s.metrics_text();
        for kind in ["create_child", "write_status", "conflict"] {
            let series = series(
                "locust_operator_reconcile_errors_by_kind_total",
                &format!("{CONTROLLER},kind=\"{kind}\""),
            );
            assert!(
                metric(&text, &series).is_some_and(|v| v >= 1.0),
                "{series} in\n{text}"
            );
        }
    })
    .await;
}

// =============================================================================================
// 9. `kubectl wait` conditions

/// `kubectl wait --for=condition=<type>`: the condition is True (and, when it says which
/// generation it describes, describes the current one).
fn condition_met(type_: &'static str) -> impl Fn(Option<&DynamicObject>) -> bool {
    move |object| {
        object.is_some_and(|o| {
            o.data["status"]["conditions"]
                .as_array()
                .is_some_and(|all| {
                    all.iter().any(|c| {
                        c["type"] == type_
                            && c["status"] == "True"
                            && (c["observedGeneration"].is_null()
                                || c["observedGeneration"].as_i64() == o.metadata.generation)
                    })
                })
        })
    }
}

/// `kubectl wait --for=jsonpath='{.status.phase}'=<value>`.
fn phase_is(value: &'static str) -> impl Fn(Option<&DynamicObject>) -> bool {
    move |object| object.is_some_and(|o| o.data["status"]["phase"] == value)
}

#[tokio::test]
async fn kubectl_wait_conditions() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "waited";
        s.create(name, 1).await;
        let api = s.locust_tests("v2");
        let ready = tokio::spawn({
            let api = api.clone();
            async move { await_condition(api, name, condition_met(types::READY)).await }
        });
        let succeeded = tokio::spawn({
            let api = api.clone();
            async move { await_condition(api, name, phase_is("Succeeded")).await }
        });
        // --for=condition=Ready --timeout=5m: Ready while still Pending.
        let object = e2e::bounded("kubectl wait --for=condition=Ready", WAIT, ready)
            .await
            .unwrap()
            .unwrap()
            .expect("the test exists");
        assert!(!succeeded.is_finished());
        let test = serde_json::to_value(&object).unwrap();
        assert_condition(
            &test,
            types::READY,
            "True",
            reasons::RESOURCES_CREATED,
            MESSAGE_RESOURCES_CREATED,
        );

        let (master, _) = s.run_to_running(name, 1).await;
        tokio::time::sleep(QUIET).await;
        assert!(!succeeded.is_finished(), "Running is not Succeeded");
        s.finish_master(name, &master).await;
        // --for=jsonpath='{.status.phase}'=Succeeded --timeout=30m
        let object = e2e::bounded("kubectl wait --for=jsonpath=...=Succeeded", WAIT, succeeded)
            .await
            .unwrap()
            .unwrap()
            .expect("the test exists");
        assert_eq!(object.data["status"]["phase"], "Succeeded");
        // Once met, a new wait returns at once.
        let again = e2e::bounded(
            "kubectl wait --for=condition=TestCompleted",
            WAIT,
            await_condition(api.clone(), name, condition_met(types::TEST_COMPLETED)),
        )
        .await
        .unwrap();
        assert!(again.is_some());
    })
    .await;
}

// =============================================================================================
// 10. Compat Part C: idempotence, two namespaces, rapid create/delete, invalid spec

#[tokio::test]
async fn a_reconcile_without_changes_writes_nothing() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "idem";
        s.create(name, 2).await;
        s.run_to_running(name, 2).await;
        tokio::time::sleep(QUIET).await;
        let kids = s.children(name).await;
        let test = s.get(name).await;
        let summary = event_summary(&s.events(name).await);

        // A label (metadata only) triggers a reconcile that must change nothing.
        let before = s.reconciles();
        let labelled = s
            .locust_tests("v2")
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"team": "checkout"}}})),
            )
            .await
            .unwrap();
        s.reconciled_since(before).await;
        let now = s.get(name).await;
        assert_eq!(
            now["metadata"]["resourceVersion"].as_str(),
            labelled.metadata.resource_version.as_deref(),
            "only the label was written"
        );
        assert_eq!(now["status"], test["status"]);
        assert_eq!(
            now["metadata"]["generation"],
            test["metadata"]["generation"]
        );
        assert_eq!(s.children(name).await.versions(), kids.versions());
        assert_eq!(event_summary(&s.events(name).await), summary);
    })
    .await;
}

#[tokio::test]
async fn same_name_in_two_namespaces() {
    init_logs();
    Scenario::run_without_operator(async |s| {
        let other = s.create_namespace().await;
        let mut options = Options::new();
        options.extra_namespaces = vec![other.namespace().to_owned()];
        s.start_operator(options);
        let name = "twin";
        let first = s.create(name, 1).await;
        let second = other.create(name, 2).await;
        assert_ne!(first, second);
        let here = s.children(name).await;
        let there = other.children(name).await;
        for (kids, uid) in [(&here, &first), (&there, &second)] {
            for meta in [
                &kids.service.metadata,
                &kids.master.metadata,
                &kids.worker.metadata,
            ] {
                assert_eq!(
                    owner_uid(meta),
                    std::slice::from_ref(uid),
                    "{:?}",
                    meta.namespace
                );
            }
        }
        assert_eq!(here.worker.spec.as_ref().unwrap().parallelism, Some(1));
        assert_eq!(there.worker.spec.as_ref().unwrap().parallelism, Some(2));
        // Only the first runs; the other stays Pending.
        let (master, _) = s.run_to_running(name, 1).await;
        s.finish_master(name, &master).await;
        s.wait_for(name, "Succeeded", |t| phase(t) == "Succeeded")
            .await;
        let twin = other
            .wait_for(name, "Pending, Ready", |t| {
                has(t, types::READY, "True", reasons::RESOURCES_CREATED)
            })
            .await;
        assert_eq!(phase(&twin), "Pending");
        assert_eq!(twin["status"]["expectedWorkers"], 2);
        let list = other.events(name).await;
        assert_eq!(occurrences(&list, event_reasons::TEST_SUCCEEDED), 0);
        assert_eq!(occurrences(&list, "Created"), 1);
    })
    .await;
}

#[tokio::test]
async fn rapid_create_delete_create_never_adopts() {
    init_logs();
    Scenario::run(Options::new(), async |s| {
        let name = "again";
        let old_uid = s.create(name, 1).await;
        let old = s.children(name).await;
        s.locust_tests("v2")
            .delete(name, &DeleteParams::background())
            .await
            .unwrap();
        let new_uid = s.create(name, 2).await;
        assert_ne!(old_uid, new_uid);
        // The garbage collector removes the old children (done here when the API server has
        // none, as envtest).
        for child in [format!("{name}-master"), format!("{name}-worker")] {
            if let Ok(Some(job)) = s.api::<Job>().get_opt(&child).await
                && owner_uid(&job.metadata) == [old_uid.clone()]
            {
                let _ = s
                    .api::<Job>()
                    .delete(&child, &DeleteParams::background())
                    .await;
            }
        }
        if let Ok(Some(service)) = s.api::<Service>().get_opt(&format!("{name}-master")).await
            && owner_uid(&service.metadata) == [old_uid.clone()]
        {
            let _ = s
                .api::<Service>()
                .delete(&format!("{name}-master"), &DeleteParams::background())
                .await;
        }
        // New children, owned by the new test only, never the old objects.
        let kids = poll("children of the new test", WAIT, || async {
            let kids = s.children(name).await;
            let owned = [
                &kids.service.metadata,
                &kids.master.metadata,
                &kids.worker.metadata,
            ]
            .iter()
            .all(|m| owner_uid(m) == [new_uid.clone()]);
            if owned {
                Ok(kids)
            } else {
                Err(kids.versions())
            }
        })
        .await;
        for (now, then) in kids.versions().iter().zip(old.versions()) {
            assert_ne!(now.1, then.1, "{} is a new object", now.0);
        }
        assert_eq!(kids.worker.spec.as_ref().unwrap().parallelism, Some(2));
        let test = s
            .wait_for(name, "Ready", |t| {
                has(t, types::READY, "True", reasons::RESOURCES_CREATED)
            })
            .await;
        assert_eq!(test["metadata"]["uid"], new_uid.as_str());
        assert_eq!(test["status"]["expectedWorkers"], 2);
    })
    .await;
}

/// An invalid test that slipped past admission: with a real API server, in a namespace the
/// test's webhooks do not cover; with the harness, on a harness without webhooks.
#[tokio::test]
async fn invalid_spec_that_bypassed_admission() {
    init_logs();
    Scenario::run_without_admission(Options::new(), async |s| {
        let name = "invalid";
        let mut object = manifest(name, 2);
        object["spec"]["master"]["resources"] =
            json!({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}});
        s.create_from(object.clone()).await;
        let typed: LocustTest = serde_json::from_value(object).unwrap();
        let report = validate(&typed);
        assert!(!report.is_valid());
        let message = format!("Invalid spec: {}", report.error_message());
        assert!(
            message.contains("spec.master.resources.requests.memory"),
            "{message}"
        );

        let before = s.reconciles();
        let test = s
            .wait_for(name, "Ready=False InvalidSpec", |t| {
                has(t, types::READY, "False", reasons::INVALID_SPEC)
            })
            .await;
        assert_condition(
            &test,
            types::READY,
            "False",
            reasons::INVALID_SPEC,
            &message,
        );
        assert_eq!(phase(&test), "Pending");
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WAITING_FOR_WORKERS,
            "0/2 workers connected",
        );
        assert!(test["metadata"]["annotations"][ANNOTATION_ORIGINAL_SPEC].is_null());
        let list = s.wait_event(name, event_reasons::INVALID_SPEC).await;
        assert_eq!(
            notes(&list, event_reasons::INVALID_SPEC),
            [("Warning".to_owned(), message.clone())]
        );
        s.reconciled_since(before).await;
        let jobs = s.api::<Job>();
        let services = s.api::<Service>();
        assert!(
            jobs.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty(),
            "no Job"
        );
        assert!(
            services
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty(),
            "no Service"
        );

        // Fixed: now it is built.
        s.locust_tests("v2")
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"master": {"resources": {"limits": {"memory": "4Gi"}}}}}),
                ),
            )
            .await
            .unwrap();
        s.children(name).await;
        let test = s
            .wait_for(name, "Ready", |t| {
                has(t, types::READY, "True", reasons::RESOURCES_CREATED)
            })
            .await;
        assert!(test["metadata"]["annotations"][ANNOTATION_ORIGINAL_SPEC].is_string());
        assert_eq!(
            occurrences(&s.events(name).await, event_reasons::INVALID_SPEC),
            1
        );
    })
    .await;
}
