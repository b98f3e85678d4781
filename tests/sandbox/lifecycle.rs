//! A test's life with real Locust: Pending → Running → Succeeded with every condition of the
//! user's document, the demo target really loaded; a locustfile that does not load fails it;
//! two tests at once.

use crate::{LOCUSTFILE_CONFIGMAP, Lab, condition, phase, quick_test};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_runs_to_succeeded_with_real_locust() {
    let lab = Lab::start().await;
    let tests = lab
        .apply(&[
            LOCUSTFILE_CONFIGMAP,
            &quick_test("quick", "my-test-locustfile", 8),
        ])
        .await;
    assert_eq!(tests.len(), 1);

    // Workers really connect to the master: the worker Job's ready pods.
    let (running, _) = lab
        .wait_for("quick", "Running with every worker connected", |t| {
            phase(t) == "Running"
                && t["status"]["connectedWorkers"] == t["status"]["expectedWorkers"]
        })
        .await;
    assert_eq!(running["status"]["expectedWorkers"], 2);
    let workers = condition(&running, "WorkersConnected").unwrap();
    assert_eq!(
        workers,
        (
            "True".into(),
            "AllWorkersConnected".into(),
            "2/2 workers connected".into()
        )
    );
    assert!(running["status"]["startTime"].is_string());

    // The metrics sidecar answers on the master pod's address, from the master's web API.
    let metrics = master_metrics(&lab, "quick").await;
    assert!(metrics.lines().any(|l| l == "locust_up 1"), "{metrics}");
    assert!(metrics.contains("locust_workers_count 2"), "{metrics}");

    let (done, phases) = lab
        .wait_for("quick", "Succeeded", |t| {
            matches!(phase(t), "Succeeded" | "Failed")
        })
        .await;
    assert_eq!(phase(&done), "Succeeded", "{:#}", done["status"]);
    assert!(
        phases.ends_with(&["Running".to_owned(), "Succeeded".to_owned()]),
        "{phases:?}"
    );
    assert_eq!(
        condition(&done, "TestCompleted").unwrap(),
        (
            "True".into(),
            "TestSucceeded".into(),
            "Test completed successfully (master exited with code 0)".into()
        )
    );
    assert_eq!(condition(&done, "PodsHealthy").unwrap().0, "True");
    assert_eq!(condition(&done, "Ready").unwrap().0, "True");
    assert!(done["status"]["completionTime"].is_string());
    assert!(
        lab.sandbox().demo.served() > 10,
        "the demo target received the test's requests ({})",
        lab.sandbox().demo.served()
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_locustfile_with_a_python_error_fails_the_test() {
    let lab = Lab::start().await;
    let broken = LOCUSTFILE_CONFIGMAP
        .replace("name: my-test-locustfile", "name: broken-locustfile")
        .replace(
            "from locust import HttpUser, between, task",
            "from locust import HttpUser, between, task\n    raise RuntimeError(\"broken on purpose\")",
        );
    lab.apply(&[&broken, &quick_test("broken", "broken-locustfile", 8)])
        .await;
    let (done, _) = lab
        .wait_for("broken", "Failed", |t| {
            matches!(phase(t), "Succeeded" | "Failed")
        })
        .await;
    assert_eq!(phase(&done), "Failed", "{:#}", done["status"]);
    let (status, reason, message) = condition(&done, "TestCompleted").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "TestFailed"));
    assert!(message.starts_with("Test failed: "), "{message}");
    let tail = follow_tail(&lab, "broken");
    assert!(
        tail.contains("broken on purpose"),
        "the master's log says why: {tail}"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tests_at_once_both_succeed() {
    let lab = Lab::start().await;
    lab.apply(&[
        LOCUSTFILE_CONFIGMAP,
        &quick_test("first", "my-test-locustfile", 6),
        &quick_test("second", "my-test-locustfile", 6),
    ])
    .await;
    for name in ["first", "second"] {
        let (done, _) = lab
            .wait_for(name, "Succeeded", |t| {
                matches!(phase(t), "Succeeded" | "Failed")
            })
            .await;
        assert_eq!(phase(&done), "Succeeded", "{name}: {:#}", done["status"]);
        assert_eq!(
            condition(&done, "TestCompleted").unwrap().1,
            "TestSucceeded"
        );
    }
    lab.stop().await;
}

fn follow_tail(lab: &Lab, name: &str) -> String {
    locust_operator::sandbox::follow::master_log_tail(
        &lab.sandbox().host,
        "default",
        &format!("{name}-master"),
        50,
    )
    .unwrap_or_default()
}

/// `GET /metrics` of the master pod's metrics sidecar (port 9646, as the Service declares it).
async fn master_metrics(lab: &Lab, name: &str) -> String {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::ListParams;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pods: kube::Api<Pod> = kube::Api::namespaced(lab.sandbox().client.clone(), "default");
    let list = pods
        .list(&ListParams::default().labels(&format!("performance-test-pod-name={name}-master")))
        .await
        .unwrap();
    let ip = list.items[0]
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("the master pod's address");
    let mut last = String::new();
    for _ in 0..40 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect((ip.as_str(), 9646)).await {
            stream
                .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            last = response;
            if last.contains("locust_workers_count 2") {
                return last;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    last
}
