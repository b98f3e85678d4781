//! Bad input: malformed JSON, wrong review kind or version, no request, an object that is not a
//! LocustTest, oversized body, wrong content type, unknown path, wrong method; the server keeps
//! serving.

use bytes::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use locust_operator::webhook::server::MAX_BODY_BYTES;
use serde_json::{Value, json};

use crate::tls_support::{
    Ca, Http, HttpsClient, REQUEST_TIMEOUT, TestServer, client_config, handshake,
};
use crate::{
    ChannelBody, admission_response, admission_review, admit, assert_allowed, assert_denied_with,
    assert_still_serving, conversion_review, post_raw, review_with_uid, server_and_client,
    tls_support, v1_test, v2_test, warnings,
};

fn assert_text_error(reply: &tls_support::Reply, status: u16, mentions: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.text());
    assert!(
        reply.content_type.starts_with("text/plain"),
        "plain-text error, got {:?}",
        reply.content_type
    );
    assert!(
        reply.text().contains(mentions),
        "{mentions:?} in {:?}",
        reply.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_400_with_a_message() {
    let (server, client) = server_and_client("malformed").await;
    for path in ["/validate", "/mutate", "/convert"] {
        for body in [
            &b"{\"kind\": \"AdmissionReview\", "[..],
            b"",
            b"not json",
            b"\xff\xfe\x00",
        ] {
            let reply = post_raw(&client, &server, path, Some("application/json"), body).await;
            assert_text_error(&reply, 400, "not JSON");
        }
    }
    // Nesting deeper than the parser's recursion limit is an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let reply = post_raw(
        &client,
        &server,
        "/validate",
        Some("application/json"),
        deep,
    )
    .await;
    assert_text_error(&reply, 400, "not JSON");
    // JSON that is not an object.
    for body in ["[]", "42", "null", "\"AdmissionReview\""] {
        let reply = post_raw(
            &client,
            &server,
            "/validate",
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
    }
    assert_still_serving(&client, &server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_review_of_the_wrong_version_is_rejected_clearly() {
    let (server, client) = server_and_client("v1beta1").await;
    let mut old_review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    old_review["apiVersion"] = json!("admission.k8s.io/v1beta1");
    for path in ["/validate", "/mutate"] {
        // With a uid: a denial the API server can attribute to the request.
        let review = review_with_uid(&old_review);
        let reply = client.post_json(&server.url(path), &review).await;
        let response = admission_response(&reply, &review);
        let message = assert_denied_with(&response, &[]);
        assert_eq!(response["status"]["code"], 400, "{response}");
        assert!(message.contains("admission.k8s.io/v1"), "{message}");
        assert!(message.contains("v1beta1"), "{message}");
        // Without one: a plain 400.
        let mut review = review.clone();
        review["request"].as_object_mut().unwrap().remove("uid");
        let reply = client.post_json(&server.url(path), &review).await;
        assert_text_error(&reply, 400, "admission.k8s.io/v1");
    }
    assert_still_serving(&client, &server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_of_the_wrong_kind_is_rejected_clearly() {
    let (server, client) = server_and_client("wrong-kind").await;
    // A ConversionReview sent to the admission webhooks: its uid is echoed in a denial.
    let conversion = conversion_review("locust.io/v1", vec![v2_test("checkout")]);
    for path in ["/validate", "/mutate"] {
        let reply = client.post_json(&server.url(path), &conversion).await;
        let response = admission_response(&reply, &conversion);
        let message = assert_denied_with(&response, &[]);
        assert!(message.contains("AdmissionReview"), "{message}");
        assert!(message.contains("ConversionReview"), "{message}");
    }
    // An AdmissionReview sent to the conversion webhook: 400.
    let admission = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    let reply = client.post_json(&server.url("/convert"), &admission).await;
    assert_text_error(&reply, 400, "ConversionReview");
    // A ConversionReview of another version.
    let mut old = conversion.clone();
    old["apiVersion"] = json!("apiextensions.k8s.io/v1beta1");
    let reply = client.post_json(&server.url("/convert"), &old).await;
    assert_text_error(&reply, 400, "apiextensions.k8s.io/v1");
    // A review about another resource.
    let mut pod = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    pod["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Pod"});
    let response = admit(&client, &server, "/validate", &pod).await;
    let message = assert_denied_with(&response, &[]);
    assert!(message.contains("Pod"), "{message}");
    assert_still_serving(&client, &server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_without_a_request_is_a_400() {
    let (server, client) = server_and_client("no-request").await;
    let admission = json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"});
    for path in ["/validate", "/mutate"] {
        let reply = client.post_json(&server.url(path), &admission).await;
        assert_text_error(&reply, 400, "no request");
        let mut null = admission.clone();
        null["request"] = Value::Null;
        let reply = client.post_json(&server.url(path), &null).await;
        assert_text_error(&reply, 400, "no request");
    }
    let conversion = json!({"kind": "ConversionReview", "apiVersion": "apiextensions.k8s.io/v1"});
    let reply = client.post_json(&server.url("/convert"), &conversion).await;
    assert_text_error(&reply, 400, "no request");
    // A request missing required fields: the uid is known, so it is a denial.
    let mut partial = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    partial["request"]
        .as_object_mut()
        .unwrap()
        .remove("operation");
    let response = admit(&client, &server, "/validate", &partial).await;
    let message = assert_denied_with(&response, &[]);
    assert!(message.contains("operation"), "{message}");
    assert_still_serving(&client, &server).await;
    server.stop().await;
}

/// What a Rust parser says (serde's wording), which must never reach a user.
const PARSER_WORDING: [&str; 5] = [
    "invalid type",
    "unknown variant",
    "missing field",
    "expected",
    "not a valid LocustTest",
];

fn assert_no_parser_wording(message: &str) {
    for words in PARSER_WORDING {
        assert!(
            !message.contains(words),
            "parser wording {words:?}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_that_is_not_a_locust_test_is_denied_with_the_field_path_and_left_alone_by_mutation()
{
    let (server, client) = server_and_client("not-a-test").await;
    let mut test = v2_test("checkout");
    test["spec"]["worker"]["replicas"] = json!("ten");
    test["spec"]["imagePullPolicy"] = json!("Sometimes");
    let review = admission_review("CREATE", &test, &Value::Null, false);
    let response = admit(&client, &server, "/validate", &review).await;
    let message = assert_denied_with(&response, &["spec.worker.replicas", "spec.imagePullPolicy"]);
    assert_no_parser_wording(&message);
    let mut missing = v2_test("checkout");
    missing["spec"]["master"]
        .as_object_mut()
        .unwrap()
        .remove("command");
    let review = admission_review("CREATE", &missing, &Value::Null, false);
    let response = admit(&client, &server, "/validate", &review).await;
    let message = assert_denied_with(&response, &["spec.master.command"]);
    assert!(message.contains("Required value"), "{message}");
    assert_no_parser_wording(&message);
    // Mutating admission runs before the API server's schema validation: what the mutating
    // webhook cannot read it lets pass, unchanged, for the API server to report in its words.
    for object in [&test, &missing] {
        let review = admission_review("CREATE", object, &Value::Null, false);
        let response = admit(&client, &server, "/mutate", &review).await;
        assert_allowed(&response);
        assert!(response.get("patch").is_none(), "{response}");
        assert!(warnings(&response).is_empty(), "{response}");
    }
    let mut v1 = v1_test("legacy");
    v1["spec"]["workerReplicas"] = json!("four");
    let review = admission_review("CREATE", &v1, &Value::Null, false);
    let response = admit(&client, &server, "/validate", &review).await;
    assert_denied_with(&response, &["spec.workerReplicas"]);
    let mut future = v2_test("checkout");
    future["apiVersion"] = json!("locust.io/v9");
    let review = admission_review("CREATE", &future, &Value::Null, false);
    let response = admit(&client, &server, "/validate", &review).await;
    let message = assert_denied_with(&response, &[]);
    assert!(message.contains("locust.io/v9"), "{message}");
    assert_still_serving(&client, &server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_the_limit_is_a_413() {
    let ca = Ca::new("too-large");
    let (server, _dir, _leaf) = TestServer::ready("too-large", &ca).await;
    let h2 = HttpsClient::new(&ca, Http::Two);
    // A JSON string just over the limit (a review with one huge annotation).
    let mut test = v2_test("checkout");
    test["metadata"]["annotations"] = json!({"big": "x".repeat(MAX_BODY_BYTES)});
    let review = admission_review("CREATE", &test, &Value::Null, false);
    let body = serde_json::to_vec(&review).unwrap();
    assert!(body.len() > MAX_BODY_BYTES);
    for path in ["/validate", "/mutate", "/convert"] {
        let reply = post_raw(&h2, &server, path, Some("application/json"), body.clone()).await;
        assert_eq!(reply.status, 413, "{path}: {}", reply.text());
    }
    // Streamed without a Content-Length: the limit applies to what arrives.
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
    let (chunks, receiver) = tokio::sync::mpsc::channel::<Bytes>(4);
    let request = Request::post(server.url("/validate"))
        .header("content-type", "application/json")
        .body(ChannelBody(receiver))
        .unwrap();
    let response = tokio::spawn(sender.send_request(request));
    tokio::spawn(async move {
        let chunk = Bytes::from(vec![b' '; 64 * 1024]);
        for _ in 0..=MAX_BODY_BYTES / chunk.len() {
            if chunks.send(chunk.clone()).await.is_err() {
                break; // the server answered and reset the stream
            }
        }
    });
    let response = tokio::time::timeout(REQUEST_TIMEOUT, response)
        .await
        .expect("an answer in time")
        .unwrap()
        .expect("a response");
    assert_eq!(response.status(), 413);
    assert_still_serving(&h2, &server).await;
    // At the limit exactly, the body is read (and is not JSON here).
    let at_limit = vec![b' '; MAX_BODY_BYTES];
    let reply = post_raw(
        &h2,
        &server,
        "/validate",
        Some("application/json"),
        at_limit,
    )
    .await;
    assert_text_error(&reply, 400, "not JSON");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_the_limit_is_a_413_over_http1() {
    let ca = Ca::new("too-large-h1");
    let (server, _dir, _leaf) = TestServer::ready("too-large-h1", &ca).await;
    let h1 = HttpsClient::new(&ca, Http::One);
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let reply = post_raw(&h1, &server, "/validate", Some("application/json"), body).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_still_serving(&h1, &server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_a_415() {
    let (server, client) = server_and_client("content-type").await;
    let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    let body = serde_json::to_vec(&review).unwrap();
    for path in ["/validate", "/mutate", "/convert"] {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/yaml"),
            Some("application/jsonx"),
            None,
        ] {
            let reply = post_raw(&client, &server, path, content_type, body.clone()).await;
            assert_text_error(&reply, 415, "application/json");
        }
    }
    // Parameters and case do not matter.
    for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
        let reply = post_raw(
            &client,
            &server,
            "/validate",
            Some(content_type),
            body.clone(),
        )
        .await;
        let response = admission_response(&reply, &review);
        assert_allowed(&response);
    }
    assert_still_serving(&client, &server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_path_is_a_404() {
    let (server, client) = server_and_client("not-found").await;
    let review = serde_json::to_vec(&admission_review(
        "CREATE",
        &v2_test("checkout"),
        &Value::Null,
        false,
    ))
    .unwrap();
    for path in [
        "/",
        "/validate/extra",
        "/validating",
        "/mutate-locust-io-v1-locusttest",
        "/metrics",
        "/healthz",
    ] {
        let reply = post_raw(
            &client,
            &server,
            path,
            Some("application/json"),
            review.clone(),
        )
        .await;
        assert_text_error(&reply, 404, "/validate");
        let reply = client
            .send(Method::GET, &server.url(path), &[], Bytes::new())
            .await
            .unwrap();
        assert_eq!(reply.status, 404, "GET {path}");
    }
    assert_still_serving(&client, &server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_methods_on_the_webhooks_are_a_405() {
    let (server, client) = server_and_client("method").await;
    for path in [
        "/validate",
        "/mutate",
        "/convert",
        "/validate-locust-io-v2-locusttest",
        "/mutate-locust-io-v2-locusttest",
    ] {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
            let reply = client
                .send(method.clone(), &server.url(path), &[], Bytes::new())
                .await
                .unwrap();
            assert_eq!(reply.status, 405, "{method} {path}: {}", reply.text());
        }
    }
    assert_still_serving(&client, &server).await;
    server.stop().await;
}
