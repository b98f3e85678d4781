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
#[path = "support/operator.rs"]
mod operator;
#[path = "support/test_status.rs"]
mod test_status;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{Env, poll, within};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Namespace, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::runtime::wait::await_condition;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use locust_operator::api::LocustTest;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::controller::plan::{ANNOTATION_ORIGINAL_SPEC, encode_original};
use locust_operator::status::{
    MESSAGE_EVENT_SUCCEEDED, MESSAGE_PODS_HEALTHY, MESSAGE_RESOURCES_CREATED, MESSAGE_SPEC_DRIFTED,
    MESSAGE_SPEC_RESTORED, MESSAGE_TEST_NOT_STARTED, MESSAGE_TEST_RUNNING, MESSAGE_TEST_STARTED,
    MESSAGE_TEST_SUCCEEDED, MESSAGE_WAITING_FOR_PODS, event_reasons,
};
use locust_operator::validation::validate;
use memory_apiserver::{ApiServer, Filter, sim};
use operator::{Operator, Options};
use serde_json::{Value, json};
use test_status::{condition, has, phase};

const IMAGE: &str = "locustio/locust:2.43.3";
/// The Job controller's message of a Job that failed its backoff limit.
const BACKOFF_LIMIT_MESSAGE: &str = "Job has reached the specified backoff limit";
/// The end of the `Recreated` event's message.
const RECREATED_WHY: &str = "deleted by someone else, from the spec the test started with";
/// Upper bound of one wait for the controller.
const WAIT: Duration = Duration::from_secs(30);
/// How long "nothing happens" is watched for.
const QUIET: Duration = Duration::from_millis(400);

/// Logs of the operator in the test's output (`RUST_LOG` overrides; shown for failing tests
/// or with `--nocapture`).
fn init_logs() {
    logs::init("locust_operator=info");
}

// ---------------------------------------------------------------------------------------------
// The test object

const MASTER_COMMAND: &str =
    "--locustfile /lotest/src/t.py --host https://shop.example.com --users 10 --run-time 1m";

fn manifest(name: &str, workers: i64) -> Value {
    json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": name},
        "spec": {
            "image": IMAGE,
            "master": {"command": MASTER_COMMAND},
            "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": workers}
        }
    })
}

fn tests_api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &e2e::locust_test_resource("v2"))
}

/// Creates the test from `manifest` and returns its uid.
async fn create_in(client: &Client, namespace: &str, manifest: Value) -> String {
    let object: DynamicObject = serde_json::from_value(manifest).unwrap();
    let name = object.name_any();
    tests_api(client, namespace)
        .create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("create {namespace}/{name}: {e}"))
        .uid()
        .expect("a uid")
}

async fn create(env: &Env, name: &str, workers: i64) -> String {
    create_in(env.client(), env.namespace(), manifest(name, workers)).await
}

async fn get_in(client: &Client, namespace: &str, name: &str) -> Value {
    let test = tests_api(client, namespace)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get {namespace}/{name}: {e}"));
    serde_json::to_value(test).unwrap()
}

async fn get(env: &Env, name: &str) -> Value {
    get_in(env.client(), env.namespace(), name).await
}

async fn patch_spec(env: &Env, name: &str, spec: Value) {
    env.locust_tests("v2")
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .unwrap_or_else(|e| panic!("edit the spec of {name}: {e}"));
}

/// The condition has exactly this status, reason and message, the test's generation and a
/// transition time.
#[track_caller]
fn assert_condition(test: &Value, type_: &str, status: &str, reason: &str, message: &str) {
    let name = test["metadata"]["name"].as_str().unwrap_or_default();
    let found = condition(test, type_)
        .unwrap_or_else(|| panic!("{name}: no {type_} condition in {}", test["status"]));
    assert_eq!(
        (
            found["status"].as_str(),
            found["reason"].as_str(),
            found["message"].as_str()
        ),
        (Some(status), Some(reason), Some(message)),
        "{name}: condition {type_}"
    );
    assert_eq!(
        found["observedGeneration"], test["metadata"]["generation"],
        "{name}: {type_}.observedGeneration"
    );
    assert!(
        found["lastTransitionTime"]
            .as_str()
            .is_some_and(|t| t.parse::<Timestamp>().is_ok()),
        "{name}: {type_}.lastTransitionTime"
    );
}

fn condition_types(test: &Value) -> Vec<String> {
    test["status"]["conditions"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn time_of(value: &Value) -> Timestamp {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .parse()
        .unwrap()
}

/// Polls the test until `pred` holds; returns it.
async fn wait_in(
    client: &Client,
    namespace: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let api = tests_api(client, namespace);
    let (api, pred) = (&api, &pred);
    poll(
        &format!("{namespace}/{name}: {what}"),
        WAIT,
        || async move {
            let test = api.get(name).await.map_err(|e| e.to_string())?;
            let test = serde_json::to_value(test).unwrap();
            if pred(&test) {
                Ok(test)
            } else {
                Err(test["status"].to_string())
            }
        },
    )
    .await
}

async fn wait_for(env: &Env, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_in(env.client(), env.namespace(), name, what, pred).await
}

// ---------------------------------------------------------------------------------------------
// Children, pods, Jobs (what kubelet and the Job controller would write)

struct Children {
    service: Service,
    master: Job,
    worker: Job,
}

impl Children {
    /// `(kind/name, uid)` of each: which objects they are.
    fn uids(&self) -> Vec<(String, String)> {
        self.versions()
            .into_iter()
            .map(|(k, u, _)| (k, u))
            .collect()
    }

    /// `(kind/name, uid, resourceVersion)` of each: which objects, as last written.
    fn versions(&self) -> Vec<(String, String, String)> {
        let row =
            |kind: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
                (
                    format!("{kind}/{}", meta.name.clone().unwrap_or_default()),
                    meta.uid.clone().unwrap_or_default(),
                    meta.resource_version.clone().unwrap_or_default(),
                )
            };
        vec![
            row("Service", &self.service.metadata),
            row("Job", &self.master.metadata),
            row("Job", &self.worker.metadata),
        ]
    }
}

async fn children_in(client: &Client, namespace: &str, name: &str) -> Children {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let (jobs, services) = (&jobs, &services);
    poll(
        &format!("{namespace}/{name}: children"),
        WAIT,
        || async move {
            Ok::<_, kube::Error>(Children {
                service: services.get(&format!("{name}-master")).await?,
                master: jobs.get(&format!("{name}-master")).await?,
                worker: jobs.get(&format!("{name}-worker")).await?,
            })
        },
    )
    .await
}

async fn children(env: &Env, name: &str) -> Children {
    children_in(env.client(), env.namespace(), name).await
}

/// The children that exist now (no waiting).
async fn children_now(env: &Env, name: &str) -> Vec<String> {
    let jobs = env.api::<Job>();
    let services = env.api::<Service>();
    let mut found = Vec::new();
    if services
        .get_opt(&format!("{name}-master"))
        .await
        .unwrap()
        .is_some()
    {
        found.push(format!("Service/{name}-master"));
    }
    for role in ["master", "worker"] {
        if jobs
            .get_opt(&format!("{name}-{role}"))
            .await
            .unwrap()
            .is_some()
        {
            found.push(format!("Job/{name}-{role}"));
        }
    }
    found
}

/// `count` active pods of `job`: the Job controller's, or (without one) created as it would.
async fn job_pods(env: &Env, job: &str, count: usize) -> Vec<Pod> {
    env.jobs().pods(job, count).await
}

async fn set_running(env: &Env, pods: &[Pod]) {
    for pod in pods {
        sim::set_pod_running(env.client(), env.namespace(), pod, true)
            .await
            .unwrap();
    }
}

/// The Job's status follows its pods (written by the Job controller, or without one as it
/// would).
async fn settle(env: &Env, job: &str) -> Job {
    env.jobs().settle(job).await
}

/// The master pod running and ready, its Job reporting it.
async fn start_master(env: &Env, name: &str) -> Pod {
    let job = format!("{name}-master");
    let pods = job_pods(env, &job, 1).await;
    set_running(env, &pods).await;
    settle(env, &job).await;
    pods.into_iter().next().unwrap()
}

/// `workers` worker pods running and ready, their Job reporting them.
async fn start_workers(env: &Env, name: &str, workers: usize) -> Vec<Pod> {
    let job = format!("{name}-worker");
    let pods = job_pods(env, &job, workers).await;
    set_running(env, &pods).await;
    settle(env, &job).await;
    pods
}

/// Two worker pods running, the first ready (connected), the second not yet; the worker Job
/// reporting them (`ready: 1`).
async fn start_one_of_two_workers(env: &Env, name: &str) -> Vec<Pod> {
    let job = format!("{name}-worker");
    let workers = job_pods(env, &job, 2).await;
    let (client, ns) = (env.client(), env.namespace());
    sim::set_pod_running(client, ns, &workers[0], true)
        .await
        .unwrap();
    sim::set_pod_running(client, ns, &workers[1], false)
        .await
        .unwrap();
    settle(env, &job).await;
    workers
}

/// The second worker of [`start_one_of_two_workers`] becomes ready too.
async fn connect_second_worker(env: &Env, name: &str, workers: &[Pod]) {
    sim::set_pod_running(env.client(), env.namespace(), &workers[1], true)
        .await
        .unwrap();
    settle(env, &format!("{name}-worker")).await;
}

/// From creation to `Running` with every worker connected.
async fn run_to_running(env: &Env, name: &str, workers: usize) -> (Pod, Vec<Pod>) {
    children(env, name).await;
    let master = start_master(env, name).await;
    let workers = start_workers(env, name, workers).await;
    wait_for(env, name, "Running, all workers connected", |t| {
        phase(t) == "Running"
            && has(
                t,
                types::WORKERS_CONNECTED,
                "True",
                reasons::ALL_WORKERS_CONNECTED,
            )
    })
    .await;
    (master, workers)
}

/// The master exited 0 and its Job completed.
async fn finish_master(env: &Env, name: &str, master: &Pod) {
    sim::set_pod_terminated(env.client(), env.namespace(), master, 0, "Completed")
        .await
        .unwrap();
    let job = settle(env, &format!("{name}-master")).await;
    assert!(e2e::jobs::finished(&job, "Complete"), "{:?}", job.status);
}

/// What the operator built of a Job: its spec without what the API server derives from the
/// Job's uid (selector, `controller-uid` labels).
fn built(job: &Job) -> Value {
    let mut spec = serde_json::to_value(job.spec.as_ref().unwrap()).unwrap();
    spec.as_object_mut().unwrap().remove("selector");
    if let Some(labels) = spec
        .pointer_mut("/template/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.retain(|key, _| !key.contains("controller-uid") && !key.contains("job-name"));
    }
    spec
}

fn owner_uid(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Vec<String> {
    meta.owner_references
        .iter()
        .flatten()
        .filter(|o| o.controller == Some(true))
        .map(|o| o.uid.clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Events

async fn events_in(client: &Client, namespace: &str, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect()
}

async fn events(env: &Env, name: &str) -> Vec<Event> {
    events_in(env.client(), env.namespace(), name).await
}

/// How often an event with `reason` was recorded (objects and their series counts).
fn occurrences(events: &[Event], reason: &str) -> i32 {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

/// `(type, note)` of the events with `reason`.
fn notes(events: &[Event], reason: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| {
            (
                e.type_.clone().unwrap_or_default(),
                e.note.clone().unwrap_or_default(),
            )
        })
        .collect()
}

async fn wait_event_in(client: &Client, namespace: &str, name: &str, reason: &str) -> Vec<Event> {
    poll(
        &format!("{namespace}/{name}: event {reason}"),
        WAIT,
        || async {
            let list = events_in(client, namespace, name).await;
            if occurrences(&list, reason) > 0 {
                Ok(list)
            } else {
                Err(list
                    .iter()
                    .map(|e| e.reason.clone().unwrap_or_default())
                    .collect::<Vec<_>>())
            }
        },
    )
    .await
}

async fn wait_event(env: &Env, name: &str, reason: &str) -> Vec<Event> {
    wait_event_in(env.client(), env.namespace(), name, reason).await
}

/// Every event of the test as `(reason, occurrences)`, sorted: what "no new event" compares.
fn event_summary(events: &[Event]) -> Vec<(String, i32)> {
    let mut summary: Vec<(String, i32)> = events
        .iter()
        .map(|e| {
            (
                e.reason.clone().unwrap_or_default(),
                e.series.as_ref().map_or(1, |s| s.count),
            )
        })
        .collect();
    summary.sort();
    summary
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// The `controller` label of the reconcile metrics.
const CONTROLLER: &str = "controller=\"locusttest\"";

/// `name{labels}`.
fn series(name: &str, labels: &str) -> String {
    format!("{name}{{{labels}}}")
}

/// The value of one series (`name{labels}`) in the metrics text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Reconciles finished so far, whatever their result.
fn reconciles(op: &Operator) -> f64 {
    op.metrics_text()
        .lines()
        .filter(|l| l.starts_with("controller_runtime_reconcile_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until a reconcile finished after `before` was read, then for [`QUIET`].
async fn reconciled_since(op: &Operator, before: f64) {
    poll("a reconcile", WAIT, || async {
        let now = reconciles(op);
        if now > before { Ok(()) } else { Err(now) }
    })
    .await;
    tokio::time::sleep(QUIET).await;
}

// ---------------------------------------------------------------------------------------------
// Phases as `kubectl get locusttest -w` shows them

/// Every phase a watch of one test saw, consecutive repeats folded.
struct PhaseLog {
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PhaseLog {
    fn start(env: &Env, name: &str) -> Self {
        let api = env.locust_tests("v2");
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

// ---------------------------------------------------------------------------------------------
// Namespaces besides the Env's

/// Creates another namespace on the same API server (not covered by the Env's webhooks in
/// real-cluster mode).
async fn extra_namespace(client: &Client) -> String {
    let name = format!("e2e-{}", e2e::random_suffix(8));
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {e2e::E2E_LABEL: "true"}}
    }))
    .unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    name
}

async fn delete_namespace(client: &Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await;
}

// =============================================================================================
// 1 + 11. Lifecycle to Succeeded, events, metrics

#[tokio::test]
async fn lifecycle_to_succeeded() {
    init_logs();
    let env = Env::start().await;
    // A grace period that outlasts the test's Pending phase: pods that are not running yet
    // stay "starting" throughout.
    let mut options = Options::new();
    options.grace = Duration::from_secs(60);
    let op = Operator::start(env.client().clone(), env.namespace(), options);
    within(async {
        let name = "lifecycle";
        let uid = create(&env, name, 2).await;
        let log = PhaseLog::start(&env, name);

        // Service + 2 Jobs, each with a controller owner reference to the test.
        let kids = children(&env, name).await;
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
        let starting = if env.jobs().has_controller() {
            "Pods are starting: failures are reported once a pod is older than the 1m grace period"
        } else {
            MESSAGE_WAITING_FOR_PODS
        };
        let test = wait_for(&env, name, "Pending, Ready=True, pods starting", |t| {
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
        let master = start_master(&env, name).await;
        let test = wait_for(&env, name, "Running", |t| phase(t) == "Running").await;
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
        let workers = start_one_of_two_workers(&env, name).await;
        let test = wait_for(&env, name, "1/2 workers", |t| {
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
        connect_second_worker(&env, name, &workers).await;
        let test = wait_for(&env, name, "2/2 workers", |t| {
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
        let pods = env.api::<Pod>();
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
        finish_master(&env, name, &master).await;
        let test = wait_for(&env, name, "Succeeded", |t| phase(t) == "Succeeded").await;
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
        let list = wait_event(&env, name, event_reasons::TEST_SUCCEEDED).await;
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
                let text = op.metrics_text();
                if metric(&text, "locust_operator_tests{phase=\"Succeeded\"}") == Some(1.0) {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        )
        .await;
        let text = op.metrics_text();
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
    op.stop().await;
    env.teardown().await;
}

// =============================================================================================
// The `kubectl get events --field-selector reason=...` of the user's document

/// The operator records `events.k8s.io/v1` Events; `kubectl get events` reads `core/v1`, where
/// a real API server shows the same objects (one storage) and filters on `reason`.
#[tokio::test]
async fn events_are_filterable_by_reason_as_kubectl_does() {
    init_logs();
    let env = Env::start().await;
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
        let name = "filtered";
        create(&env, name, 1).await;
        let (master, _) = run_to_running(&env, name, 1).await;
        finish_master(&env, name, &master).await;
        wait_for(&env, name, "Succeeded", |t| phase(t) == "Succeeded").await;
        wait_event(&env, name, event_reasons::TEST_SUCCEEDED).await;
        let core = env.api::<CoreEvent>();
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
    op.stop().await;
    env.teardown().await;
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
async fn inflict(env: &Env, row: &Row) -> Vec<Pod> {
    let (client, ns) = (env.client(), env.namespace());
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
            let pods = job_pods(env, job, count).await;
            for pod in &pods {
                sim::set_pod_waiting(client, ns, pod, reason, message, false)
                    .await
                    .unwrap();
            }
            pods
        }
        Inflict::Unschedulable { count, message } => {
            let pods = job_pods(env, &worker_job, count).await;
            for pod in &pods {
                sim::set_pod_unschedulable(client, ns, pod, message)
                    .await
                    .unwrap();
            }
            pods
        }
        Inflict::InitFailed => {
            // The injector of `failure_row` gave the pod its init container.
            let pods = job_pods(env, &worker_job, 1).await;
            assert_injected(&pods[0]);
            sim::set_init_container_failed(client, ns, &pods[0], e2e::INIT_CONTAINER, 1)
                .await
                .unwrap();
            pods
        }
        Inflict::OomKilled => {
            let pods = job_pods(env, &worker_job, 1).await;
            sim::set_pod_terminated(client, ns, &pods[0], 137, "OOMKilled")
                .await
                .unwrap();
            pods
        }
        Inflict::Evicted { message } => {
            let pods = job_pods(env, &worker_job, 1).await;
            sim::set_pod_evicted(client, ns, &pods[0], message)
                .await
                .unwrap();
            pods
        }
        Inflict::MasterJobFailed => {
            let master = env
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
            let job = settle(env, &master_job).await;
            assert!(e2e::jobs::finished(&job, "Failed"), "{:?}", job.status);
            Vec::new()
        }
    }
}

/// One row: create, (run,) fail, and check status and events. Returns the pods of the test.
async fn failure_row(env: &Env, row: &Row) -> Vec<String> {
    let name = row.name;
    if matches!(row.inflict, Inflict::InitFailed) {
        // An init container reaches the operator's pods only through admission (a sidecar
        // injector): the worker pods get one.
        env.inject_init_container("performance-test-pod-name", &format!("{name}-worker"))
            .await;
    }
    create(env, name, row.workers).await;
    children(env, name).await;
    if row.running_first {
        start_master(env, name).await;
        wait_for(env, name, "Running", |t| phase(t) == "Running").await;
    }
    let failing = inflict(env, row).await;

    let test = wait_for(env, name, "Failed", |t| phase(t) == "Failed").await;
    assert!(test["status"]["completionTime"].is_string(), "{name}");
    assert_eq!(
        test["status"]["startTime"].is_string(),
        row.running_first,
        "{name}: startTime only when the master ran"
    );
    let list = wait_event(env, name, event_reasons::TEST_FAILED).await;
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
    let mut pods: Vec<String> = env
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
    let env = Env::start().await;
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
        let results =
            futures::future::join_all(ROWS.iter().map(|row| failure_row(&env, row))).await;
        // Nothing is deleted: the Jobs and pods stay for `kubectl logs`.
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (row, pods) in ROWS.iter().zip(&results) {
            let name = row.name;
            assert_eq!(
                children_now(&env, name).await,
                [
                    format!("Service/{name}-master"),
                    format!("Job/{name}-master"),
                    format!("Job/{name}-worker")
                ],
                "{name}: children kept"
            );
            for pod in pods {
                let found = env.api::<Pod>().get_opt(pod).await.unwrap();
                assert!(
                    found.is_some_and(|p| p.metadata.deletion_timestamp.is_none()),
                    "{name}: pod {pod} kept"
                );
            }
            assert_eq!(
                phase(&get(&env, name).await),
                "Failed",
                "{name}: still Failed"
            );
        }
        // Metrics: pod-health failures by reason, tests by phase.
        let text = op.metrics_text();
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
                let text = op.metrics_text();
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
    op.stop().await;
    env.teardown().await;
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
async fn staggered_failure(env: &Env, name: &str, kind: Staggered) {
    let (client, ns) = (env.client(), env.namespace());
    let worker = format!("{name}-worker");
    if matches!(kind, Staggered::InitFailed) {
        env.inject_init_container("performance-test-pod-name", &worker)
            .await;
    }
    create(env, name, 1).await;
    children(env, name).await;
    let jobs = env.jobs();
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

    let test = wait_for(env, name, "Failed", |t| phase(t) == "Failed").await;
    let (reason, detail) = kind.reason_and_detail();
    let mut names: Vec<String> = pods.iter().map(ResourceExt::name_any).collect();
    names.sort();
    let message = format!(
        "{reason}: 3 pod(s) affected [{}]: {detail}",
        names.join(", ")
    );
    assert_condition(&test, types::PODS_HEALTHY, "False", reason, &message);
    let list = wait_event(env, name, event_reasons::TEST_FAILED).await;
    assert_eq!(
        notes(&list, event_reasons::POD_FAILURE),
        [("Warning".to_owned(), message)],
        "{name}"
    );
}

#[tokio::test]
async fn the_failure_message_names_every_pod_in_that_state_whenever_created() {
    init_logs();
    let env = Env::start().await;
    // Longer than the ~3 s over which the pods are made, so all three are failing when the
    // first one's grace period ends.
    let mut options = Options::new();
    options.grace = Duration::from_secs(8);
    let op = Operator::start(env.client().clone(), env.namespace(), options);
    within(async {
        futures::future::join_all([
            staggered_failure(&env, "s-config", Staggered::Config),
            staggered_failure(&env, "s-sched", Staggered::Unschedulable),
            staggered_failure(&env, "s-init", Staggered::InitFailed),
        ])
        .await;
    })
    .await;
    op.stop().await;
    env.teardown().await;
}

// =============================================================================================
// 6b. The operator's own Job deleted in the foreground

/// The finalizer with which the test holds a pod (as a slow kubelet would, terminating it).
const HOLD: &str = "e2e.locust.io/hold";

/// Changes a pod's finalizers (merge patch, with the read resourceVersion as precondition).
async fn set_finalizers(env: &Env, pod: &str, change: impl Fn(&mut Vec<String>)) {
    let current = env.api::<Pod>().get(pod).await.unwrap();
    let mut finalizers = current.finalizers().to_vec();
    change(&mut finalizers);
    let finalizers = if finalizers.is_empty() {
        Value::Null
    } else {
        json!(finalizers)
    };
    env.api::<Pod>()
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
    let env = Env::start().await;
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
        let name = "fg";
        let worker = format!("{name}-worker");
        create(&env, name, 2).await;
        let (_, workers) = run_to_running(&env, name, 2).await;
        let original = children(&env, name).await;
        // Pods take their time to terminate (a kubelet gives them their grace period): one
        // is held by a finalizer until the test lets it go.
        let held = workers[0].name_any();
        set_finalizers(&env, &held, |finalizers| finalizers.push(HOLD.to_owned())).await;
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        let before = reconciles(&op);
        let marked = env
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
        let gc_by_hand = env.is_real_cluster() && !env.jobs().has_controller();
        if gc_by_hand {
            for pod in &workers {
                let _ = env
                    .api::<Pod>()
                    .delete(&pod.name_any(), &DeleteParams::background())
                    .await;
            }
        }
        poll("the held pod terminating", WAIT, || async {
            let pod = env
                .api::<Pod>()
                .get(&held)
                .await
                .map_err(|e| e.to_string())?;
            if pod.metadata.deletion_timestamp.is_some() {
                Ok(())
            } else {
                Err("not deleted yet".to_owned())
            }
        })
        .await;
        reconciled_since(&op, before).await;
        // While it goes the test is Pending, recreating (as for any child deleted by someone
        // else), and stays so: waiting writes nothing.
        let waiting = get(&env, name).await;
        assert_eq!(phase(&waiting), "Pending", "{}", waiting["status"]);
        assert_condition(
            &waiting,
            types::READY,
            "False",
            reasons::RESOURCES_CREATING,
            &format!("Recreating externally deleted resources: Job {worker}"),
        );
        tokio::time::sleep(QUIET).await;
        let later = get(&env, name).await;
        assert_eq!(
            later["metadata"]["resourceVersion"], waiting["metadata"]["resourceVersion"],
            "no write while waiting: {} then {}",
            waiting["status"], later["status"]
        );
        let deleting = env.api::<Job>().get(&worker).await.unwrap();
        assert_eq!(
            deleting.metadata.uid, original.worker.metadata.uid,
            "the Job waits for its pods; nothing can take its name meanwhile"
        );
        assert!(deleting.metadata.deletion_timestamp.is_some());
        let list = events(&env, name).await;
        assert_eq!(
            notes(&list, "NameConflict"),
            Vec::<(String, String)>::new(),
            "its own Job being deleted is no name conflict"
        );
        let child_owned_by_other = series(
            "locust_operator_reconcile_errors_by_kind_total",
            &format!("{CONTROLLER},kind=\"child_owned_by_other\""),
        );
        let text = op.metrics_text();
        assert_eq!(
            metric(&text, &child_owned_by_other).unwrap_or_default(),
            0.0,
            "{child_owned_by_other} in\n{text}"
        );

        // The pod goes, then the Job; the operator recreates it.
        set_finalizers(&env, &held, |finalizers| finalizers.retain(|f| f != HOLD)).await;
        if gc_by_hand {
            let _ = env
                .api::<Job>()
                .patch(
                    &worker,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await;
        }
        let recreated = poll("the worker Job recreated", WAIT, || async {
            match env.api::<Job>().get_opt(&worker).await {
                Ok(Some(job)) if job.metadata.uid != original.worker.metadata.uid => Ok(job),
                other => Err(format!("{:?}", other.map(|j| j.map(|j| j.metadata.uid)))),
            }
        })
        .await;
        assert_eq!(built(&recreated), built(&original.worker));
        let list = wait_event(&env, name, "Recreated").await;
        assert_eq!(
            notes(&list, "Recreated"),
            [(
                "Warning".to_owned(),
                format!("Recreated Job {worker}, {RECREATED_WHY}")
            )]
        );
        assert_eq!(occurrences(&list, "NameConflict"), 0);
        start_workers(&env, name, 2).await;
        wait_for(&env, name, "2/2 workers again", |t| {
            has(
                t,
                types::WORKERS_CONNECTED,
                "True",
                reasons::ALL_WORKERS_CONNECTED,
            )
        })
        .await;
        let text = op.metrics_text();
        assert_eq!(
            metric(&text, &child_owned_by_other).unwrap_or_default(),
            0.0,
            "{child_owned_by_other} in\n{text}"
        );
    })
    .await;
    op.stop().await;
    env.teardown().await;
}

// =============================================================================================
// 3. Grace period

#[tokio::test]
async fn grace_period_then_failed_without_further_changes() {
    init_logs();
    let grace = Duration::from_secs(4);
    let env = Env::start().await;
    let mut options = Options::new();
    options.grace = grace;
    let op = Operator::start(env.client().clone(), env.namespace(), options);
    within(async {
        let name = "grace";
        create(&env, name, 1).await;
        children(&env, name).await;
        let pods = job_pods(&env, &format!("{name}-master"), 1).await;
        let pod = sim::set_pod_waiting(
            env.client(),
            env.namespace(),
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
        let test = get(&env, name).await;
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
        let test = wait_for(&env, name, "Failed", |t| phase(t) == "Failed").await;
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
        let now = env.api::<Pod>().get(&pod.name_any()).await.unwrap();
        assert_eq!(now.metadata.resource_version, pod.metadata.resource_version);
    })
    .await;
    op.stop().await;
    env.teardown().await;
}

// =============================================================================================
// 4. Terminal phases never change

#[tokio::test]
async fn terminal_phase_never_changes() {
    init_logs();
    let env = Env::start().await;
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
        let name = "frozen";
        let (client, ns) = (env.client(), env.namespace());
        create(&env, name, 2).await;
        let (master, workers) = run_to_running(&env, name, 2).await;
        finish_master(&env, name, &master).await;
        let done = wait_for(&env, name, "Succeeded", |t| phase(t) == "Succeeded").await;
        let events_before =
            event_summary(&wait_event(&env, name, event_reasons::TEST_SUCCEEDED).await);

        // The master Job and pods look failed afterwards. Only without a Job controller can
        // the test write that on the Job (and a real API server may refuse a Failed condition
        // on a complete Job); with one, only the pods change.
        let before = reconciles(&op);
        if !env.jobs().has_controller() {
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
        settle(&env, &format!("{name}-worker")).await;
        reconciled_since(&op, before).await;
        tokio::time::sleep(operator::TEST_GRACE).await; // past every grace period
        let test = get(&env, name).await;
        assert_eq!(
            test["status"], done["status"],
            "status frozen after failures"
        );

        // Pods and children deleted: nothing recreated, status unchanged.
        let before = reconciles(&op);
        for pod in std::iter::once(&master).chain(&workers) {
            let _ = env
                .api::<Pod>()
                .delete(&pod.name_any(), &DeleteParams::background())
                .await;
        }
        for job in ["master", "worker"] {
            env.api::<Job>()
                .delete(&format!("{name}-{job}"), &DeleteParams::background())
                .await
                .unwrap();
        }
        env.api::<Service>()
            .delete(&format!("{name}-master"), &DeleteParams::background())
            .await
            .unwrap();
        reconciled_since(&op, before).await;
        assert_eq!(
            children_now(&env, name).await,
            Vec::<String>::new(),
            "nothing recreated"
        );
        let test = get(&env, name).await;
        assert_eq!(
            test["status"], done["status"],
            "status frozen after deletions"
        );

        // A spec edit is still seen (SpecDrifted, observedGeneration); nothing else moves.
        patch_spec(&env, name, json!({"worker": {"replicas": 3}})).await;
        let test = wait_for(&env, name, "SpecDrifted=True", |t| {
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
            children_now(&env, name).await,
            Vec::<String>::new(),
            "nothing recreated"
        );
        let list = wait_event(&env, name, event_reasons::SPEC_CHANGE_IGNORED).await;
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
    op.stop().await;
    env.teardown().await;
}

// =============================================================================================
// 5. SpecDrifted

#[tokio::test]
async fn spec_drift_is_reported_and_ignored() {
    init_logs();
    let env = Env::start().await;
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
        let name = "drift";
        create(&env, name, 2).await;
        run_to_running(&env, name, 2).await;
        let kids = children(&env, name).await;
        let running = get(&env, name).await;
        assert!(
            condition(&running, types::SPEC_DRIFTED).is_none(),
            "no SpecDrifted before an edit: {running}"
        );

        // Edit: the webhook warns but allows; the controller reports and ignores it.
        patch_spec(
            &env,
            name,
            json!({"image": "locustio/locust:2.44.0", "worker": {"replicas": 3}}),
        )
        .await;
        let test = wait_for(&env, name, "SpecDrifted=True", |t| {
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
        let list = wait_event(&env, name, event_reasons::SPEC_CHANGE_IGNORED).await;
        assert_eq!(
            notes(&list, event_reasons::SPEC_CHANGE_IGNORED),
            [("Warning".to_owned(), MESSAGE_SPEC_DRIFTED.to_owned())]
        );
        let now = children(&env, name).await;
        assert_eq!(now.versions(), kids.versions(), "no child written");
        assert_eq!(now.worker.spec, kids.worker.spec);
        assert_eq!(now.master.spec, kids.master.spec);

        // Edit back: SpecDrifted goes away.
        patch_spec(
            &env,
            name,
            json!({"image": IMAGE, "worker": {"replicas": 2}}),
        )
        .await;
        let test = wait_for(&env, name, "SpecDrifted gone", |t| {
            condition(t, types::SPEC_DRIFTED).is_none() && t["status"]["observedGeneration"] == 3
        })
        .await;
        assert_eq!(phase(&test), "Running");
        let list = wait_event(&env, name, event_reasons::SPEC_RESTORED).await;
        assert_eq!(
            notes(&list, event_reasons::SPEC_RESTORED),
            [("Normal".to_owned(), MESSAGE_SPEC_RESTORED.to_owned())]
        );
        assert_eq!(occurrences(&list, event_reasons::SPEC_CHANGE_IGNORED), 1);
        assert_eq!(
            children(&env, name).await.versions(),
            kids.versions(),
            "no child written"
        );
    })
    .await;
    op.stop().await;
    env.teardown().await;
}

// =============================================================================================
// 6. External deletion in Running: recreated from the original spec

#[tokio::test]
async fn externally_deleted_children_are_recreated_from_the_original_spec() {
    init_logs();
    let env = Env::start().await;
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
        let name = "recover";
        let uid = create(&env, name, 2).await;
        run_to_running(&env, name, 2).await;
        let started = get(&env, name).await["status"]["startTime"].clone();
        let original = children(&env, name).await;
        let log = PhaseLog::start(&env, name);
        log.expect(&["Running"]).await;

        // The spec is edited (ignored), then the worker Job is deleted by someone else.
        patch_spec(
            &env,
            name,
            json!({"image": "locustio/locust:2.44.0", "worker": {"replicas": 3}}),
        )
        .await;
        wait_for(&env, name, "SpecDrifted=True", |t| {
            has(t, types::SPEC_DRIFTED, "True", reasons::SPEC_CHANGE_IGNORED)
        })
        .await;
        tokio::time::sleep(QUIET).await; // the operator's cache holds its last write
        env.api::<Job>()
            .delete(&format!("{name}-worker"), &DeleteParams::background())
            .await
            .unwrap();
        let worker = poll("the worker Job recreated", WAIT, || async {
            match env.api::<Job>().get_opt(&format!("{name}-worker")).await {
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
        let list = wait_event(&env, name, "Recreated").await;
        assert_eq!(
            notes(&list, "Recreated"),
            [(
                "Warning".to_owned(),
                format!("Recreated Job {name}-worker, {RECREATED_WHY}")
            )]
        );
        log.expect(&["Running", "Pending", "Running"]).await;
        // The new worker pods connect again.
        let test = get(&env, name).await;
        assert_condition(
            &test,
            types::WORKERS_CONNECTED,
            "False",
            reasons::WAITING_FOR_WORKERS,
            "0/2 workers connected",
        );
        start_workers(&env, name, 2).await;
        wait_for(&env, name, "2/2 workers again", |t| {
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
        env.api::<Service>()
            .delete(&format!("{name}-master"), &DeleteParams::background())
            .await
            .unwrap();
        let service = poll("the Service recreated", WAIT, || async {
            match env
                .api::<Service>()
                .get_opt(&format!("{name}-master"))
                .await
            {
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
        env.api::<Job>()
            .delete(&format!("{name}-master"), &DeleteParams::background())
            .await
            .unwrap();
        let master = poll("the master Job recreated", WAIT, || async {
            match env.api::<Job>().get_opt(&format!("{name}-master")).await {
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
            phase(&get(&env, name).await),
            "Pending",
            "until the new master runs"
        );
        start_master(&env, name).await;
        let test = wait_for(&env, name, "Running again", |t| phase(t) == "Running").await;
        log.expect(&[
            "Running", "Pending", "Running", "Pending", "Running", "Pending", "Running",
        ])
        .await;
        assert_eq!(test["status"]["startTime"], started, "startTime kept");

        let list = events(&env, name).await;
        assert_eq!(occurrences(&list, "Recreated"), 3);
        assert_eq!(occurrences(&list, "Created"), 1);
        assert_eq!(occurrences(&list, event_reasons::TEST_STARTED), 1);
    })
    .await;
    op.stop().await;
    env.teardown().await;
}

// =============================================================================================
// 7. Operator restart mid-test

#[tokio::test]
async fn operator_restart_mid_test() {
    init_logs();
    let env = Env::start().await;
    within(async {
        let name = "restart";
        let start = || Operator::start(env.client().clone(), env.namespace(), Options::new());
        let op = start();
        create(&env, name, 2).await;
        let kids = children(&env, name).await;
        let master = start_master(&env, name).await;
        let workers = start_one_of_two_workers(&env, name).await;
        wait_for(&env, name, "Running, 1/2", |t| {
            phase(t) == "Running"
                && has(
                    t,
                    types::WORKERS_CONNECTED,
                    "False",
                    reasons::WORKERS_MISSING,
                )
        })
        .await;
        wait_event(&env, name, event_reasons::TEST_STARTED).await;
        op.stop().await;

        // While it is down, the second worker connects.
        connect_second_worker(&env, name, &workers).await;
        tokio::time::sleep(QUIET).await;
        assert_eq!(
            get(&env, name).await["status"]["connectedWorkers"],
            1,
            "nobody reconciles"
        );

        // A new operator catches up without recreating or re-announcing anything.
        let op = start();
        let test = wait_for(&env, name, "2/2 after the restart", |t| {
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
            children(&env, name).await.uids(),
            kids.uids(),
            "nothing recreated"
        );
        let list = events(&env, name).await;
        assert_eq!(occurrences(&list, "Created"), 1);
        assert_eq!(occurrences(&list, event_reasons::TEST_STARTED), 1);
        op.stop().await;

        // A restart where nothing changed writes nothing.
        let kids = children(&env, name).await;
        let rv = get(&env, name).await["metadata"]["resourceVersion"].clone();
        let summary = event_summary(&events(&env, name).await);
        let op = start();
        poll("caches synced", WAIT, || async {
            if op.state.caches_synced() {
                Ok(())
            } else {
                Err("not yet")
            }
        })
        .await;
        reconciled_since(&op, 0.0).await;
        assert_eq!(
            get(&env, name).await["metadata"]["resourceVersion"],
            rv,
            "no status write"
        );
        assert_eq!(
            children(&env, name).await.versions(),
            kids.versions(),
            "no child write"
        );
        assert_eq!(
            event_summary(&events(&env, name).await),
            summary,
            "no event"
        );
        op.stop().await;

        // The test ends while no operator runs.
        finish_master(&env, name, &master).await;
        let op = start();
        let test = wait_for(&env, name, "Succeeded", |t| phase(t) == "Succeeded").await;
        assert_condition(
            &test,
            types::TEST_COMPLETED,
            "True",
            reasons::TEST_SUCCEEDED,
            MESSAGE_TEST_SUCCEEDED,
        );
        let list = wait_event(&env, name, event_reasons::TEST_SUCCEEDED).await;
        for reason in [
            "Created",
            event_reasons::TEST_STARTED,
            event_reasons::TEST_SUCCEEDED,
        ] {
            assert_eq!(occurrences(&list, reason), 1, "{reason}");
        }
        assert_eq!(occurrences(&list, "Recreated"), 0);
        assert_eq!(children(&env, name).await.uids(), kids.uids());
        op.stop().await;
    })
    .await;
    env.teardown().await;
}

// =============================================================================================
// 8. Transient API errors (harness only: fault injection)

#[tokio::test]
async fn transient_api_errors_converge_without_duplicates() {
    init_logs();
    let env = Env::start().await;
    let Some(harness) = env.harness() else {
        eprintln!("skipped in real-cluster mode: fault injection needs the harness");
        env.teardown().await;
        return;
    };
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
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
        let log = PhaseLog::start(&env, name);
        create(&env, name, 1).await;
        let kids = children(&env, name).await;
        wait_for(&env, name, "Ready", |t| {
            has(t, types::READY, "True", reasons::RESOURCES_CREATED)
        })
        .await;
        assert!(faults.injected() >= 2);
        let list = wait_event(&env, name, "Created").await;
        assert_eq!(
            occurrences(&list, "Created"),
            1,
            "{:?}",
            notes(&list, "Created")
        );
        assert_eq!(occurrences(&list, "Recreated"), 0);
        let labelled = ListParams::default().labels(&format!("performance-test-name={name}"));
        assert_eq!(
            env.api::<Job>().list(&labelled).await.unwrap().items.len(),
            2
        );
        assert_eq!(
            env.api::<Service>()
                .list(&labelled)
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        run_to_running(&env, name, 1).await;
        assert_eq!(children(&env, name).await.uids(), kids.uids());
        log.expect(&["Pending", "Running"]).await;

        // The first status write fails: the creation is still announced, once.
        let name = "t-status";
        faults.fail_next(status_of(name), 1, 500);
        let log = PhaseLog::start(&env, name);
        create(&env, name, 1).await;
        let kids = children(&env, name).await;
        wait_for(&env, name, "Ready", |t| {
            has(t, types::READY, "True", reasons::RESOURCES_CREATED)
        })
        .await;
        let list = wait_event(&env, name, "Created").await;
        assert_eq!(occurrences(&list, "Created"), 1);
        // The status write of the transition to Running fails twice (500), then conflicts
        // twice (409): TestStarted once, no phase regression.
        faults.fail_next(status_of(name), 2, 500);
        faults.fail_next(status_of(name), 2, 409);
        let master = start_master(&env, name).await;
        start_workers(&env, name, 1).await;
        wait_for(&env, name, "Running", |t| phase(t) == "Running").await;
        wait_event(&env, name, event_reasons::TEST_STARTED).await;
        tokio::time::sleep(QUIET).await;
        let list = events(&env, name).await;
        assert_eq!(occurrences(&list, event_reasons::TEST_STARTED), 1);
        // The watches break and the history is compacted: every watch resumes with 410 Gone
        // and relists. No child is thought missing, nothing is recreated. (Each 410 is an error
        // of the controller's trigger stream, which kube backs off as a whole, exponentially
        // from 0.8 s: the controller resumes after several seconds.)
        harness.compact();
        harness.drop_watches();
        tokio::time::sleep(Duration::from_secs(1)).await;
        faults.fail_next(status_of(name), 1, 500);
        finish_master(&env, name, &master).await;
        poll("Succeeded after the watches recover", 2 * WAIT, || async {
            let test = get(&env, name).await;
            if phase(&test) == "Succeeded" {
                Ok(())
            } else {
                Err(test["status"].to_string())
            }
        })
        .await;
        wait_event(&env, name, event_reasons::TEST_SUCCEEDED).await;
        tokio::time::sleep(QUIET).await;
        let list = events(&env, name).await;
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
            children(&env, name).await.uids(),
            kids.uids(),
            "nothing recreated"
        );
        log.expect(&["Pending", "Running", "Succeeded"]).await;
        let text = op.metrics_text();
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
    op.stop().await;
    env.teardown().await;
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
    let env = Env::start().await;
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
        let name = "waited";
        create(&env, name, 1).await;
        let api = env.locust_tests("v2");
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

        let (master, _) = run_to_running(&env, name, 1).await;
        tokio::time::sleep(QUIET).await;
        assert!(!succeeded.is_finished(), "Running is not Succeeded");
        finish_master(&env, name, &master).await;
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
    op.stop().await;
    env.teardown().await;
}

// =============================================================================================
// 10. Compat Part C: idempotence, two namespaces, rapid create/delete, invalid spec

#[tokio::test]
async fn a_reconcile_without_changes_writes_nothing() {
    init_logs();
    let env = Env::start().await;
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
        let name = "idem";
        create(&env, name, 2).await;
        run_to_running(&env, name, 2).await;
        tokio::time::sleep(QUIET).await;
        let kids = children(&env, name).await;
        let test = get(&env, name).await;
        let summary = event_summary(&events(&env, name).await);

        // A label (metadata only) triggers a reconcile that must change nothing.
        let before = reconciles(&op);
        let labelled = env
            .locust_tests("v2")
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"team": "checkout"}}})),
            )
            .await
            .unwrap();
        reconciled_since(&op, before).await;
        let now = get(&env, name).await;
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
        assert_eq!(children(&env, name).await.versions(), kids.versions());
        assert_eq!(event_summary(&events(&env, name).await), summary);
    })
    .await;
    op.stop().await;
    env.teardown().await;
}

#[tokio::test]
async fn same_name_in_two_namespaces() {
    init_logs();
    let env = Env::start().await;
    let other = extra_namespace(env.client()).await;
    let mut options = Options::new();
    options.extra_namespaces = vec![other.clone()];
    let op = Operator::start(env.client().clone(), env.namespace(), options);
    within(async {
        let name = "twin";
        let client = env.client();
        let first = create(&env, name, 1).await;
        let second = create_in(client, &other, manifest(name, 2)).await;
        assert_ne!(first, second);
        let here = children(&env, name).await;
        let there = children_in(client, &other, name).await;
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
        let (master, _) = run_to_running(&env, name, 1).await;
        finish_master(&env, name, &master).await;
        wait_for(&env, name, "Succeeded", |t| phase(t) == "Succeeded").await;
        let twin = wait_in(client, &other, name, "Pending, Ready", |t| {
            has(t, types::READY, "True", reasons::RESOURCES_CREATED)
        })
        .await;
        assert_eq!(phase(&twin), "Pending");
        assert_eq!(twin["status"]["expectedWorkers"], 2);
        let list = events_in(client, &other, name).await;
        assert_eq!(occurrences(&list, event_reasons::TEST_SUCCEEDED), 0);
        assert_eq!(occurrences(&list, "Created"), 1);
    })
    .await;
    op.stop().await;
    delete_namespace(env.client(), &other).await;
    env.teardown().await;
}

#[tokio::test]
async fn rapid_create_delete_create_never_adopts() {
    init_logs();
    let env = Env::start().await;
    let op = Operator::start(env.client().clone(), env.namespace(), Options::new());
    within(async {
        let name = "again";
        let old_uid = create(&env, name, 1).await;
        let old = children(&env, name).await;
        env.locust_tests("v2")
            .delete(name, &DeleteParams::background())
            .await
            .unwrap();
        let new_uid = create(&env, name, 2).await;
        assert_ne!(old_uid, new_uid);
        // The garbage collector removes the old children (done here when the API server has
        // none, as envtest).
        for child in [format!("{name}-master"), format!("{name}-worker")] {
            if let Ok(Some(job)) = env.api::<Job>().get_opt(&child).await
                && owner_uid(&job.metadata) == [old_uid.clone()]
            {
                let _ = env
                    .api::<Job>()
                    .delete(&child, &DeleteParams::background())
                    .await;
            }
        }
        if let Ok(Some(service)) = env
            .api::<Service>()
            .get_opt(&format!("{name}-master"))
            .await
            && owner_uid(&service.metadata) == [old_uid.clone()]
        {
            let _ = env
                .api::<Service>()
                .delete(&format!("{name}-master"), &DeleteParams::background())
                .await;
        }
        // New children, owned by the new test only, never the old objects.
        let kids = poll("children of the new test", WAIT, || async {
            let kids = children(&env, name).await;
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
        let test = wait_for(&env, name, "Ready", |t| {
            has(t, types::READY, "True", reasons::RESOURCES_CREATED)
        })
        .await;
        assert_eq!(test["metadata"]["uid"], new_uid.as_str());
        assert_eq!(test["status"]["expectedWorkers"], 2);
    })
    .await;
    op.stop().await;
    env.teardown().await;
}

/// An invalid test that slipped past admission: with a real API server, in a namespace the
/// test's webhooks do not cover; with the harness, on a harness without webhooks.
#[tokio::test]
async fn invalid_spec_that_bypassed_admission() {
    init_logs();
    let env = if e2e::kubeconfig_path().is_some() {
        Some(Env::start().await)
    } else {
        None
    };
    let bare = match &env {
        Some(_) => None,
        None => {
            let server = ApiServer::start_with(e2e::jobs::harness_options())
                .await
                .unwrap();
            let crd =
                serde_json::to_value(locust_operator::crd::locust_test_crd().unwrap()).unwrap();
            server.install_crd(&crd).await;
            Some(server)
        }
    };
    let client = match (&env, &bare) {
        (Some(env), _) => env.client().clone(),
        (None, Some(server)) => server.client().unwrap(),
        (None, None) => unreachable!(),
    };
    let ns = extra_namespace(&client).await;
    let op = Operator::start(client.clone(), &ns, Options::new());
    within(async {
        let name = "invalid";
        let mut object = manifest(name, 2);
        object["spec"]["master"]["resources"] =
            json!({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}});
        create_in(&client, &ns, object.clone()).await;
        let typed: LocustTest = serde_json::from_value(object).unwrap();
        let report = validate(&typed);
        assert!(!report.is_valid());
        let message = format!("Invalid spec: {}", report.error_message());
        assert!(
            message.contains("spec.master.resources.requests.memory"),
            "{message}"
        );

        let before = reconciles(&op);
        let test = wait_in(&client, &ns, name, "Ready=False InvalidSpec", |t| {
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
        let list = wait_event_in(&client, &ns, name, event_reasons::INVALID_SPEC).await;
        assert_eq!(
            notes(&list, event_reasons::INVALID_SPEC),
            [("Warning".to_owned(), message.clone())]
        );
        reconciled_since(&op, before).await;
        let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
        let services: Api<Service> = Api::namespaced(client.clone(), &ns);
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
        tests_api(&client, &ns)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"master": {"resources": {"limits": {"memory": "4Gi"}}}}}),
                ),
            )
            .await
            .unwrap();
        children_in(&client, &ns, name).await;
        let test = wait_in(&client, &ns, name, "Ready", |t| {
            has(t, types::READY, "True", reasons::RESOURCES_CREATED)
        })
        .await;
        assert!(test["metadata"]["annotations"][ANNOTATION_ORIGINAL_SPEC].is_string());
        assert_eq!(
            occurrences(
                &events_in(&client, &ns, name).await,
                event_reasons::INVALID_SPEC
            ),
            1
        );
    })
    .await;
    op.stop().await;
    delete_namespace(&client, &ns).await;
    if let Some(env) = env {
        env.teardown().await;
    }
}
