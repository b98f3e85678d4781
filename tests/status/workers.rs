//! WorkersConnected and the worker counts (docs/compatibility.md Part B 7): ready worker pods, and
//! the expected count from the spec the test runs with.

use locust_operator::api::Phase;
use locust_operator::api::conditions::types;
use locust_operator::status::Observed;
use serde_json::{Value, json};

use crate::{
    Srm, at, children, compute, job, locust_test, new_test, previous, running, srm, triple,
};

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
