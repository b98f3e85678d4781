//! Pod health priority among failure types: the highest-priority type wins, and a failure still in
//! its grace period does not outrank a judged one.

use k8s_openapi::api::core::v1::Pod;
use locust_operator::status::{self, FailureKind, PodHealth};
use serde_json::json;

use crate::{GRACE, NAME, at, container, pod, unschedulable_pod, waiting_pod};

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
