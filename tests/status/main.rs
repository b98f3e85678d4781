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
use locust_operator::api::{LocustTest, LocustTestSpec, LocustTestStatus, Phase};
use locust_operator::defaulting::{Defaulted, defaulted_spec};
use locust_operator::status::{self, Observed, Outcome, StatusEvent};
use locust_operator::validation::Report;
use serde_json::{Value, json};

mod conditions;
mod determinism;
mod initial;
mod invalid_spec;
mod live;
mod pod_failures;
mod pod_grace;
mod pod_messages;
mod pod_priority;
mod spec_drift;
mod terminal;
mod transitions;
mod workers;

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
    compute_with(test, observed, now, GRACE)
}

/// Computes as the controller does: from the test as read (defaulted), with the spec it
/// started with as recorded (defaulted).
fn compute_with(
    test: &LocustTest,
    observed: &Observed,
    now: Timestamp,
    grace: Duration,
) -> Outcome {
    let observed = Observed {
        original_spec: observed.original_spec.as_ref().map(defaulted_spec),
        ..observed.clone()
    };
    status::compute(&Defaulted::new(test.clone()), &observed, now, grace)
}

/// The status of a test whose spec is invalid, from the test as read (defaulted).
fn invalid_spec(test: &LocustTest, report: &Report, now: Timestamp) -> Outcome {
    status::invalid_spec(&Defaulted::new(test.clone()), report, now)
}

/// Validates the test as read (defaulted).
fn validate(test: &LocustTest) -> Report {
    locust_operator::validation::validate(&Defaulted::new(test.clone()))
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
    events.iter().map(|e| e.reason.as_str()).collect()
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
