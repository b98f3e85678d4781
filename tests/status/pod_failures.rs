//! Pod health classification (the user's five reasons and docs/compatibility.md Part B 6): every
//! failure type is recognised and fails the test with its reason and message.

use k8s_openapi::api::core::v1::Pod;
use locust_operator::api::Phase;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::status::{self, EventReason, EventType, FailureKind, StatusEvent};
use serde_json::{Value, json};

use crate::{
    GRACE, IMAGE, at, children, compute, container, new_test, pod, previous, rfc, running_pod, srm,
    time, triple, unschedulable_pod, waiting_pod, with_status,
};

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
                    reason: EventReason::PodFailure(kind),
                    message: message.clone()
                },
                StatusEvent {
                    type_: EventType::Warning,
                    reason: EventReason::TestFailed,
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
