//! The webhook server over real TLS: started in-process on loopback (port 0) with certificates
//! generated here, driven by real HTTPS clients that verify the chain against the test CA.
//!
//! - every review recorded from a real kube-apiserver (`tests/fixtures/apiserver-reviews`)
//!   replayed as sent (path with `?timeout=`, headers, body) over HTTP/1.1 and HTTP/2;
//! - admission reviews shaped like the API server's: CREATE, UPDATE (spec, metadata, running
//!   tests), DELETE, v1 objects, dry runs, the Go operator's paths, failed conversions;
//! - every bad input (malformed JSON, wrong review kind or version, no request, an object that
//!   is not a LocustTest, oversized body, wrong content type, unknown path, wrong method);
//! - TLS: HTTP/1.1 and HTTP/2, untrusted clients, protocol versions;
//! - certificate rotation under load, broken rotations, starting without a certificate;
//! - the controller-runtime metrics;
//! - graceful shutdown of the real binary on SIGTERM.
//!
//! Every request has a client timeout and every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/tls.rs"]
mod tls_support;

use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use bytes::Bytes;
use hyper::Method;
use locust_operator::api::v2;
use locust_operator::defaulting::Defaulted;
use serde_json::{Value, json};
use tls_support::{Ca, Http, HttpsClient, TestServer, plain_get};

mod admission;
mod bad_input;
mod certificates;
mod metrics;
mod probes_and_shutdown;
mod recorded;
mod tls;

static UIDS: AtomicUsize = AtomicUsize::new(0);

/// A fresh request uid.
fn uid() -> String {
    format!(
        "00000000-0000-4000-8000-{:012}",
        UIDS.fetch_add(1, Ordering::Relaxed)
    )
}

/// A valid v2 test as the API server passes it to webhooks (schema defaults not applied).
fn v2_test(name: &str) -> Value {
    json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {
            "name": name,
            "namespace": "loadtests",
            "uid": "5b0a4a4e-3c1e-4d0c-9a43-7f1f3c2f9a10",
            "generation": 1,
            "creationTimestamp": "2026-11-24T04:52:39Z"
        },
        "spec": {
            "image": "locustio/locust:2.43.3",
            "testFiles": {"configMapRef": "scripts"},
            "master": {
                "command": "--locustfile /lotest/src/t.py --host https://shop.example.com --users 20 --spawn-rate 5 --run-time 1m"
            },
            "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": 2}
        }
    })
}

/// A v2 test breaking five rules, and the field path of each violation.
fn invalid_v2_test() -> (Value, Vec<&'static str>) {
    let mut test = v2_test("this-load-test-name-is-much-too-long-for-the-operator-xyz");
    test["spec"]["master"]["resources"] =
        json!({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}});
    test["spec"]["worker"]["replicas"] = json!(600);
    test["spec"]["volumeMounts"] = json!([{"name": "results", "mountPath": "/results"}]);
    test["spec"]["observability"] = json!({"openTelemetry": {"enabled": true}});
    (
        test,
        vec![
            "metadata.name",
            "spec.master.resources.requests.memory",
            "spec.worker.replicas",
            "spec.volumeMounts[0].name",
            "spec.observability.openTelemetry.endpoint",
        ],
    )
}

/// A valid v1 test (the Go operator's form).
fn v1_test(name: &str) -> Value {
    json!({
        "apiVersion": "locust.io/v1",
        "kind": "LocustTest",
        "metadata": {"name": name, "namespace": "loadtests"},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "masterCommandSeed": "--locustfile /lotest/src/legacy.py --host https://legacy.example.com --users 50 --spawn-rate 5 --run-time 2m",
            "workerCommandSeed": "--locustfile /lotest/src/legacy.py",
            "workerReplicas": 4,
            "configMap": "legacy-scripts"
        }
    })
}

/// An AdmissionReview as kube-apiserver v1.32 sends it.
fn admission_review(operation: &str, object: &Value, old_object: &Value, dry_run: bool) -> Value {
    let source = if object.is_null() { old_object } else { object };
    let version = source["apiVersion"]
        .as_str()
        .and_then(|v| v.strip_prefix("locust.io/"))
        .unwrap_or("v2");
    let options_kind = match operation {
        "CREATE" => "CreateOptions",
        "UPDATE" => "UpdateOptions",
        _ => "DeleteOptions",
    };
    let mut options = json!({"kind": options_kind, "apiVersion": "meta.k8s.io/v1"});
    if dry_run {
        options["dryRun"] = json!(["All"]);
    }
    if operation != "DELETE" {
        options["fieldManager"] = json!("kubectl-client-side-apply");
    }
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid(),
            "kind": {"group": "locust.io", "version": version, "kind": "LocustTest"},
            "resource": {"group": "locust.io", "version": version, "resource": "locusttests"},
            "requestKind": {"group": "locust.io", "version": version, "kind": "LocustTest"},
            "requestResource": {"group": "locust.io", "version": version, "resource": "locusttests"},
            "name": source["metadata"]["name"],
            "namespace": "loadtests",
            "operation": operation,
            "userInfo": {
                "username": "kubernetes-admin",
                "groups": ["system:masters", "system:authenticated"]
            },
            "object": object,
            "oldObject": old_object,
            "dryRun": dry_run,
            "options": options
        }
    })
}

/// A ConversionReview as the API server sends it.
fn conversion_review(desired: &str, objects: Vec<Value>) -> Value {
    json!({
        "kind": "ConversionReview",
        "apiVersion": "apiextensions.k8s.io/v1",
        "request": {"uid": uid(), "desiredAPIVersion": desired, "objects": objects}
    })
}

/// The `response` of an AdmissionReview reply, after checking the envelope and the uid.
fn admission_response(reply: &tls_support::Reply, request: &Value) -> Value {
    assert_eq!(reply.status, 200, "HTTP status; body: {}", reply.text());
    assert!(
        reply.content_type.starts_with("application/json"),
        "content type {:?}",
        reply.content_type
    );
    let body = reply.json();
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1", "{body}");
    assert_eq!(body["kind"], "AdmissionReview", "{body}");
    let response = body["response"].clone();
    assert_eq!(
        response["uid"], request["request"]["uid"],
        "the uid is echoed: {body}"
    );
    assert!(response["allowed"].is_boolean(), "{body}");
    response
}

fn assert_allowed(response: &Value) {
    assert_eq!(response["allowed"], true, "expected allowed: {response}");
}

fn warnings(response: &Value) -> Vec<String> {
    response["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|w| w.as_str().expect("a warning is a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a denial: a 4xx code, a Failure status, and every field path in the message.
fn assert_denied_with(response: &Value, paths: &[&str]) -> String {
    assert_eq!(response["allowed"], false, "expected a denial: {response}");
    let status = &response["status"];
    let code = status["code"].as_u64().expect("a denial carries a code");
    assert!((400..500).contains(&code), "4xx code expected: {response}");
    assert_eq!(status["status"], "Failure", "{response}");
    let message = status["message"]
        .as_str()
        .expect("a denial carries a message")
        .to_owned();
    for path in paths {
        assert!(
            message.contains(&format!("{path}:")),
            "the message names {path}: {message}"
        );
    }
    message
}

/// The decoded JSON Patch of a mutating response (`None` when there is none), after checking
/// `patchType` and the base64 encoding.
fn patch_of(response: &Value) -> Option<json_patch::Patch> {
    let patch = response.get("patch").filter(|p| !p.is_null())?;
    assert_eq!(
        response["patchType"], "JSONPatch",
        "a patch comes with patchType JSONPatch: {response}"
    );
    let encoded = patch.as_str().expect("the patch is a base64 string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("the patch is standard base64");
    let patch: json_patch::Patch =
        serde_json::from_slice(&bytes).expect("the patch is an RFC 6902 JSON Patch");
    Some(patch)
}

/// Applies the mutating webhook's answer to `object` and checks the result is exactly the
/// defaulted object, that only `/spec` fields absent before were added, and that nothing
/// outside the spec changed. Returns the patched object.
fn check_defaulting(object: &Value, response: &Value) -> Value {
    assert_allowed(response);
    let parsed: v2::LocustTest = serde_json::from_value(object.clone()).expect("a v2 test");
    let expected = Defaulted::new(parsed.clone());
    let mut patched = object.clone();
    match patch_of(response) {
        Some(patch) => {
            assert!(
                !patch.0.is_empty(),
                "an empty patch is left out: {response}"
            );
            let operations = serde_json::to_value(&patch).unwrap();
            for operation in operations.as_array().unwrap() {
                assert_eq!(operation["op"], "add", "defaults only add: {operation}");
                let path = operation["path"].as_str().unwrap();
                assert!(path.starts_with("/spec/"), "only the spec: {operation}");
                assert!(
                    object.pointer(path).is_none(),
                    "{path} was absent before: {operation}"
                );
            }
            json_patch::patch(&mut patched, &patch).expect("the patch applies to the object");
        }
        None => assert_eq!(
            parsed.spec, expected.spec,
            "no patch although defaults are missing: {response}"
        ),
    }
    let result: v2::LocustTest = serde_json::from_value(patched.clone()).expect("still a v2 test");
    assert_eq!(result.spec, expected.spec, "patched spec == defaulted spec");
    assert_eq!(
        patched["spec"],
        serde_json::to_value(&expected.spec).unwrap(),
        "patched spec JSON == defaulted spec JSON"
    );
    let outside = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("spec");
        v
    };
    assert_eq!(
        outside(&patched),
        outside(object),
        "nothing outside the spec"
    );
    patched
}

/// A ready server and an HTTP/2 client trusting its CA.
async fn server_and_client(name: &str) -> (TestServer, HttpsClient) {
    let ca = Ca::new(name);
    let (server, _dir, _leaf) = TestServer::ready(name, &ca).await;
    (server, HttpsClient::new(&ca, Http::Two))
}

/// POSTs `review` to `path` and returns the checked `response`.
async fn admit(client: &HttpsClient, server: &TestServer, path: &str, review: &Value) -> Value {
    let reply = client.post_json(&server.url(path), review).await;
    admission_response(&reply, review)
}

fn review_with_uid(review: &Value) -> Value {
    let mut review = review.clone();
    review["request"]["uid"] = json!(uid());
    review
}

/// After a bad request, the server still answers a good one.
async fn assert_still_serving(client: &HttpsClient, server: &TestServer) {
    let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    let response = admit(client, server, "/validate", &review).await;
    assert_allowed(&response);
    assert!(matches!(
        plain_get(server.probes, "/healthz").await,
        Ok((200, _))
    ));
}

async fn post_raw(
    client: &HttpsClient,
    server: &TestServer,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> tls_support::Reply {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| vec![("content-type", ct)])
        .unwrap_or_default();
    client
        .send(Method::POST, &server.url(path), &headers, body)
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// A request body fed through a channel, to send it in parts.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(hyper::body::Frame::data(bytes))))
    }
}
