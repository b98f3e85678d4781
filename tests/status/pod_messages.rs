//! Pod health messages: the user's example messages character for character, the fixed message
//! format, and the detail taken from the first pod by name.

use k8s_openapi::api::core::v1::Pod;
use locust_operator::status::{self, FailureKind, PodHealth};

use crate::{GRACE, NAME, at, running_pod, unschedulable_pod, waiting_pod};

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
