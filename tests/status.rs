//! Status as a pure function (docs/compatibility.md Part B 4–7 and 12, Part C
//! "Status"): every phase, condition type, status, reason and message format of the user's
//! monitoring guide, built from API objects written as JSON the way the API server returns
//! them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use locust_operator::api::conditions::{reasons, types};
use locust_operator::api::{LocustTest, LocustTestSpec, LocustTestStatus, Phase};
use locust_operator::status::{
    self, EventType, FailureKind, MAX_EVENT_MESSAGE_BYTES, MESSAGE_SPEC_RESTORED, Observed,
    Outcome, PodHealth, StatusEvent, event_reasons,
};
use locust_operator::validation::validate;
use serde_json::{Value, json};

// ------------------------------------------------------------------------------------------
// Fixtures

const NAME: &str = "my-test";
const NAMESPACE: &str = "loadtests";
const IMAGE: &str = "locustio/locust:2.43.3";
/// The default grace period of the operator (2 minutes).
const GRACE: Duration = Duration::from_secs(120);

/// 2025-06-01T12:00:00Z, the creation of the test.
fn t0() -> Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

/// `t0 + secs`.
fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

/// `t0 + millis`.
fn at_ms(millis: i64) -> Timestamp {
    t0() + SignedDuration::from_millis(millis)
}

/// `t0 + secs` as the API writes it.
fn rfc(secs: i64) -> String {
    format!("{}", at(secs))
}

fn time(secs: i64) -> Time {
    Time(at(secs))
}

/// The base manifest: `my-test` in `loadtests`, generation 1, 5 workers, no status.
fn manifest() -> Value {
    json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {
            "name": NAME, "namespace": NAMESPACE, "generation": 1,
            "uid": "6f1c2a3b-0000-4000-8000-000000000001",
            "creationTimestamp": rfc(0)
        },
        "spec": {
            "image": IMAGE,
            "master": {"command": "--locustfile /lotest/src/test.py --host http://app:8080"},
            "worker": {"command": "--locustfile /lotest/src/test.py", "replicas": 5}
        }
    })
}

/// The base manifest with `patch` merged into it (JSON merge patch).
fn locust_test(patch: Value) -> LocustTest {
    let mut manifest = manifest();
    json_patch::merge(&mut manifest, &patch);
    serde_json::from_value(manifest).expect("manifest parses as LocustTest")
}

fn new_test() -> LocustTest {
    locust_test(json!({}))
}

fn spec_of(patch: Value) -> LocustTestSpec {
    locust_test(json!({"spec": patch})).spec
}

fn service() -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "my-test-master", "namespace": NAMESPACE},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.12.34",
                 "selector": {"performance-test-pod-name": "my-test-master"},
                 "ports": [{"name": "port5557", "port": 5557}, {"name": "port5558", "port": 5558}]}
    }))
    .unwrap()
}

fn job(role: &str, status: Value) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": format!("my-test-{role}"), "namespace": NAMESPACE},
        "spec": {
            "parallelism": if role == "master" { 1 } else { 5 },
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": format!("my-test-{role}"), "image": IMAGE}]}}
        },
        "status": status
    }))
    .unwrap()
}

/// A master Job status with a `True` condition of this type.
fn finished(type_: &str, reason: &str, message: &str) -> Value {
    json!({
        "startTime": rfc(0), "failed": if type_ == "Failed" { 1 } else { 0 },
        "succeeded": if type_ == "Complete" { 1 } else { 0 },
        "conditions": [{"type": type_, "status": "True", "reason": reason, "message": message,
                        "lastProbeTime": rfc(300), "lastTransitionTime": rfc(300)}]
    })
}

/// The three children, with these Job statuses.
fn children(master: Value, worker: Value) -> Observed {
    Observed {
        service: Some(service()),
        master_job: Some(job("master", master)),
        worker_job: Some(job("worker", worker)),
        ..Observed::default()
    }
}

/// The children of a test whose master runs and whose workers are `ready` of 5.
fn running(ready: i32) -> Observed {
    children(
        json!({"active": 1, "ready": 1, "startTime": rfc(0)}),
        json!({"active": 5, "ready": ready, "startTime": rfc(0)}),
    )
}

/// A container status (the fields the API always sets) in `state`.
fn container(name: &str, state: Value) -> Value {
    json!({"name": name, "image": IMAGE, "imageID": "", "ready": false,
           "restartCount": 0, "state": state})
}

/// A pod of `role` created `created` seconds after t0, with this `status`. Master pods have
/// the metrics exporter as a native sidecar, as the builders make them.
fn pod(name: &str, role: &str, created: i64, status: Value) -> Pod {
    let mut spec = json!({
        "restartPolicy": "Never",
        "containers": [{"name": format!("my-test-{role}"), "image": IMAGE}]
    });
    if role == "master" {
        spec["initContainers"] = json!([{"name": "locust-metrics-exporter",
            "image": "containersol/locust_exporter:v0.5.0", "restartPolicy": "Always"}]);
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": NAMESPACE, "creationTimestamp": rfc(created),
            "labels": {"app": NAME, "performance-test-name": NAME,
                       "performance-test-pod-name": format!("my-test-{role}"),
                       "managed-by": "locust-k8s-operator"}
        },
        "spec": spec,
        "status": status
    }))
    .unwrap()
}

fn role_of(name: &str) -> &'static str {
    if name.contains("master") {
        "master"
    } else {
        "worker"
    }
}

/// A pod whose Locust container runs.
fn running_pod(name: &str, created: i64) -> Pod {
    let role = role_of(name);
    pod(
        name,
        role,
        created,
        json!({"phase": "Running", "containerStatuses": [
            container(&format!("my-test-{role}"), json!({"running": {"startedAt": rfc(created + 5)}}))
        ]}),
    )
}

/// A pod whose Locust container waits with this reason and message.
fn waiting_pod(name: &str, created: i64, reason: &str, message: Option<&str>) -> Pod {
    let role = role_of(name);
    let mut waiting = json!({"reason": reason});
    if let Some(message) = message {
        waiting["message"] = json!(message);
    }
    pod(
        name,
        role,
        created,
        json!({"phase": "Pending", "containerStatuses": [
            container(&format!("my-test-{role}"), json!({"waiting": waiting}))
        ]}),
    )
}

/// A pod that cannot be scheduled.
fn unschedulable_pod(name: &str, created: i64, message: &str) -> Pod {
    pod(
        name,
        role_of(name),
        created,
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": message, "lastTransitionTime": rfc(created)}]}),
    )
}

/// The test with `status` as its current status.
fn with_status(mut test: LocustTest, status: &LocustTestStatus) -> LocustTest {
    test.status = Some(status.clone());
    test
}

/// Computes with the default grace period.
fn compute(test: &LocustTest, observed: &Observed, now: Timestamp) -> Outcome {
    status::compute(test, observed, now, GRACE)
}

/// One reconcile: computes and stores the new status in `test`.
fn step(test: &mut LocustTest, observed: &Observed, now: Timestamp) -> Outcome {
    let outcome = compute(test, observed, now);
    test.status = Some(outcome.status.clone());
    outcome
}

fn cond<'a>(status: &'a LocustTestStatus, type_: &str) -> &'a Condition {
    find(status, type_).unwrap_or_else(|| panic!("condition {type_} missing: {status:#?}"))
}

fn find<'a>(status: &'a LocustTestStatus, type_: &str) -> Option<&'a Condition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// `(status, reason, message)` of a condition.
type Srm = (String, String, String);

/// `(status, reason, message)` of a condition.
fn srm(status: &LocustTestStatus, type_: &str) -> Srm {
    let c = cond(status, type_);
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

fn triple(status: &str, reason: &str, message: &str) -> Srm {
    (status.to_owned(), reason.to_owned(), message.to_owned())
}

fn types_of(status: &LocustTestStatus) -> Vec<String> {
    status
        .conditions
        .iter()
        .flatten()
        .map(|c| c.type_.clone())
        .collect()
}

fn reasons_of(events: &[StatusEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.reason).collect()
}

/// A status in `phase` as the operator would have written it at t0+60 (Running: started at
/// t0+30, 5/5 workers, pods healthy), for tests that start from a given phase.
fn previous(phase: Phase) -> LocustTestStatus {
    let mut test = new_test();
    step(&mut test, &children(json!({}), json!({})), at(10));
    if phase == Phase::Pending {
        return test.status.unwrap();
    }
    let pods = vec![
        running_pod("my-test-master-x1", 10),
        running_pod("my-test-worker-a", 10),
    ];
    let mut observed = running(5);
    observed.pods = pods;
    step(&mut test, &observed, at(30));
    match phase {
        Phase::Running => {}
        Phase::Succeeded => {
            let obs = children(
                finished(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
                json!({"active": 5, "ready": 5}),
            );
            step(&mut test, &obs, at(60));
        }
        Phase::Failed => {
            let obs = children(
                finished(
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
                json!({"active": 5, "ready": 5}),
            );
            step(&mut test, &obs, at(60));
        }
        Phase::Pending => unreachable!(),
    }
    let status = test.status.unwrap();
    assert_eq!(status.phase, Some(phase));
    status
}

// ------------------------------------------------------------------------------------------
// Initial state

#[test]
fn a_new_test_is_pending_with_the_initial_conditions() {
    let outcome = compute(&new_test(), &Observed::default(), at(1));
    let status = serde_json::to_value(&outcome.status).unwrap();
    let t = rfc(1);
    assert_eq!(
        status,
        json!({
            "phase": "Pending",
            "observedGeneration": 1,
            "expectedWorkers": 5,
            "connectedWorkers": 0,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "ResourcesCreating",
                 "message": "Creating resources: Service my-test-master, Job my-test-master, Job my-test-worker",
                 "lastTransitionTime": t, "observedGeneration": 1},
                {"type": "WorkersConnected", "status": "False", "reason": "WaitingForWorkers",
                 "message": "0/5 workers connected", "lastTransitionTime": t, "observedGeneration": 1},
                {"type": "PodsHealthy", "status": "True", "reason": "PodsStarting",
                 "message": "Waiting for pods to be created", "lastTransitionTime": t, "observedGeneration": 1},
                {"type": "TestCompleted", "status": "False", "reason": "TestInProgress",
                 "message": "Test has not started yet: the master is not running",
                 "lastTransitionTime": t, "observedGeneration": 1}
            ]
        })
    );
    assert!(outcome.events.is_empty());
    assert_eq!(outcome.requeue_after, None);
}

#[test]
fn ready_reflects_which_children_exist() {
    let full = children(json!({}), json!({}));
    let cases: Vec<(&str, Observed, Srm)> = vec![
        (
            "all three",
            full.clone(),
            triple(
                "True",
                "ResourcesCreated",
                "All resources created successfully",
            ),
        ),
        (
            "no Service",
            Observed {
                service: None,
                ..full.clone()
            },
            triple(
                "False",
                "ResourcesCreating",
                "Creating resources: Service my-test-master",
            ),
        ),
        (
            "no master Job",
            Observed {
                master_job: None,
                ..full.clone()
            },
            triple(
                "False",
                "ResourcesCreating",
                "Creating resources: Job my-test-master",
            ),
        ),
        (
            "no worker Job",
            Observed {
                worker_job: None,
                ..full.clone()
            },
            triple(
                "False",
                "ResourcesCreating",
                "Creating resources: Job my-test-worker",
            ),
        ),
    ];
    for (case, observed, expected) in cases {
        let outcome = compute(&new_test(), &observed, at(1));
        assert_eq!(srm(&outcome.status, types::READY), expected, "{case}");
        assert_eq!(outcome.status.phase, Some(Phase::Pending), "{case}");
    }
}

#[test]
fn node_names_replace_dots_in_ready_messages() {
    let test = locust_test(json!({"metadata": {"name": "api.v2"}}));
    let outcome = compute(&test, &Observed::default(), at(1));
    assert_eq!(
        cond(&outcome.status, types::READY).message,
        "Creating resources: Service api-v2-master, Job api-v2-master, Job api-v2-worker"
    );
}

// ------------------------------------------------------------------------------------------
// Phase transitions and their events

#[test]
fn pending_to_running_when_the_master_job_has_a_ready_pod() {
    let test = with_status(new_test(), &previous(Phase::Pending));
    let outcome = compute(&test, &running(0), at(40));
    let s = &outcome.status;
    assert_eq!(s.phase, Some(Phase::Running));
    assert_eq!(s.start_time, Some(time(40)));
    assert_eq!(s.completion_time, None);
    assert_eq!(
        srm(s, types::TEST_COMPLETED),
        triple("False", "TestInProgress", "Test is running")
    );
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Normal,
            reason: event_reasons::TEST_STARTED,
            message: "Test started: the master pod is running".into(),
        }]
    );
}

#[test]
fn pending_to_running_when_a_master_pod_runs_before_the_job_counts_it_ready() {
    let test = with_status(new_test(), &previous(Phase::Pending));
    let mut observed = children(json!({"active": 1}), json!({"active": 5}));
    observed.pods = vec![running_pod("my-test-master-abc12", 10)];
    let outcome = compute(&test, &observed, at(20));
    assert_eq!(outcome.status.phase, Some(Phase::Running));
    assert_eq!(
        reasons_of(&outcome.events),
        vec![event_reasons::TEST_STARTED]
    );
}

#[test]
fn an_active_but_not_running_master_keeps_the_test_pending() {
    // Job `active` counts pods that are unschedulable or still pulling: the user's guide says
    // such a test stays Pending ("Phase stuck in Pending — pods not scheduling").
    let test = with_status(new_test(), &previous(Phase::Pending));
    let mut observed = children(json!({"active": 1, "ready": 0}), json!({"active": 5}));
    observed.pods = vec![
        waiting_pod("my-test-master-abc12", 10, "ContainerCreating", None),
        running_pod("my-test-worker-a", 10), // a worker running is not the master
    ];
    let outcome = compute(&test, &observed, at(20));
    assert_eq!(outcome.status.phase, Some(Phase::Pending));
    assert_eq!(outcome.status.start_time, None);
    assert!(outcome.events.is_empty());
}

#[test]
fn running_to_succeeded_when_the_master_job_completes() {
    let before = previous(Phase::Running);
    let test = with_status(new_test(), &before);
    let observed = children(
        finished(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ),
        json!({"active": 0, "ready": 0, "succeeded": 5}),
    );
    let outcome = compute(&test, &observed, at(330));
    let s = &outcome.status;
    assert_eq!(s.phase, Some(Phase::Succeeded));
    assert_eq!(s.start_time, before.start_time);
    assert_eq!(s.completion_time, Some(time(330)));
    assert_eq!(
        srm(s, types::TEST_COMPLETED),
        triple(
            "True",
            "TestSucceeded",
            "Test completed successfully (master exited with code 0)"
        )
    );
    assert_eq!(
        cond(s, types::TEST_COMPLETED).last_transition_time,
        time(330)
    );
    assert_eq!(
        srm(s, types::READY),
        triple(
            "True",
            "ResourcesCreated",
            "All resources created successfully"
        )
    );
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Normal,
            reason: event_reasons::TEST_SUCCEEDED,
            message: "Test completed successfully".into(),
        }]
    );
    assert_eq!(outcome.requeue_after, None);
}

#[test]
fn running_to_failed_when_the_master_job_fails() {
    let test = with_status(new_test(), &previous(Phase::Running));
    let observed = children(
        finished(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ),
        json!({"active": 5, "ready": 5}),
    );
    let outcome = compute(&test, &observed, at(200));
    let s = &outcome.status;
    let cause = "Job my-test-master failed (BackoffLimitExceeded): Job has reached the specified backoff limit";
    assert_eq!(s.phase, Some(Phase::Failed));
    assert_eq!(s.completion_time, Some(time(200)));
    assert_eq!(
        srm(s, types::READY),
        triple("False", "ResourcesFailed", &format!("Test failed: {cause}"))
    );
    assert_eq!(
        srm(s, types::TEST_COMPLETED),
        triple("True", "TestFailed", &format!("Test failed: {cause}"))
    );
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Warning,
            reason: event_reasons::TEST_FAILED,
            message: format!("Test failed: {cause}"),
        }]
    );
}

#[test]
fn job_conditions_that_are_not_true_or_not_final_change_nothing() {
    for (type_, status) in [
        ("Complete", "False"),
        ("Failed", "False"),
        ("SuccessCriteriaMet", "True"),
        ("FailureTarget", "True"),
        ("Suspended", "True"),
    ] {
        let test = with_status(new_test(), &previous(Phase::Running));
        let mut master = json!({"active": 1, "ready": 1});
        master["conditions"] = json!([{"type": type_, "status": status}]);
        let outcome = compute(&test, &children(master, json!({"ready": 5})), at(100));
        assert_eq!(
            outcome.status.phase,
            Some(Phase::Running),
            "{type_}={status}"
        );
        assert!(outcome.events.is_empty(), "{type_}={status}");
    }
}

#[test]
fn a_master_that_finished_between_two_reconciles_gets_a_start_time() {
    // Pending -> Succeeded / Failed straight from the master Job: the master did run.
    for (type_, phase) in [("Complete", Phase::Succeeded), ("Failed", Phase::Failed)] {
        let test = with_status(new_test(), &previous(Phase::Pending));
        let observed = children(finished(type_, "X", "y"), json!({}));
        let outcome = compute(&test, &observed, at(50));
        assert_eq!(outcome.status.phase, Some(phase));
        assert_eq!(outcome.status.start_time, Some(time(50)));
        assert_eq!(outcome.status.completion_time, Some(time(50)));
        assert!(
            !reasons_of(&outcome.events).contains(&event_reasons::TEST_STARTED),
            "no TestStarted for a test first seen finished"
        );
    }
}

#[test]
fn running_never_falls_back_to_pending_on_its_own() {
    // Compat.md Part B 4: the Go operator flips Running -> Pending -> Running.
    let before = previous(Phase::Running);
    for (case, observed) in [
        (
            "master not ready",
            children(json!({"active": 1, "ready": 0}), json!({"ready": 5})),
        ),
        ("no pods, nothing ready", children(json!({}), json!({}))),
        ("pods gone from the cache", Observed::default()),
    ] {
        let test = with_status(new_test(), &before);
        let outcome = compute(&test, &observed, at(100));
        assert_eq!(outcome.status.phase, Some(Phase::Running), "{case}");
        assert_eq!(outcome.status.start_time, before.start_time, "{case}");
        assert!(outcome.events.is_empty(), "{case}: {:?}", outcome.events);
    }
}

#[test]
fn recovery_after_external_deletion_goes_back_to_pending_then_running() {
    let before = previous(Phase::Running);
    let mut test = with_status(new_test(), &before);
    // The Service was deleted; the controller recreates it from the original spec.
    // The spec was edited after the start: the recreation uses the original, and SpecDrifted
    // says the edit is ignored.
    let original = test.spec.clone();
    test.spec.image = "locustio/locust:2.44.0".into();
    let edited = Observed {
        original_spec: Some(original.clone()),
        ..running(5)
    };
    step(&mut test, &edited, at(90));
    let mut observed = running(5);
    observed.service = None;
    observed.recreating = true;
    observed.original_spec = Some(original.clone());
    let outcome = step(&mut test, &observed, at(100));
    let s = &outcome.status;
    assert_eq!(s.phase, Some(Phase::Pending));
    assert_eq!(s.start_time, before.start_time, "startTime is kept");
    assert_eq!(
        srm(s, types::READY),
        triple(
            "False",
            "ResourcesCreating",
            "Recreating externally deleted resources: Service my-test-master"
        )
    );
    assert_eq!(
        srm(s, types::TEST_COMPLETED),
        triple(
            "False",
            "TestInProgress",
            "Test has not started yet: the master is not running"
        )
    );
    assert!(
        find(s, types::SPEC_DRIFTED).is_some(),
        "SpecDrifted stays: the test has started"
    );
    assert!(outcome.events.is_empty());

    // Recreated: Running again, without a second TestStarted.
    let mut observed = running(5);
    observed.original_spec = Some(original);
    let outcome = step(&mut test, &observed, at(110));
    assert_eq!(outcome.status.phase, Some(Phase::Running));
    assert_eq!(outcome.status.start_time, before.start_time);
    assert_eq!(
        srm(&outcome.status, types::READY),
        triple(
            "True",
            "ResourcesCreated",
            "All resources created successfully"
        )
    );
    assert!(outcome.events.is_empty(), "{:?}", outcome.events);
}

#[test]
fn the_lifecycle_of_the_users_guide_kubectl_get_w() {
    // NAME PHASE WORKERS CONNECTED: Pending 5 <none>, Pending 5 0, Running 5 3, Running 5 5,
    // Succeeded 5 5.
    let mut test = new_test();
    let mut rows = Vec::new();
    let mut events = Vec::new();
    let mut record = |test: &LocustTest, outcome: Outcome| {
        let s = test.status.as_ref().unwrap();
        rows.push((
            s.phase.unwrap().as_str(),
            test.spec.worker.replicas,
            s.connected_workers,
        ));
        events.extend(outcome.events.into_iter().map(|e| e.reason));
    };
    let o = step(&mut test, &Observed::default(), at(2));
    record(&test, o);
    let o = step(
        &mut test,
        &children(json!({"active": 1}), json!({"active": 5})),
        at(5),
    );
    record(&test, o);
    let o = step(&mut test, &running(3), at(12));
    record(&test, o);
    let o = step(&mut test, &running(5), at(18));
    record(&test, o);
    // The workers quit with the master: the Job reports 0 ready when it completes.
    let done = children(
        finished(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ),
        json!({"active": 0, "ready": 0, "succeeded": 5}),
    );
    let o = step(&mut test, &done, at(332));
    record(&test, o);
    assert_eq!(
        rows,
        vec![
            ("Pending", 5, Some(0)),
            ("Pending", 5, Some(0)),
            ("Running", 5, Some(3)),
            ("Running", 5, Some(5)),
            ("Succeeded", 5, Some(5)),
        ]
    );
    assert_eq!(
        events,
        vec![event_reasons::TEST_STARTED, event_reasons::TEST_SUCCEEDED]
    );
    let s = test.status.as_ref().unwrap();
    assert_eq!(
        srm(s, types::WORKERS_CONNECTED),
        triple("True", "AllWorkersConnected", "5/5 workers connected")
    );
    assert_eq!(s.start_time, Some(time(12)));
    assert_eq!(s.completion_time, Some(time(332)));
}

// ------------------------------------------------------------------------------------------
// Terminal phases never change (docs/compatibility.md Part B 4)

/// Observations that would move a non-terminal test somewhere.
fn disturbing_observations() -> Vec<(&'static str, Observed)> {
    let mut failing = running(5);
    failing.pods = vec![waiting_pod("my-test-master-abc12", 0, "ErrImagePull", None)];
    let recreating = Observed {
        recreating: true,
        ..Observed::default()
    };
    vec![
        ("healthy and running", running(5)),
        (
            "master Job complete",
            children(
                finished("Complete", "CompletionsReached", "done"),
                json!({}),
            ),
        ),
        (
            "master Job failed",
            children(finished("Failed", "BackoffLimitExceeded", "x"), json!({})),
        ),
        ("pod failure after grace", failing),
        ("children gone (TTL)", Observed::default()),
        ("recreating", recreating),
        ("2 of 5 workers", running(2)),
    ]
}

#[test]
fn terminal_phases_never_change() {
    for phase in [Phase::Succeeded, Phase::Failed] {
        let before = previous(phase);
        for (case, observed) in disturbing_observations() {
            let test = with_status(new_test(), &before);
            let outcome = compute(&test, &observed, at(10_000));
            assert_eq!(outcome.status, before, "{phase} / {case}");
            assert!(outcome.events.is_empty(), "{phase} / {case}");
            assert_eq!(outcome.requeue_after, None, "{phase} / {case}");
        }
    }
}

#[test]
fn a_terminal_test_follows_its_generation_and_spec_edits_only() {
    let before = previous(Phase::Succeeded);
    let original = new_test().spec;
    let mut test =
        locust_test(json!({"metadata": {"generation": 2}, "spec": {"worker": {"replicas": 9}}}));
    test.status = Some(before.clone());
    let observed = Observed {
        original_spec: Some(original),
        ..running(0)
    };
    let outcome = compute(&test, &observed, at(10_000));
    let s = &outcome.status;
    assert_eq!(s.observed_generation, Some(2));
    assert_eq!(s.phase, before.phase);
    assert_eq!(s.start_time, before.start_time);
    assert_eq!(s.completion_time, before.completion_time);
    assert_eq!(
        s.expected_workers, before.expected_workers,
        "frozen: the run had 5"
    );
    assert_eq!(s.connected_workers, before.connected_workers);
    for type_ in [
        types::READY,
        types::WORKERS_CONNECTED,
        types::PODS_HEALTHY,
        types::TEST_COMPLETED,
    ] {
        let (now, then) = (cond(s, type_), cond(&before, type_));
        assert_eq!(
            (
                &now.status,
                &now.reason,
                &now.message,
                &now.last_transition_time
            ),
            (
                &then.status,
                &then.reason,
                &then.message,
                &then.last_transition_time
            ),
            "{type_} frozen"
        );
        assert_eq!(now.observed_generation, Some(2), "{type_}");
    }
    assert_eq!(
        srm(s, types::SPEC_DRIFTED),
        triple(
            "True",
            "SpecChangeIgnored",
            "Spec was modified after creation. Changes ignored. Delete and recreate to apply."
        )
    );
    assert_eq!(
        reasons_of(&outcome.events),
        vec![event_reasons::SPEC_CHANGE_IGNORED]
    );
}

#[test]
fn a_failed_test_keeps_its_pods_failure_and_never_reports_them_again() {
    // Pending -> Failed on pod health; later reconciles change nothing and emit nothing.
    let mut test = new_test();
    let mut observed = children(json!({"active": 1}), json!({"active": 5}));
    observed.pods = vec![waiting_pod("my-test-master-abc12", 0, "ErrImagePull", None)];
    let first = step(&mut test, &observed, at(121));
    assert_eq!(first.status.phase, Some(Phase::Failed));
    for later in [122, 500, 5000] {
        let outcome = step(&mut test, &observed, at(later));
        assert_eq!(outcome.status, first.status);
        assert!(outcome.events.is_empty());
    }
}

// ------------------------------------------------------------------------------------------
// WorkersConnected and the worker counts (docs/compatibility.md Part B 7)

#[test]
fn workers_connected_counts_ready_worker_pods() {
    // (worker Job status, replicas) -> (connectedWorkers, condition)
    let cases: Vec<(Option<Value>, i32, i32, Srm)> = vec![
        (
            None,
            5,
            0,
            triple("False", "WaitingForWorkers", "0/5 workers connected"),
        ),
        (
            Some(json!({})),
            5,
            0,
            triple("False", "WaitingForWorkers", "0/5 workers connected"),
        ),
        (
            Some(json!({"active": 5, "ready": 0})),
            5,
            0,
            triple("False", "WaitingForWorkers", "0/5 workers connected"),
        ),
        (
            Some(json!({"active": 5, "ready": 1})),
            5,
            1,
            triple("False", "WorkersMissing", "1/5 workers connected"),
        ),
        (
            Some(json!({"active": 5, "ready": 3})),
            5,
            3,
            triple("False", "WorkersMissing", "3/5 workers connected"),
        ),
        (
            Some(json!({"active": 5, "ready": 4})),
            5,
            4,
            triple("False", "WorkersMissing", "4/5 workers connected"),
        ),
        (
            Some(json!({"active": 5, "ready": 5})),
            5,
            5,
            triple("True", "AllWorkersConnected", "5/5 workers connected"),
        ),
        (
            Some(json!({"active": 1, "ready": 1})),
            1,
            1,
            triple("True", "AllWorkersConnected", "1/1 workers connected"),
        ),
        (
            Some(json!({"active": 500, "ready": 499})),
            500,
            499,
            triple("False", "WorkersMissing", "499/500 workers connected"),
        ),
        // Active but not ready pods are not connected (the Go operator counted them).
        (
            Some(json!({"active": 5, "ready": 2})),
            5,
            2,
            triple("False", "WorkersMissing", "2/5 workers connected"),
        ),
    ];
    for (worker, replicas, connected, expected) in cases {
        let test = locust_test(json!({"spec": {"worker": {"replicas": replicas}}}));
        let mut observed = children(json!({"active": 1, "ready": 1}), json!({}));
        observed.worker_job = worker.clone().map(|w| job("worker", w));
        let outcome = compute(&test, &observed, at(30));
        let s = &outcome.status;
        assert_eq!(s.expected_workers, Some(replicas), "{worker:?}");
        assert_eq!(s.connected_workers, Some(connected), "{worker:?}");
        assert_eq!(srm(s, types::WORKERS_CONNECTED), expected, "{worker:?}");
    }
}

#[test]
fn expected_workers_come_from_the_spec_the_test_runs_with() {
    let mut test = locust_test(json!({"spec": {"worker": {"replicas": 10}}}));
    test.status = Some(previous(Phase::Running));
    let observed = Observed {
        original_spec: Some(new_test().spec), // started with 5
        ..running(5)
    };
    let outcome = compute(&test, &observed, at(100));
    assert_eq!(outcome.status.expected_workers, Some(5));
    assert_eq!(
        srm(&outcome.status, types::WORKERS_CONNECTED),
        triple("True", "AllWorkersConnected", "5/5 workers connected")
    );
    // Without the original spec, the current spec is all there is.
    let outcome = compute(&test, &running(5), at(100));
    assert_eq!(outcome.status.expected_workers, Some(10));
    assert_eq!(
        srm(&outcome.status, types::WORKERS_CONNECTED),
        triple("False", "WorkersMissing", "5/10 workers connected")
    );
}

// ------------------------------------------------------------------------------------------
// Pod health: classification (the user's five reasons and docs/compatibility.md Part B 6)

/// One classification case: a pod, and the failure type and detail expected (`None`: healthy).
struct Case {
    name: &'static str,
    pod: Pod,
    expected: Option<(FailureKind, &'static str)>,
}

fn classification_cases() -> Vec<Case> {
    let worker = "my-test-worker";
    let failed_pod = |status: Value| pod("my-test-worker-x", "worker", 0, status);
    vec![
        Case {
            name: "ErrImagePull",
            pod: waiting_pod(
                "my-test-worker-x",
                0,
                "ErrImagePull",
                Some("failed to pull and unpack image \"locustio/locust:nope\": not found"),
            ),
            expected: Some((FailureKind::ImagePullError, "ErrImagePull")),
        },
        Case {
            name: "ImagePullBackOff",
            pod: waiting_pod(
                "my-test-worker-x",
                0,
                "ImagePullBackOff",
                Some("Back-off pulling image \"locustio/locust:nope\""),
            ),
            expected: Some((FailureKind::ImagePullError, "ImagePullBackOff")),
        },
        Case {
            name: "InvalidImageName (Part B 6)",
            pod: waiting_pod(
                "my-test-worker-x",
                0,
                "InvalidImageName",
                Some("Failed to apply default image tag \"Locust:2\": couldn't parse image name"),
            ),
            expected: Some((FailureKind::ImagePullError, "InvalidImageName")),
        },
        Case {
            name: "ErrImageNeverPull",
            pod: waiting_pod("my-test-worker-x", 0, "ErrImageNeverPull", None),
            expected: Some((FailureKind::ImagePullError, "ErrImageNeverPull")),
        },
        Case {
            name: "exporter sidecar image cannot be pulled",
            pod: pod(
                "my-test-master-x",
                "master",
                0,
                json!({"phase": "Pending",
                "initContainerStatuses": [container("locust-metrics-exporter",
                    json!({"waiting": {"reason": "ImagePullBackOff"}}))],
                "containerStatuses": [container("my-test-master",
                    json!({"waiting": {"reason": "PodInitializing"}}))]}),
            ),
            expected: Some((FailureKind::ImagePullError, "ImagePullBackOff")),
        },
        Case {
            name: "CreateContainerConfigError: missing Secret (kubelet spelling)",
            pod: waiting_pod(
                "my-test-worker-x",
                0,
                "CreateContainerConfigError",
                Some("secret \"api-creds\" not found"),
            ),
            expected: Some((
                FailureKind::ConfigurationError,
                "Secret \"api-creds\" not found",
            )),
        },
        Case {
            name: "CreateContainerConfigError: missing ConfigMap",
            pod: waiting_pod(
                "my-test-worker-x",
                0,
                "CreateContainerConfigError",
                Some("configmap \"locust-env\" not found"),
            ),
            expected: Some((
                FailureKind::ConfigurationError,
                "ConfigMap \"locust-env\" not found",
            )),
        },
        Case {
            name: "CreateContainerConfigError: missing key",
            pod: waiting_pod(
                "my-test-worker-x",
                0,
                "CreateContainerConfigError",
                Some("couldn't find key password in Secret loadtests/api-creds"),
            ),
            expected: Some((
                FailureKind::ConfigurationError,
                "couldn't find key password in Secret loadtests/api-creds",
            )),
        },
        Case {
            name: "CreateContainerConfigError without a message",
            pod: waiting_pod("my-test-worker-x", 0, "CreateContainerConfigError", None),
            expected: Some((
                FailureKind::ConfigurationError,
                "CreateContainerConfigError",
            )),
        },
        Case {
            name: "Unschedulable",
            pod: unschedulable_pod(
                "my-test-worker-x",
                0,
                "0/3 nodes available: insufficient cpu",
            ),
            expected: Some((
                FailureKind::SchedulingError,
                "0/3 nodes available: insufficient cpu",
            )),
        },
        Case {
            name: "PodScheduled=False for a scheduling gate is not a failure",
            pod: failed_pod(
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                "status": "False", "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates"}]}),
            ),
            expected: None,
        },
        Case {
            name: "CrashLoopBackOff",
            pod: waiting_pod(
                "my-test-worker-x",
                0,
                "CrashLoopBackOff",
                Some("back-off 40s restarting failed container=my-test-worker"),
            ),
            expected: Some((FailureKind::CrashLoopBackOff, "CrashLoopBackOff")),
        },
        Case {
            name: "native sidecar in CrashLoopBackOff is a crash loop, not an init failure",
            pod: pod(
                "my-test-master-x",
                "master",
                0,
                json!({"phase": "Running",
                "initContainerStatuses": [container("locust-metrics-exporter",
                    json!({"waiting": {"reason": "CrashLoopBackOff"}}))],
                "containerStatuses": [container("my-test-master",
                    json!({"running": {"startedAt": rfc(1)}}))]}),
            ),
            expected: Some((FailureKind::CrashLoopBackOff, "CrashLoopBackOff")),
        },
        Case {
            name: "init container exited non-zero",
            pod: failed_pod(json!({"phase": "Failed",
                "initContainerStatuses": [container("setup",
                    json!({"terminated": {"exitCode": 1, "reason": "Error"}}))],
                "containerStatuses": [container(worker, json!({"waiting": {"reason": "PodInitializing"}}))]})),
            expected: Some((
                FailureKind::InitializationError,
                "init container \"setup\" exited with code 1",
            )),
        },
        Case {
            name: "init container crash-looping",
            pod: failed_pod(json!({"phase": "Pending",
                "initContainerStatuses": [container("setup",
                    json!({"waiting": {"reason": "CrashLoopBackOff"}}))]})),
            expected: Some((
                FailureKind::InitializationError,
                "init container \"setup\": CrashLoopBackOff",
            )),
        },
        Case {
            name: "init container that completed",
            pod: failed_pod(json!({"phase": "Running",
                "initContainerStatuses": [container("setup",
                    json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))],
                "containerStatuses": [container(worker, json!({"running": {}}))]})),
            expected: None,
        },
        Case {
            name: "CreateContainerError (Part B 6)",
            pod: waiting_pod(
                "my-test-worker-x",
                0,
                "CreateContainerError",
                Some("failed to create containerd container: mount: no such file or directory"),
            ),
            expected: Some((
                FailureKind::ContainerError,
                "failed to create containerd container: mount: no such file or directory",
            )),
        },
        Case {
            name: "RunContainerError without a message (Part B 6)",
            pod: waiting_pod("my-test-worker-x", 0, "RunContainerError", None),
            expected: Some((FailureKind::ContainerError, "RunContainerError")),
        },
        Case {
            name: "OOMKilled now (Part B 6)",
            pod: failed_pod(
                json!({"phase": "Failed", "containerStatuses": [container(worker,
                json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}))]}),
            ),
            expected: Some((
                FailureKind::OomKilled,
                "container \"my-test-worker\" was OOMKilled",
            )),
        },
        Case {
            name: "OOMKilled in the last state (Part B 6)",
            pod: failed_pod(json!({"phase": "Running", "containerStatuses": [{
                "name": worker, "image": IMAGE, "imageID": "", "ready": true, "restartCount": 1,
                "state": {"running": {"startedAt": rfc(60)}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]})),
            expected: Some((
                FailureKind::OomKilled,
                "container \"my-test-worker\" was OOMKilled",
            )),
        },
        Case {
            name: "Evicted (Part B 6)",
            pod: failed_pod(json!({"phase": "Failed", "reason": "Evicted",
                "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51Mi."})),
            expected: Some((
                FailureKind::Evicted,
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51Mi.",
            )),
        },
        Case {
            name: "Evicted without a message",
            pod: failed_pod(json!({"phase": "Failed", "reason": "Evicted"})),
            expected: Some((FailureKind::Evicted, "Evicted")),
        },
        Case {
            name: "a container that exited non-zero is the test's result, not a pod failure",
            pod: failed_pod(
                json!({"phase": "Failed", "containerStatuses": [container(worker,
                json!({"terminated": {"exitCode": 1, "reason": "Error"}}))]}),
            ),
            expected: None,
        },
        Case {
            name: "ContainerCreating",
            pod: waiting_pod("my-test-worker-x", 0, "ContainerCreating", None),
            expected: None,
        },
        Case {
            name: "running",
            pod: running_pod("my-test-worker-x", 0),
            expected: None,
        },
        Case {
            name: "succeeded",
            pod: failed_pod(
                json!({"phase": "Succeeded", "containerStatuses": [container(worker,
                json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))]}),
            ),
            expected: None,
        },
        Case {
            name: "no status yet",
            pod: failed_pod(json!({})),
            expected: None,
        },
        Case {
            name: "several failures in one pod: the highest priority wins",
            pod: pod(
                "my-test-master-x",
                "master",
                0,
                json!({"phase": "Pending",
                "initContainerStatuses": [container("locust-metrics-exporter",
                    json!({"waiting": {"reason": "ErrImagePull"}}))],
                "containerStatuses": [container("my-test-master",
                    json!({"waiting": {"reason": "CreateContainerConfigError",
                                       "message": "secret \"api-creds\" not found"}}))]}),
            ),
            expected: Some((FailureKind::ImagePullError, "ErrImagePull")),
        },
    ]
}

#[test]
fn classify_recognises_every_failure_type() {
    for case in classification_cases() {
        let got = status::classify(&case.pod, at(121), GRACE);
        let got = got.map(|f| {
            assert_eq!(
                Some(f.pod.as_str()),
                case.pod.metadata.name.as_deref(),
                "{}",
                case.name
            );
            assert_eq!(
                f.grace_remaining, None,
                "{}: judged after the grace period",
                case.name
            );
            (f.kind, f.detail)
        });
        let expected = case.expected.map(|(k, d)| (k, d.to_owned()));
        assert_eq!(got, expected, "{}", case.name);
    }
}

#[test]
fn every_failure_type_fails_the_test_with_its_reason_and_message() {
    for case in classification_cases() {
        let Some((kind, detail)) = case.expected else {
            continue;
        };
        let name = case.pod.metadata.name.clone().unwrap();
        let mut observed = children(json!({"active": 1}), json!({"active": 5}));
        observed.pods = vec![case.pod];
        let test = with_status(new_test(), &previous(Phase::Pending));
        let outcome = compute(&test, &observed, at(121));
        let s = &outcome.status;
        let message = format!("{}: 1 pod(s) affected [{name}]: {detail}", kind.reason());
        assert_eq!(s.phase, Some(Phase::Failed), "{}", case.name);
        assert_eq!(
            srm(s, types::PODS_HEALTHY),
            triple("False", kind.reason(), &message),
            "{}",
            case.name
        );
        assert_eq!(
            srm(s, types::READY),
            triple(
                "False",
                "ResourcesFailed",
                &format!("Test failed: {message}")
            ),
            "{}",
            case.name
        );
        assert_eq!(
            srm(s, types::TEST_COMPLETED),
            triple("True", "TestFailed", &format!("Test failed: {message}")),
            "{}",
            case.name
        );
        assert_eq!(s.start_time, None, "{}: the master never ran", case.name);
        assert_eq!(s.completion_time, Some(time(121)), "{}", case.name);
        assert_eq!(
            outcome.events,
            vec![
                StatusEvent {
                    type_: EventType::Warning,
                    reason: event_reasons::POD_FAILURE,
                    message: message.clone()
                },
                StatusEvent {
                    type_: EventType::Warning,
                    reason: event_reasons::TEST_FAILED,
                    message: format!("Test failed: {message}")
                },
            ],
            "{}",
            case.name
        );
    }
}

#[test]
fn failure_reasons_are_the_users_strings() {
    let reasons: Vec<&str> = FailureKind::ALL.iter().map(|k| k.reason()).collect();
    assert_eq!(
        reasons,
        vec![
            "ImagePullError",
            "ConfigurationError",
            "SchedulingError",
            "CrashLoopBackOff",
            "InitializationError",
            "ContainerError",
            "OOMKilled",
            "Evicted"
        ]
    );
    assert_eq!(reasons::CONTAINER_ERROR, "ContainerError");
}

// ------------------------------------------------------------------------------------------
// Pod health: the user's example messages, character for character

fn health_message(pods: Vec<Pod>) -> String {
    match status::pod_health(NAME, &pods, at(600), GRACE) {
        PodHealth::Failed(failure) => failure.message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn the_users_example_messages() {
    assert_eq!(
        health_message(vec![waiting_pod(
            "my-test-master-abc12",
            0,
            "ErrImagePull",
            Some("rpc error: code = NotFound desc = failed to pull and unpack image")
        )]),
        "ImagePullError: 1 pod(s) affected [my-test-master-abc12]: ErrImagePull"
    );
    // Given out of order; the kubelet spells the kind in lower case.
    assert_eq!(
        health_message(vec![
            waiting_pod(
                "my-test-worker-jkl78",
                0,
                "CreateContainerConfigError",
                Some("secret \"api-creds\" not found")
            ),
            waiting_pod(
                "my-test-worker-def34",
                0,
                "CreateContainerConfigError",
                Some("secret \"api-creds\" not found")
            ),
            waiting_pod(
                "my-test-worker-ghi56",
                0,
                "CreateContainerConfigError",
                Some("secret \"api-creds\" not found")
            ),
        ]),
        "ConfigurationError: 3 pod(s) affected [my-test-worker-def34, my-test-worker-ghi56, my-test-worker-jkl78]: Secret \"api-creds\" not found"
    );
    assert_eq!(
        health_message(vec![
            unschedulable_pod(
                "my-test-worker-pqr12",
                0,
                "0/3 nodes available: insufficient cpu"
            ),
            unschedulable_pod(
                "my-test-worker-mno90",
                0,
                "0/3 nodes available: insufficient cpu"
            ),
        ]),
        "SchedulingError: 2 pod(s) affected [my-test-worker-mno90, my-test-worker-pqr12]: 0/3 nodes available: insufficient cpu"
    );
    assert_eq!(
        health_message(vec![waiting_pod(
            "my-test-master-stu34",
            0,
            "CrashLoopBackOff",
            Some("back-off 5m0s restarting failed container=my-test-master")
        )]),
        "CrashLoopBackOff: 1 pod(s) affected [my-test-master-stu34]: CrashLoopBackOff"
    );
}

#[test]
fn the_message_format_is_fixed() {
    let pods = vec!["a".to_owned(), "b".to_owned()];
    assert_eq!(
        status::failure_message(
            FailureKind::SchedulingError,
            &pods,
            "0/3 nodes available: insufficient cpu"
        ),
        "SchedulingError: 2 pod(s) affected [a, b]: 0/3 nodes available: insufficient cpu"
    );
    assert_eq!(
        status::failure_message(FailureKind::OomKilled, &["w".to_owned()], "d"),
        "OOMKilled: 1 pod(s) affected [w]: d"
    );
}

#[test]
fn the_detail_comes_from_the_first_pod_by_name() {
    assert_eq!(
        health_message(vec![
            waiting_pod("my-test-worker-b", 0, "ErrImagePull", None),
            waiting_pod("my-test-worker-a", 0, "ImagePullBackOff", None),
            running_pod("my-test-master-m", 0),
        ]),
        "ImagePullError: 2 pod(s) affected [my-test-worker-a, my-test-worker-b]: ImagePullBackOff"
    );
}

// ------------------------------------------------------------------------------------------
// Pod health: priority among failure types

/// A pod named `<prefix>-<kind>` failing with `kind`.
fn failing_pod(kind: FailureKind, created: i64) -> Pod {
    let name = format!("my-test-worker-{}", kind.reason().to_lowercase());
    let worker = "my-test-worker";
    match kind {
        FailureKind::ImagePullError => waiting_pod(&name, created, "ErrImagePull", None),
        FailureKind::ConfigurationError => waiting_pod(
            &name,
            created,
            "CreateContainerConfigError",
            Some("secret \"s\" not found"),
        ),
        FailureKind::SchedulingError => unschedulable_pod(&name, created, "0/3 nodes available"),
        FailureKind::CrashLoopBackOff => waiting_pod(&name, created, "CrashLoopBackOff", None),
        FailureKind::InitializationError => pod(
            &name,
            "worker",
            created,
            json!({"phase": "Failed",
            "initContainerStatuses": [container("setup", json!({"terminated": {"exitCode": 2}}))]}),
        ),
        FailureKind::ContainerError => waiting_pod(&name, created, "RunContainerError", None),
        FailureKind::OomKilled => pod(
            &name,
            "worker",
            created,
            json!({"phase": "Failed",
            "containerStatuses": [container(worker, json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}))]}),
        ),
        FailureKind::Evicted => pod(
            &name,
            "worker",
            created,
            json!({"phase": "Failed", "reason": "Evicted"}),
        ),
    }
}

#[test]
fn the_highest_priority_failure_type_wins() {
    // Priority: the user's table in its order, then Part B 6's additions.
    for (i, expected) in FailureKind::ALL.iter().enumerate() {
        // Every type from `expected` on, listed lowest priority first.
        let pods: Vec<Pod> = FailureKind::ALL[i..]
            .iter()
            .rev()
            .map(|k| failing_pod(*k, 0))
            .collect();
        match status::pod_health(NAME, &pods, at(600), GRACE) {
            PodHealth::Failed(failure) => {
                assert_eq!(failure.kind, *expected);
                assert_eq!(
                    failure.pods.len(),
                    1,
                    "only the pods of the reported type count"
                );
            }
            other => panic!("{expected}: {other:?}"),
        }
    }
}

#[test]
fn priority_pairs() {
    let cases = [
        (
            FailureKind::ConfigurationError,
            FailureKind::ImagePullError,
            FailureKind::ImagePullError,
        ),
        (
            FailureKind::CrashLoopBackOff,
            FailureKind::SchedulingError,
            FailureKind::SchedulingError,
        ),
        (
            FailureKind::InitializationError,
            FailureKind::CrashLoopBackOff,
            FailureKind::CrashLoopBackOff,
        ),
        (
            FailureKind::Evicted,
            FailureKind::OomKilled,
            FailureKind::OomKilled,
        ),
        (
            FailureKind::ContainerError,
            FailureKind::InitializationError,
            FailureKind::InitializationError,
        ),
    ];
    for (a, b, winner) in cases {
        let pods = vec![failing_pod(a, 0), failing_pod(b, 0)];
        let PodHealth::Failed(failure) = status::pod_health(NAME, &pods, at(600), GRACE) else {
            panic!("{a} + {b}");
        };
        assert_eq!(failure.kind, winner, "{a} + {b}");
    }
}

#[test]
fn a_failure_still_in_its_grace_period_does_not_outrank_a_judged_one() {
    let pods = vec![
        failing_pod(FailureKind::ImagePullError, 500), // created 100 s ago
        failing_pod(FailureKind::CrashLoopBackOff, 0),
    ];
    let PodHealth::Failed(failure) = status::pod_health(NAME, &pods, at(600), GRACE) else {
        panic!();
    };
    assert_eq!(failure.kind, FailureKind::CrashLoopBackOff);
}

// ------------------------------------------------------------------------------------------
// Pod health: grace period per pod (docs/compatibility.md Part B 6)

#[test]
fn grace_period_boundaries() {
    // A master failing from its creation at t0: starting until t0+120, failed from then on.
    let cases: Vec<(Timestamp, Option<Phase>, &str, Option<Duration>)> = vec![
        (
            at(0),
            Some(Phase::Pending),
            "PodsStarting",
            Some(Duration::from_secs(120)),
        ),
        (
            at(60),
            Some(Phase::Pending),
            "PodsStarting",
            Some(Duration::from_secs(60)),
        ),
        (
            at(119),
            Some(Phase::Pending),
            "PodsStarting",
            Some(Duration::from_secs(1)),
        ),
        (
            at_ms(119_999),
            Some(Phase::Pending),
            "PodsStarting",
            Some(Duration::from_millis(1)),
        ),
        (at(120), Some(Phase::Failed), "ImagePullError", None),
        (at(121), Some(Phase::Failed), "ImagePullError", None),
    ];
    for (now, phase, reason, requeue) in cases {
        let mut observed = children(json!({"active": 1}), json!({"active": 5}));
        observed.pods = vec![waiting_pod("my-test-master-abc12", 0, "ErrImagePull", None)];
        let test = with_status(new_test(), &previous(Phase::Pending));
        let outcome = compute(&test, &observed, now);
        assert_eq!(outcome.status.phase, phase, "{now}");
        assert_eq!(
            cond(&outcome.status, types::PODS_HEALTHY).reason,
            reason,
            "{now}"
        );
        assert_eq!(outcome.requeue_after, requeue, "{now}");
        if reason == "PodsStarting" {
            assert_eq!(
                srm(&outcome.status, types::PODS_HEALTHY),
                triple(
                    "True",
                    "PodsStarting",
                    "Pods are starting: failures are reported once a pod is older than the 2m grace period"
                )
            );
            assert!(outcome.events.is_empty());
        }
    }
}

#[test]
fn the_grace_period_is_an_operator_setting() {
    let grace = Duration::from_secs(30);
    let mut observed = children(json!({"active": 1}), json!({"active": 5}));
    observed.pods = vec![waiting_pod("my-test-worker-a", 0, "CrashLoopBackOff", None)];
    let test = with_status(new_test(), &previous(Phase::Running));
    let before = status::compute(&test, &observed, at(29), grace);
    assert_eq!(before.status.phase, Some(Phase::Running));
    assert_eq!(before.requeue_after, Some(Duration::from_secs(1)));
    assert!(
        cond(&before.status, types::PODS_HEALTHY)
            .message
            .contains("30s grace period")
    );
    let after = status::compute(&test, &observed, at(30), grace);
    assert_eq!(after.status.phase, Some(Phase::Failed));
    // Running -> Failed on pod health.
    assert_eq!(
        reasons_of(&after.events),
        vec![event_reasons::POD_FAILURE, event_reasons::TEST_FAILED]
    );
}

#[test]
fn the_grace_period_runs_from_each_pods_own_creation() {
    // The master has run for 10 minutes; a replacement worker created 30 s ago fails. The Go
    // operator measured from the oldest pod and failed the test at once.
    let mut observed = running(4);
    observed.pods = vec![
        running_pod("my-test-master-m", 0),
        running_pod("my-test-worker-a", 0),
        waiting_pod("my-test-worker-b", 570, "ImagePullBackOff", None),
    ];
    let test = with_status(new_test(), &previous(Phase::Running));
    let outcome = compute(&test, &observed, at(600));
    assert_eq!(outcome.status.phase, Some(Phase::Running));
    assert_eq!(
        cond(&outcome.status, types::PODS_HEALTHY).reason,
        "PodsStarting"
    );
    assert_eq!(outcome.requeue_after, Some(Duration::from_secs(90)));
    let outcome = compute(&test, &observed, at(690));
    assert_eq!(outcome.status.phase, Some(Phase::Failed));
    assert_eq!(
        cond(&outcome.status, types::PODS_HEALTHY).message,
        "ImagePullError: 1 pod(s) affected [my-test-worker-b]: ImagePullBackOff"
    );
}

/// The grace period decides when a failure is reported; the report names every pod in that
/// state then. Pods created seconds apart: once the first one's grace period is over, the
/// others (still within theirs) are named too — `Failed` freezes the status, so a pod left out
/// now would never be named.
#[test]
fn every_pod_in_the_reported_failure_state_is_named() {
    let cases: Vec<(&str, Vec<Pod>, &str)> = vec![
        (
            "configuration error, pods a second apart",
            vec![
                waiting_pod(
                    "my-test-worker-a",
                    0,
                    "CreateContainerConfigError",
                    Some("secret \"api-creds\" not found"),
                ),
                waiting_pod(
                    "my-test-worker-b",
                    1,
                    "CreateContainerConfigError",
                    Some("secret \"api-creds\" not found"),
                ),
                waiting_pod(
                    "my-test-worker-c",
                    2,
                    "CreateContainerConfigError",
                    Some("secret \"api-creds\" not found"),
                ),
            ],
            "ConfigurationError: 3 pod(s) affected [my-test-worker-a, my-test-worker-b, \
             my-test-worker-c]: Secret \"api-creds\" not found",
        ),
        (
            "image pull, one pod 100 s younger",
            vec![
                waiting_pod("my-test-worker-a", 0, "ErrImagePull", None),
                waiting_pod("my-test-worker-b", 100, "ErrImagePull", None),
                waiting_pod("my-test-worker-c", 10, "ImagePullBackOff", None),
            ],
            "ImagePullError: 3 pod(s) affected [my-test-worker-a, my-test-worker-b, \
             my-test-worker-c]: ErrImagePull",
        ),
        (
            "unschedulable",
            vec![
                unschedulable_pod("my-test-worker-a", 0, UNSCHEDULABLE),
                unschedulable_pod("my-test-worker-b", 3, UNSCHEDULABLE),
            ],
            "SchedulingError: 2 pod(s) affected [my-test-worker-a, my-test-worker-b]: \
             0/3 nodes are available: 3 Insufficient cpu.",
        ),
        (
            "init container",
            vec![
                init_failed_pod("my-test-worker-a", 0),
                init_failed_pod("my-test-worker-b", 1),
                init_failed_pod("my-test-worker-c", 2),
            ],
            "InitializationError: 3 pod(s) affected [my-test-worker-a, my-test-worker-b, \
             my-test-worker-c]: init container \"setup\" exited with code 1",
        ),
    ];
    for (case, pods, message) in cases {
        // Just past the first pod's grace period.
        let PodHealth::Failed(failure) = status::pod_health(NAME, &pods, at(120), GRACE) else {
            panic!("{case}: not failed");
        };
        assert_eq!(failure.message, message, "{case}");
        // A second earlier, none is reported yet.
        assert!(
            matches!(
                status::pod_health(NAME, &pods, at(119), GRACE),
                PodHealth::Starting { .. }
            ),
            "{case}"
        );
    }
}

const UNSCHEDULABLE: &str = "0/3 nodes are available: 3 Insufficient cpu.";

/// A worker pod whose init container `setup` exited with code 1.
fn init_failed_pod(name: &str, created: i64) -> Pod {
    pod(
        name,
        "worker",
        created,
        json!({"phase": "Pending",
            "initContainerStatuses": [container("setup", json!({"terminated": {"exitCode": 1}}))]}),
    )
}

/// Pods in another failure state that are still within their grace period do not change which
/// state is reported, nor are they named.
#[test]
fn pods_in_another_failure_state_within_their_grace_are_not_named() {
    let pods = vec![
        waiting_pod("my-test-worker-a", 0, "CrashLoopBackOff", None),
        waiting_pod("my-test-worker-b", 100, "ErrImagePull", None),
    ];
    let PodHealth::Failed(failure) = status::pod_health(NAME, &pods, at(120), GRACE) else {
        panic!();
    };
    assert_eq!(
        failure.message,
        "CrashLoopBackOff: 1 pod(s) affected [my-test-worker-a]: CrashLoopBackOff"
    );
}

#[test]
fn requeue_at_the_earliest_end_of_a_grace_period() {
    let pods = vec![
        waiting_pod("my-test-worker-a", 50, "ErrImagePull", None), // ends at 170
        waiting_pod("my-test-worker-b", 20, "CrashLoopBackOff", None), // ends at 140
        waiting_pod("my-test-worker-c", 90, "ContainerCreating", None), // ends at 210
        running_pod("my-test-master-m", 0),
    ];
    assert_eq!(
        status::pod_health(NAME, &pods, at(100), GRACE),
        PodHealth::Starting {
            recheck_after: Duration::from_secs(40)
        }
    );
    let mut observed = running(4);
    observed.pods = pods;
    let test = with_status(new_test(), &previous(Phase::Running));
    assert_eq!(
        compute(&test, &observed, at(100)).requeue_after,
        Some(Duration::from_secs(40))
    );
}

#[test]
fn a_pod_without_a_creation_time_is_judged_at_once() {
    let mut pod = waiting_pod("my-test-worker-a", 0, "ErrImagePull", None);
    pod.metadata.creation_timestamp = None;
    let failure = status::classify(&pod, at(0), GRACE).unwrap();
    assert_eq!(failure.grace_remaining, None);
    let pod = waiting_pod("my-test-worker-a", 0, "ErrImagePull", None);
    assert_eq!(
        status::classify(&pod, at(0), GRACE)
            .unwrap()
            .grace_remaining,
        Some(GRACE)
    );
}

#[test]
fn pods_healthy_states_without_failures() {
    let cases: Vec<(&str, Vec<Pod>, Srm, Option<Duration>)> = vec![
        (
            "no pods yet",
            vec![],
            triple("True", "PodsStarting", "Waiting for pods to be created"),
            None,
        ),
        (
            "pods creating within their grace period",
            vec![
                waiting_pod("my-test-master-m", 10, "ContainerCreating", None),
                pod(
                    "my-test-worker-a",
                    "worker",
                    10,
                    json!({"phase": "Pending"}),
                ),
            ],
            triple(
                "True",
                "PodsStarting",
                "Pods are starting: failures are reported once a pod is older than the 2m grace period",
            ),
            Some(Duration::from_secs(100)),
        ),
        (
            "all running",
            vec![
                running_pod("my-test-master-m", 0),
                running_pod("my-test-worker-a", 0),
            ],
            triple("True", "PodsHealthy", "All pods running normally"),
            None,
        ),
        (
            "all running or succeeded",
            vec![
                running_pod("my-test-master-m", 0),
                pod(
                    "my-test-worker-a",
                    "worker",
                    0,
                    json!({"phase": "Succeeded"}),
                ),
            ],
            triple("True", "PodsHealthy", "All pods running normally"),
            None,
        ),
        (
            "a pod pending past its grace period without a known failure",
            vec![
                running_pod("my-test-master-m", -300),
                waiting_pod("my-test-worker-a", -300, "ContainerCreating", None),
            ],
            triple(
                "True",
                "PodsHealthy",
                "No pod failures detected, but not every pod is running",
            ),
            None,
        ),
    ];
    for (case, pods, expected, requeue) in cases {
        let mut observed = running(5);
        observed.pods = pods;
        let test = with_status(new_test(), &previous(Phase::Running));
        let outcome = compute(&test, &observed, at(30));
        assert_eq!(
            srm(&outcome.status, types::PODS_HEALTHY),
            expected,
            "{case}"
        );
        assert_eq!(outcome.requeue_after, requeue, "{case}");
        assert_eq!(outcome.status.phase, Some(Phase::Running), "{case}");
    }
}

#[test]
fn pods_of_other_tests_and_pods_being_deleted_are_ignored() {
    let mut other = waiting_pod("other-worker-a", 0, "ErrImagePull", None);
    other
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("performance-test-name".into(), "other".into());
    let mut deleting = waiting_pod("my-test-worker-z", 0, "ErrImagePull", None);
    deleting.metadata.deletion_timestamp = Some(time(500));
    let mut unlabelled = waiting_pod("my-test-worker-u", 0, "ErrImagePull", None);
    unlabelled.metadata.labels = None;
    let pods = vec![
        other,
        deleting,
        unlabelled,
        running_pod("my-test-master-m", 0),
    ];
    assert_eq!(
        status::pod_health(NAME, &pods, at(600), GRACE),
        PodHealth::Healthy { all_running: true }
    );
}

#[test]
fn a_pod_failure_event_is_cut_to_the_event_limit_but_the_condition_is_not() {
    let pods: Vec<Pod> = (0..60)
        .map(|i| {
            waiting_pod(
                &format!("my-test-worker-{i:02}-abcde"),
                0,
                "ErrImagePull",
                None,
            )
        })
        .collect();
    let mut observed = running(0);
    observed.pods = pods;
    let test = with_status(new_test(), &previous(Phase::Running));
    let outcome = compute(&test, &observed, at(600));
    let message = &cond(&outcome.status, types::PODS_HEALTHY).message;
    assert!(message.starts_with(
        "ImagePullError: 60 pod(s) affected [my-test-worker-00-abcde, my-test-worker-01-abcde, "
    ));
    assert!(message.ends_with("my-test-worker-59-abcde]: ErrImagePull"));
    for event in &outcome.events {
        assert!(
            event.message.len() <= MAX_EVENT_MESSAGE_BYTES,
            "{}",
            event.reason
        );
    }
    let pod_failure = &outcome.events[0];
    assert_eq!(pod_failure.reason, event_reasons::POD_FAILURE);
    assert!(pod_failure.message.ends_with("..."));
    assert!(message.starts_with(pod_failure.message.trim_end_matches("...")));
}

// ------------------------------------------------------------------------------------------
// SpecDrifted (docs/compatibility.md Part B 5)

#[test]
fn spec_drifted_is_absent_while_pending() {
    let test = locust_test(
        json!({"metadata": {"generation": 2}, "spec": {"image": "locustio/locust:2.44.0"}}),
    );
    let observed = Observed {
        original_spec: Some(new_test().spec),
        ..children(json!({}), json!({}))
    };
    let outcome = compute(&test, &observed, at(5));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    assert!(outcome.events.is_empty());
}

#[test]
fn spec_drifted_set_and_cleared() {
    let original = new_test().spec;
    let mut test = with_status(new_test(), &previous(Phase::Running));
    let observed = Observed {
        original_spec: Some(original.clone()),
        ..running(5)
    };
    // Unchanged spec: no condition at all (the guide's condition appears on an edit, and it
    // has no `False` row).
    let outcome = step(&mut test, &observed, at(100));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    assert!(
        outcome
            .status
            .conditions
            .iter()
            .flatten()
            .all(|c| c.reason != "SpecUnchanged")
    );
    assert!(outcome.events.is_empty());

    // Edited: True, Warning.
    test.spec.image = "locustio/locust:2.44.0".into();
    test.metadata.generation = Some(2);
    let outcome = step(&mut test, &observed, at(200));
    let drifted = cond(&outcome.status, types::SPEC_DRIFTED);
    assert_eq!(
        (
            drifted.status.as_str(),
            drifted.reason.as_str(),
            drifted.message.as_str()
        ),
        (
            "True",
            "SpecChangeIgnored",
            "Spec was modified after creation. Changes ignored. Delete and recreate to apply."
        )
    );
    assert_eq!(drifted.last_transition_time, time(200));
    assert_eq!(drifted.observed_generation, Some(2));
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Warning,
            reason: event_reasons::SPEC_CHANGE_IGNORED,
            message:
                "Spec was modified after creation. Changes ignored. Delete and recreate to apply."
                    .into(),
        }]
    );
    assert_eq!(
        outcome.status.phase,
        Some(Phase::Running),
        "the edit changes nothing else"
    );

    // Still edited: no new event.
    let outcome = step(&mut test, &observed, at(250));
    assert!(outcome.events.is_empty());
    assert_eq!(
        cond(&outcome.status, types::SPEC_DRIFTED).last_transition_time,
        time(200)
    );

    // Edited back: the condition goes away (not merely generation > 1), with a Normal event.
    test.spec.image = IMAGE.into();
    test.metadata.generation = Some(3);
    let outcome = step(&mut test, &observed, at(300));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Normal,
            reason: event_reasons::SPEC_RESTORED,
            message: MESSAGE_SPEC_RESTORED.into(),
        }]
    );
    // Still unchanged: nothing more.
    let outcome = step(&mut test, &observed, at(350));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    assert!(outcome.events.is_empty());
}

#[test]
fn spec_drift_is_compared_after_defaulting() {
    // The original was stored without defaults; the current one has them written out.
    let original = spec_of(json!({}));
    let current = spec_of(json!({
        "imagePullPolicy": "IfNotPresent",
        "master": {"autostart": true, "autoquit": {"enabled": true, "timeout": 60}}
    }));
    let mut test = with_status(new_test(), &previous(Phase::Running));
    test.spec = current;
    let observed = Observed {
        original_spec: Some(original),
        ..running(5)
    };
    let outcome = compute(&test, &observed, at(100));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    // A non-default value is a drift.
    test.spec.master.autoquit.as_mut().unwrap().timeout = Some(61);
    let outcome = compute(&test, &observed, at(100));
    assert_eq!(cond(&outcome.status, types::SPEC_DRIFTED).status, "True");
}

#[test]
fn without_the_original_spec_the_previous_spec_drifted_is_kept() {
    let mut test = with_status(new_test(), &previous(Phase::Running));
    test.spec.worker.replicas = 7;
    let observed = Observed {
        original_spec: Some(new_test().spec),
        ..running(5)
    };
    step(&mut test, &observed, at(100));
    let kept = cond(test.status.as_ref().unwrap(), types::SPEC_DRIFTED).clone();
    let outcome = compute(&test, &running(5), at(200));
    assert_eq!(cond(&outcome.status, types::SPEC_DRIFTED), &kept);
    assert!(outcome.events.is_empty());
    // And a test that never had one gets none.
    let test = with_status(new_test(), &previous(Phase::Running));
    assert_eq!(
        find(
            &compute(&test, &running(5), at(200)).status,
            types::SPEC_DRIFTED
        ),
        None
    );
}

// ------------------------------------------------------------------------------------------
// lastTransitionTime, observedGeneration, condition order

#[test]
fn last_transition_time_changes_only_with_the_status() {
    let mut test = new_test();
    step(
        &mut test,
        &children(json!({"active": 1}), json!({"active": 5})),
        at(10),
    );
    step(&mut test, &running(3), at(20));
    let s = test.status.clone().unwrap();
    assert_eq!(cond(&s, types::READY).last_transition_time, time(10));
    // False/WaitingForWorkers -> False/WorkersMissing: same status, time kept.
    assert_eq!(cond(&s, types::WORKERS_CONNECTED).reason, "WorkersMissing");
    assert_eq!(
        cond(&s, types::WORKERS_CONNECTED).last_transition_time,
        time(10)
    );
    // Pending -> Running changes TestCompleted's message, not its status.
    assert_eq!(cond(&s, types::TEST_COMPLETED).message, "Test is running");
    assert_eq!(
        cond(&s, types::TEST_COMPLETED).last_transition_time,
        time(10)
    );

    step(&mut test, &running(4), at(30));
    let s = test.status.clone().unwrap();
    assert_eq!(
        cond(&s, types::WORKERS_CONNECTED).message,
        "4/5 workers connected"
    );
    assert_eq!(
        cond(&s, types::WORKERS_CONNECTED).last_transition_time,
        time(10)
    );

    step(&mut test, &running(5), at(40));
    let s = test.status.clone().unwrap();
    assert_eq!(cond(&s, types::WORKERS_CONNECTED).status, "True");
    assert_eq!(
        cond(&s, types::WORKERS_CONNECTED).last_transition_time,
        time(40)
    );

    // PodsStarting -> PodsHealthy: both True, time kept.
    let mut observed = running(5);
    observed.pods = vec![running_pod("my-test-master-m", 10)];
    step(&mut test, &observed, at(50));
    let s = test.status.clone().unwrap();
    assert_eq!(cond(&s, types::PODS_HEALTHY).reason, "PodsHealthy");
    assert_eq!(cond(&s, types::PODS_HEALTHY).last_transition_time, time(10));
}

#[test]
fn every_condition_carries_the_generation() {
    for generation in [1, 2, 7] {
        let test = locust_test(json!({"metadata": {"generation": generation}}));
        let outcome = compute(&test, &running(5), at(30));
        assert_eq!(outcome.status.observed_generation, Some(generation));
        for c in outcome.status.conditions.as_ref().unwrap() {
            assert_eq!(c.observed_generation, Some(generation), "{}", c.type_);
        }
    }
    // A later generation is written even when nothing else changes.
    let mut test = with_status(new_test(), &previous(Phase::Running));
    test.metadata.generation = Some(4);
    let outcome = compute(&test, &running(5), at(100));
    assert!(
        outcome
            .status
            .conditions
            .iter()
            .flatten()
            .all(|c| c.observed_generation == Some(4))
    );
}

#[test]
fn conditions_come_in_a_fixed_order_and_foreign_ones_are_kept() {
    let mut before = previous(Phase::Running);
    let foreign = |t: &str| Condition {
        type_: t.into(),
        status: "True".into(),
        reason: "Other".into(),
        message: "set by someone else".into(),
        last_transition_time: time(1),
        observed_generation: None,
    };
    let list = before.conditions.as_mut().unwrap();
    list.reverse();
    list.insert(0, foreign("Zeta"));
    list.insert(2, foreign("Alpha"));
    let mut test = with_status(new_test(), &before);
    test.spec.image = "locustio/locust:2.44.0".into(); // drifted: SpecDrifted is there
    let observed = Observed {
        original_spec: Some(new_test().spec),
        ..running(5)
    };
    let outcome = compute(&test, &observed, at(100));
    assert_eq!(
        types_of(&outcome.status),
        vec![
            "Ready",
            "WorkersConnected",
            "PodsHealthy",
            "TestCompleted",
            "SpecDrifted",
            "Alpha",
            "Zeta"
        ]
    );
    assert_eq!(cond(&outcome.status, "Zeta"), &foreign("Zeta"));
}

// ------------------------------------------------------------------------------------------
// Determinism and fixed point (a resync that changes nothing writes nothing)

#[test]
fn the_same_input_gives_the_same_output_whatever_the_pod_order() {
    let mut pods = vec![
        waiting_pod("my-test-worker-c", 0, "ErrImagePull", None),
        waiting_pod("my-test-worker-a", 0, "ImagePullBackOff", None),
        unschedulable_pod("my-test-worker-b", 0, "0/3 nodes available"),
        running_pod("my-test-master-m", 0),
        waiting_pod("my-test-worker-d", 0, "CrashLoopBackOff", None),
    ];
    let test = with_status(new_test(), &previous(Phase::Running));
    let mut observed = running(2);
    observed.pods = pods.clone();
    let first = compute(&test, &observed, at(600));
    for rotation in 0..pods.len() {
        pods.rotate_left(1);
        let mut shuffled = pods.clone();
        if rotation % 2 == 1 {
            shuffled.reverse();
        }
        observed.pods = shuffled;
        assert_eq!(
            compute(&test, &observed, at(600)),
            first,
            "rotation {rotation}"
        );
    }
    assert_eq!(
        cond(&first.status, types::PODS_HEALTHY).message,
        "ImagePullError: 2 pod(s) affected [my-test-worker-a, my-test-worker-c]: ImagePullBackOff"
    );
}

#[test]
fn a_status_fed_back_is_a_fixed_point() {
    let observations: Vec<(&str, Observed)> = vec![
        ("nothing", Observed::default()),
        ("children", children(json!({}), json!({}))),
        ("running 3/5", running(3)),
        ("running 5/5", running(5)),
        (
            "drifted",
            Observed {
                original_spec: Some(spec_of(json!({"image": "x:1"}))),
                ..running(5)
            },
        ),
    ];
    for (case, observed) in observations {
        let mut test = new_test();
        // Sub-second precision: written with whole seconds, as the API stores times.
        step(&mut test, &observed, at_ms(12_345));
        let written = test.status.clone().unwrap();
        // The status as read back from the API server.
        let read: LocustTestStatus =
            serde_json::from_value(serde_json::to_value(&written).unwrap()).unwrap();
        assert_eq!(read, written, "{case}: survives the JSON round trip");
        let again = compute(&test, &observed, at(40));
        assert_eq!(again.status, written, "{case}");
        assert!(again.events.is_empty(), "{case}: {:?}", again.events);
    }
}

// ------------------------------------------------------------------------------------------
// Invalid spec (docs/compatibility.md Part B 12)

#[test]
fn an_invalid_spec_gets_ready_false_invalid_spec() {
    let mut test = locust_test(json!({"spec": {"worker": {"replicas": 0}}}));
    let report = validate(&test);
    assert!(!report.is_valid());
    let message = format!("Invalid spec: {}", report.error_message());
    assert!(message.contains("spec.worker.replicas"), "{message}");

    let outcome = status::invalid_spec(&test, &report, at(1));
    let s = &outcome.status;
    assert_eq!(s.phase, Some(Phase::Pending));
    assert_eq!(
        srm(s, types::READY),
        triple("False", "InvalidSpec", &message)
    );
    assert_eq!(
        types_of(s),
        vec!["Ready", "WorkersConnected", "PodsHealthy", "TestCompleted"]
    );
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Warning,
            reason: event_reasons::INVALID_SPEC,
            message: message.clone(),
        }]
    );
    assert_eq!(outcome.requeue_after, None);

    // Again: same status, no second event.
    test.status = Some(outcome.status.clone());
    let again = status::invalid_spec(&test, &report, at(60));
    assert_eq!(again.status, outcome.status);
    assert!(again.events.is_empty());

    // Fixed: the normal computation takes over.
    test.spec.worker.replicas = 5;
    let fixed = compute(&test, &children(json!({}), json!({})), at(70));
    assert_eq!(
        srm(&fixed.status, types::READY),
        triple(
            "True",
            "ResourcesCreated",
            "All resources created successfully"
        )
    );
    assert_eq!(
        cond(&fixed.status, types::READY).last_transition_time,
        time(70)
    );
}

#[test]
fn a_terminal_test_stays_frozen_even_when_invalid() {
    let before = previous(Phase::Failed);
    let mut test = locust_test(json!({"spec": {"worker": {"replicas": 0}}}));
    test.status = Some(before.clone());
    let outcome = status::invalid_spec(&test, &validate(&test), at(1000));
    assert_eq!(outcome.status, before);
    assert!(outcome.events.is_empty());
}
