//! Each `PodsHealthy` failure reason of the user's document, from a manifest, in the user's
//! message format (`{FailureType}: {N} pod(s) affected [{pod-names}]: {error-detail}`) once
//! the operator's grace period is over.

use locust_operator::sandbox::host::Allocatable;

use crate::{LOCUSTFILE_CONFIGMAP, Lab, condition, node, phase, quick_test};

/// Waits for `PodsHealthy=False` with `reason` on test `name`; its message.
async fn pods_unhealthy(lab: &Lab, name: &str, reason: &str) -> String {
    let (test, _) = lab
        .wait_for(name, &format!("PodsHealthy=False {reason}"), |t| {
            condition(t, "PodsHealthy").is_some_and(|c| c.0 == "False")
        })
        .await;
    let (_, found, message) = condition(&test, "PodsHealthy").unwrap();
    assert_eq!(found, reason, "{message}");
    assert_eq!(phase(&test), "Failed");
    message
}

fn assert_format(message: &str, reason: &str, pods: usize, detail: &str) {
    let prefix = format!("{reason}: {pods} pod(s) affected [");
    assert!(message.starts_with(&prefix), "{message}");
    assert!(message.contains(detail), "{message} should say {detail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_image_the_sandbox_cannot_run_is_an_image_pull_error() {
    let lab = Lab::start().await;
    let test = quick_test("pull", "my-test-locustfile", 8).replace(
        "image: locustio/locust:2.43.3",
        "image: example.com/not/locust:1.0",
    );
    lab.apply(&[LOCUSTFILE_CONFIGMAP, &test]).await;
    let message = pods_unhealthy(&lab, "pull", "ImagePullError").await;
    assert_format(&message, "ImagePullError", 3, "ErrImagePull");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_secret_is_a_configuration_error() {
    let lab = Lab::start().await;
    let test = quick_test("config", "my-test-locustfile", 8).replace(
        "  worker:\n",
        "  env:\n    secretRefs:\n    - name: api-creds\n  worker:\n",
    );
    lab.apply(&[LOCUSTFILE_CONFIGMAP, &test]).await;
    let message = pods_unhealthy(&lab, "config", "ConfigurationError").await;
    assert_format(
        &message,
        "ConfigurationError",
        3,
        "Secret \"api-creds\" not found",
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_above_the_node_are_a_scheduling_error() {
    let small = Allocatable {
        cpu_millis: 8000.0,
        memory_bytes: 4.0 * 1024.0 * 1024.0 * 1024.0,
    };
    let lab = Lab::start_with(&[], small).await;
    let test = quick_test("big", "my-test-locustfile", 8).replace(
        "  worker:\n    command: --locustfile /lotest/src/locustfile.py\n",
        "  worker:\n    command: --locustfile /lotest/src/locustfile.py\n    resources:\n      requests:\n        memory: 64Gi\n",
    );
    lab.apply(&[LOCUSTFILE_CONFIGMAP, &test]).await;
    let message = pods_unhealthy(&lab, "big", "SchedulingError").await;
    assert_format(&message, "SchedulingError", 2, "Insufficient memory");
    let _ = node();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sidecar_that_keeps_exiting_is_a_crash_loop() {
    // The operator's own configuration names the metrics exporter's image: one that exits at
    // once (Locust without a locustfile) crash-loops as the master's sidecar.
    let lab = Lab::start_with(
        &[("METRICS_EXPORTER_IMAGE", "locustio/locust:2.43.3")],
        node(),
    )
    .await;
    lab.apply(&[
        LOCUSTFILE_CONFIGMAP,
        &quick_test("loop", "my-test-locustfile", 300),
    ])
    .await;
    let message = pods_unhealthy(&lab, "loop", "CrashLoopBackOff").await;
    assert_format(&message, "CrashLoopBackOff", 1, "loop-master");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_init_container_is_an_initialization_error() {
    // A pod of the test (its labels) whose init container exits non-zero: the operator judges
    // every pod of its labels that the user's selector `performance-test-name=<test>` shows.
    let lab = Lab::start().await;
    let pod = r#"apiVersion: v1
kind: Pod
metadata:
  name: init-helper
  labels:
    performance-test-name: init
    managed-by: locust-k8s-operator
spec:
  restartPolicy: Never
  initContainers:
  - name: prepare
    image: locustio/locust:2.43.3
    command: ["python", "-c", "raise SystemExit(3)"]
  containers:
  - name: main
    image: locustio/locust:2.43.3
    command: ["python", "-c", "print('never runs')"]
"#;
    lab.apply(&[
        LOCUSTFILE_CONFIGMAP,
        &quick_test("init", "my-test-locustfile", 300),
        pod,
    ])
    .await;
    let message = pods_unhealthy(&lab, "init", "InitializationError").await;
    assert_format(&message, "InitializationError", 1, "init-helper");
    lab.stop().await;
}
