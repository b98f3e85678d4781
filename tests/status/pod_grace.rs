//! The grace period per pod (docs/compatibility.md Part B 6): its boundaries and setting, which
//! pods are named, requeueing, healthy states, ignored pods, and the event limit.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use locust_operator::api::Phase;
use locust_operator::api::conditions::types;
use locust_operator::status::{self, MAX_EVENT_MESSAGE_BYTES, PodHealth, event_reasons};
use serde_json::json;

use crate::{
    GRACE, NAME, Srm, at, at_ms, children, compute, compute_with, cond, container, new_test, pod,
    previous, reasons_of, running, running_pod, srm, time, triple, unschedulable_pod, waiting_pod,
    with_status,
};

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
    let before = compute_with(&test, &observed, at(29), grace);
    assert_eq!(before.status.phase, Some(Phase::Running));
    assert_eq!(before.requeue_after, Some(Duration::from_secs(1)));
    assert!(
        cond(&before.status, types::PODS_HEALTHY)
            .message
            .contains("30s grace period")
    );
    let after = compute_with(&test, &observed, at(30), grace);
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
