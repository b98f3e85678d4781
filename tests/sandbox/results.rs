//! The test as Locust sees it, with real Locust: live numbers in the status while it runs, the
//! results and the full report kept when it stops (and written out by `locust-operator
//! report`), a verdict from `spec.thresholds` on the measured numbers, and workers that never
//! connect failing the test at the connect timeout.

use std::time::Duration;

use locust_operator::sandbox::host::Allocatable;

use crate::{LOCUSTFILE_CONFIGMAP, Lab, condition, node, phase, quick_test};

/// [`quick_test`] with a longer autoquit, so the operator reads the stopped run twice (the
/// report is kept on the second read).
fn test_with_autoquit(name: &str, configmap: &str, run_time: u32, autoquit: u32) -> String {
    quick_test(name, configmap, run_time).replace(
        "      timeout: 2\n",
        &format!("      timeout: {autoquit}\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_numbers_while_running_then_results_and_the_report_kept() {
    let lab = Lab::start().await;
    lab.apply(&[
        LOCUSTFILE_CONFIGMAP,
        &test_with_autoquit("live", "my-test-locustfile", 12, 10),
    ])
    .await;

    // While Running: Locust's own numbers, users and requests per second.
    let (running, _) = lab
        .wait_for("live", "Running with users and requests/s", |t| {
            phase(t) == "Running"
                && t["status"]["stats"]["users"].as_i64().unwrap_or(0) > 0
                && t["status"]["stats"]["requestsPerSecond"]
                    .as_f64()
                    .unwrap_or(0.0)
                    > 0.0
        })
        .await;
    let stats = &running["status"]["stats"];
    assert_eq!(stats["users"], 4, "{stats:#}");
    assert_eq!(stats["workers"], 2, "{stats:#}");
    assert!(
        matches!(stats["state"].as_str(), Some("spawning" | "running")),
        "{stats:#}"
    );
    assert!(stats["readTime"].is_string(), "{stats:#}");
    assert_eq!(running["status"]["connectedWorkers"], 2);

    // Stopped: the final numbers and the report, kept.
    let (done, _) = lab
        .wait_for("live", "Succeeded", |t| {
            matches!(phase(t), "Succeeded" | "Failed")
        })
        .await;
    assert_eq!(phase(&done), "Succeeded", "{:#}", done["status"]);
    let results = &done["status"]["results"];
    assert_eq!(results["available"], true, "{results:#}");
    assert!(results["requests"].as_i64().unwrap() > 10, "{results:#}");
    assert_eq!(results["failures"], 0, "{results:#}");
    assert_eq!(results["endpoints"][0]["name"], "/", "{results:#}");
    assert_eq!(results["report"], "live-report", "{results:#}");

    // `locust-operator report` writes it out, as a CI job would.
    let out = lab.dir.join("report-out");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_locust-operator"))
        .args(["report", "live", "-n", "default", "-o"])
        .arg(&out)
        .env("KUBECONFIG", &lab.sandbox().kubeconfig)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.len() > 100_000 && html.contains("<html"),
        "{}",
        html.len()
    );
    let requests = std::fs::read_to_string(out.join("requests.csv")).unwrap();
    assert!(
        requests.starts_with("Type,Name,Request Count"),
        "{requests}"
    );
    assert!(requests.contains("GET,/,"), "{requests}");
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("status.json")).unwrap()).unwrap();
    assert_eq!(status["results"], *results);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missed_failure_ratio_fails_the_test_with_the_measured_ratio() {
    let lab = Lab::start().await;
    let failing = LOCUSTFILE_CONFIGMAP
        .replace("name: my-test-locustfile", "name: failing-locustfile")
        .replace(
            "            self.client.get(\"/\")",
            "            self.client.get(\"/\")\n\n        @task\n        def missing(self):\n            self.client.get(\"/missing\")",
        );
    let test = test_with_autoquit("strict", "failing-locustfile", 10, 8).replace(
        "  worker:\n",
        "  thresholds:\n    maxFailRatio: 0.1\n  worker:\n",
    );
    lab.apply(&[&failing, &test]).await;
    let (done, _) = lab
        .wait_for("strict", "ended", |t| {
            matches!(phase(t), "Succeeded" | "Failed")
        })
        .await;
    assert_eq!(phase(&done), "Failed", "{:#}", done["status"]);
    let (status, reason, message) = condition(&done, "TestCompleted").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "TestFailed"));
    let measured = done["status"]["results"]["failRatio"].as_f64().unwrap();
    assert!(measured > 0.1 && measured < 0.9, "{measured}");
    // The message shows three decimals, trailing zeros cut.
    let shown = format!("{measured:.3}");
    let shown = shown.trim_end_matches('0').trim_end_matches('.');
    let expected = format!("Test failed: thresholds missed: maxFailRatio 0.1 (measured {shown})");
    assert_eq!(message, expected);
    assert_eq!(
        done["status"]["results"]["errors"][0]["name"], "/missing",
        "{:#}",
        done["status"]["results"]
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_never_connects_fails_the_test_at_the_timeout() {
    // Room for the master and one worker only: the second worker is never scheduled. The
    // grace period is long, so the connect timeout decides.
    let room_for_one_worker = Allocatable {
        cpu_millis: 700.0,
        ..node()
    };
    let timeout = Duration::from_secs(15);
    let lab = Lab::start_full(&[], room_for_one_worker, Duration::from_secs(600), timeout).await;
    lab.apply(&[
        LOCUSTFILE_CONFIGMAP,
        &quick_test("lonely", "my-test-locustfile", 30),
    ])
    .await;
    let (running, _) = lab
        .wait_for("lonely", "Running", |t| phase(t) == "Running")
        .await;
    assert_eq!(running["status"]["expectedWorkers"], 2);
    let (done, _) = lab
        .wait_for("lonely", "Failed", |t| {
            matches!(phase(t), "Succeeded" | "Failed")
        })
        .await;
    assert_eq!(phase(&done), "Failed", "{:#}", done["status"]);
    let (_, reason, message) = condition(&done, "TestCompleted").unwrap();
    assert_eq!(reason, "TestFailed");
    assert!(
        message
            .starts_with("Test failed: 1 of 2 workers never connected within 15s: lonely-worker-")
            && message.ends_with(" (Unschedulable)"),
        "{message}"
    );
    // Nothing is left waiting: both Jobs suspended, their pods gone.
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(lab.sandbox().client.clone(), "default");
    for job in ["lonely-master", "lonely-worker"] {
        let job = jobs.get(job).await.unwrap();
        assert_eq!(job.spec.unwrap().suspend, Some(true));
    }
    lab.stop().await;
}
