//! The controller-runtime metrics: requests by path and code, latency, in-flight requests (also
//! for oversized and cancelled requests).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use locust_operator::webhook::server::MAX_BODY_BYTES;
use serde_json::{Value, json};

use crate::tls_support::{Ca, TestServer, client_config, handshake, plain_get};
use crate::{
    admission_review, admit, invalid_v2_test, post_raw, review_with_uid, server_and_client, v2_test,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_counted_in_the_metrics() {
    let (server, client) = server_and_client("metrics-413").await;
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let reply = post_raw(
        &client,
        &server,
        "/validate",
        Some("application/json"),
        body,
    )
    .await;
    assert_eq!(reply.status, 413);
    let (_, metrics) = plain_get(server.metrics, "/metrics").await.unwrap();
    assert_eq!(
        sample(
            &metrics,
            r#"controller_runtime_webhook_requests_total{webhook="/validate",code="413"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"controller_runtime_webhook_latency_seconds_count{webhook="/validate"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    server.stop().await;
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_path_and_code_with_latency_and_in_flight() {
    let (server, client) = server_and_client("metrics").await;
    let good = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    for _ in 0..3 {
        admit(&client, &server, "/validate", &review_with_uid(&good)).await;
    }
    let (invalid, _) = invalid_v2_test();
    admit(
        &client,
        &server,
        "/validate",
        &admission_review("CREATE", &invalid, &Value::Null, false),
    )
    .await;
    for _ in 0..2 {
        let reply = post_raw(&client, &server, "/validate", Some("application/json"), "{").await;
        assert_eq!(reply.status, 400);
    }
    let reply = post_raw(&client, &server, "/validate", Some("text/plain"), "{}").await;
    assert_eq!(reply.status, 415);
    admit(&client, &server, "/mutate", &review_with_uid(&good)).await;
    admit(
        &client,
        &server,
        "/validate-locust-io-v2-locusttest",
        &review_with_uid(&good),
    )
    .await;

    let (status, metrics) = plain_get(server.metrics, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let value = |series: &str| {
        sample(&metrics, series).unwrap_or_else(|| panic!("{series} missing from:\n{metrics}"))
    };
    let requests = "controller_runtime_webhook_requests_total";
    assert_eq!(
        value(&format!(r#"{requests}{{webhook="/validate",code="200"}}"#)),
        4.0
    );
    assert_eq!(
        value(&format!(r#"{requests}{{webhook="/validate",code="400"}}"#)),
        2.0
    );
    assert_eq!(
        value(&format!(r#"{requests}{{webhook="/validate",code="415"}}"#)),
        1.0
    );
    assert_eq!(
        value(&format!(r#"{requests}{{webhook="/mutate",code="200"}}"#)),
        1.0
    );
    assert_eq!(
        value(&format!(
            r#"{requests}{{webhook="/validate-locust-io-v2-locusttest",code="200"}}"#
        )),
        1.0
    );
    let latency = "controller_runtime_webhook_latency_seconds";
    assert_eq!(
        value(&format!(r#"{latency}_count{{webhook="/validate"}}"#)),
        7.0
    );
    assert_eq!(
        value(&format!(r#"{latency}_count{{webhook="/mutate"}}"#)),
        1.0
    );
    assert!(value(&format!(r#"{latency}_sum{{webhook="/validate"}}"#)) > 0.0);
    assert_eq!(
        value(&format!(
            r#"{latency}_bucket{{le="+Inf",webhook="/validate"}}"#
        )),
        7.0,
        "buckets:\n{metrics}"
    );
    assert!(
        metrics.contains(&format!("# TYPE {latency} histogram")),
        "{metrics}"
    );
    let in_flight = "controller_runtime_webhook_requests_in_flight";
    assert_eq!(
        value(&format!(r#"{in_flight}{{webhook="/validate"}}"#)),
        0.0
    );
    assert!(
        metrics.contains(&format!("# TYPE {in_flight} gauge")),
        "{metrics}"
    );
    let decisions = "locust_operator_webhook_decisions_total";
    assert_eq!(
        value(&format!(
            r#"{decisions}{{webhook="/validate",decision="allowed"}}"#
        )),
        3.0
    );
    assert_eq!(
        value(&format!(
            r#"{decisions}{{webhook="/validate",decision="denied"}}"#
        )),
        1.0
    );
    assert_eq!(
        value(&format!(
            r#"{decisions}{{webhook="/mutate",decision="patched"}}"#
        )),
        1.0
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_do_not_leak_in_flight() {
    let ca = Ca::new("cancel");
    let (server, _dir, _leaf) = TestServer::ready("cancel", &ca).await;
    // A valid review that takes a while to process (thousands of volumes and mounts).
    let mut test = v2_test("checkout");
    let count = 8000;
    test["spec"]["volumes"] = (0..count)
        .map(|i| json!({"name": format!("v{i}"), "emptyDir": {}}))
        .collect();
    test["spec"]["volumeMounts"] = (0..count)
        .map(|i| json!({"name": format!("v{i}"), "mountPath": format!("/data/{i}")}))
        .collect();
    let review = admission_review("CREATE", &test, &Value::Null, false);
    let body = Bytes::from(serde_json::to_vec(&review).unwrap());
    let mut config = client_config(&[&ca.der], None);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let stream = handshake(server.webhook, "localhost", config)
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let in_flight = r#"controller_runtime_webhook_requests_in_flight{webhook="/validate"}"#;
    let metrics = server.metrics;
    let gauge = move || async move {
        let (_, text) = plain_get(metrics, "/metrics").await.unwrap();
        sample(&text, in_flight)
    };
    for attempt in 0..3 {
        let request = Request::post(format!("https://{}/validate", server.webhook))
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .unwrap();
        let pending = tokio::spawn(sender.send_request(request));
        // Cancel while the server is working on it (the gauge shows it), as the API server
        // does when its own caller gives up.
        let mut caught = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !pending.is_finished() {
            if gauge().await == Some(1.0) {
                caught = true;
                break;
            }
        }
        pending.abort();
        if !caught {
            eprintln!("attempt {attempt}: answered before it could be cancelled");
            continue;
        }
        // The handler gives up within HANDLER_TIMEOUT anyway; allow far more.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut value = gauge().await;
        while value != Some(0.0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            value = gauge().await;
        }
        assert_eq!(value, Some(0.0), "{in_flight} after the cancelled request");
        server.stop().await;
        return;
    }
    panic!("could not cancel a request in flight");
}
