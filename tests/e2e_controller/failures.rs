//! How a test fails: one failure path per row of the user's table (`docs/monitor-test-status.md`:
//! image pulls, configuration, scheduling, crash loops, init containers, container errors,
//! OOMKilled, evictions, and a failed master Job), each with its `PodsHealthy` reason, its
//! message `{Reason}: {N} pod(s) affected [{pod-names}]: {detail}` and its events, the Jobs and
//! pods kept for `kubectl logs` (`docs/compatibility.md`, Part B 6); a message that names
//! every pod in that failure state, whenever each was created; and the grace period during
//! which a failing pod is still only starting.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::ListParams;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::status::event_reasons;
use memory_apiserver::sim;

use crate::e2e::{self, poll};
use crate::init_logs;
use crate::objects::{TestNamespace, WAIT, assert_condition, metric, notes, occurrences, time_of};
use crate::operator::Options;
use crate::scenario::Scenario;
use crate::test_status::{condition, phase};

/// The Job controller's message of a Job that failed its backoff limit.
const BACKOFF_LIMIT_MESSAGE: &str = "Job has reached the specified backoff limit";

// ---------------------------------------------------------------------------------------------
// Failure paths, one test per row of the user's table

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

// ---------------------------------------------------------------------------------------------
// The failure message names every pod in that failure state, whenever it was created

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

// ---------------------------------------------------------------------------------------------
// The grace period

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

// ---------------------------------------------------------------------------------------------
// Workers that never connect

/// One of two workers never becomes ready (its image cannot be pulled, within a grace period
/// longer than the test's connect timeout): at the timeout the test fails naming that worker,
/// and both Jobs are suspended so that nothing is left waiting. No Locust master answers here,
/// so the ready worker pods are the connected ones.
#[tokio::test]
async fn workers_that_never_connect_fail_the_test_and_nothing_is_left_waiting() {
    init_logs();
    let mut options = Options::new();
    options.grace = Duration::from_secs(600);
    Scenario::run(options, async |s| {
        let name = "lonely";
        let mut manifest = crate::objects::manifest(name, 2);
        manifest["spec"]["worker"]["connectTimeoutSeconds"] = serde_json::json!(3);
        s.create_from(manifest).await;
        s.children(name).await;
        s.start_master(name).await;
        let workers = s.job_pods(&format!("{name}-worker"), 2).await;
        sim::set_pod_running(s.client(), s.namespace(), &workers[0], true)
            .await
            .unwrap();
        let stuck = sim::set_pod_waiting(
            s.client(),
            s.namespace(),
            &workers[1],
            "ImagePullBackOff",
            "Back-off pulling image",
            false,
        )
        .await
        .unwrap();
        s.settle(&format!("{name}-worker")).await;
        let running = s.wait_for(name, "Running", |t| phase(t) == "Running").await;
        let started = time_of(&running["status"]["startTime"]);

        let test = s.wait_for(name, "Failed", |t| phase(t) == "Failed").await;
        let completed = time_of(&test["status"]["completionTime"]);
        assert!(
            completed >= started + Duration::from_secs(3),
            "failed at {completed}, started at {started}: before the timeout"
        );
        let message = format!(
            "Test failed: 1 of 2 workers never connected within 3s: {} (ImagePullBackOff)",
            stuck.name_any()
        );
        assert_condition(
            &test,
            types::TEST_COMPLETED,
            "True",
            reasons::TEST_FAILED,
            &message,
        );
        assert_eq!(
            test["status"]["results"]["available"], false,
            "{}",
            test["status"]
        );
        let events = s.wait_event(name, event_reasons::TEST_FAILED).await;
        assert_eq!(
            notes(&events, event_reasons::TEST_FAILED),
            [("Warning".to_owned(), message)]
        );
        // Nothing waits: both Jobs are suspended.
        for job in [format!("{name}-master"), format!("{name}-worker")] {
            let job = poll(&format!("{job} suspended"), WAIT, || async {
                let job = s.jobs().get(&job).await;
                let suspended = job.spec.as_ref().and_then(|spec| spec.suspend);
                if suspended == Some(true) {
                    Ok(job)
                } else {
                    Err(suspended)
                }
            })
            .await;
            assert_eq!(job.spec.unwrap().suspend, Some(true));
        }
    })
    .await;
}
