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

#[path = "support/tls.rs"]
mod tls_support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use locust_operator::api::v2;
use locust_operator::conversion::{V2_SPEC_ANNOTATION, convert_object};
use locust_operator::defaulting::defaulted;
use locust_operator::validation::validate;
use locust_operator::webhook::server::MAX_BODY_BYTES;
use serde_json::{Value, json};
use tls_support::{
    Ca, Http, HttpsClient, RELOAD_INTERVAL, REQUEST_TIMEOUT, TestServer, client_config,
    current_leaf, fresh_dir, handshake, install, install_leaf, parse_http1, plain_get, served_leaf,
    wait_for,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// Review bodies

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

// ---------------------------------------------------------------------------------------------
// Response checks

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
    let expected = defaulted(&parsed);
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

// ---------------------------------------------------------------------------------------------
// Fixtures recorded from kube-apiserver

struct Fixture {
    name: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Value,
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apiserver-reviews");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let recorded: Value =
                serde_json::from_slice(&std::fs::read(&file).expect("read fixture"))
                    .expect("fixture is JSON");
            Fixture {
                name: file.file_name().unwrap().to_string_lossy().into_owned(),
                path: recorded["path"].as_str().expect("path").to_owned(),
                headers: serde_json::from_value(recorded["headers"].clone()).expect("headers"),
                body: recorded["body"].clone(),
            }
        })
        .collect()
}

/// Sends a fixture exactly as recorded: path with its query, every header (Content-Length
/// included: Go's encoder ends the JSON with a newline) and the body.
async fn replay(
    client: &HttpsClient,
    server: &TestServer,
    fixture: &Fixture,
) -> tls_support::Reply {
    let mut body = serde_json::to_vec(&fixture.body).unwrap();
    body.push(b'\n');
    assert_eq!(
        Some(&body.len().to_string()),
        fixture.headers.get("Content-Length"),
        "{}: the body re-encodes to the recorded length",
        fixture.name
    );
    let headers: Vec<(&str, &str)> = fixture
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    client
        .send(Method::POST, &server.url(&fixture.path), &headers, body)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", fixture.name))
}

async fn check_fixture(
    client: &HttpsClient,
    server: &TestServer,
    fixture: &Fixture,
    reply: &tls_support::Reply,
) {
    let name = fixture.name.as_str();
    if name.starts_with("convert-") {
        check_conversion_fixture(client, server, fixture, reply).await;
        return;
    }
    let response = admission_response(reply, &fixture.body);
    let request = &fixture.body["request"];
    let object = &request["object"];
    let old = &request["oldObject"];
    let recreate_warning = |response: &Value| {
        warnings(response)
            .iter()
            .any(|w| w.contains("recreate") && w.contains("ignored"))
    };
    if name.ends_with(".mutate.json") {
        if object.is_null() {
            assert_eq!(request["operation"], "DELETE", "{name}");
            assert_allowed(&response);
            assert!(patch_of(&response).is_none(), "{name}: {response}");
        } else if object["apiVersion"] == "locust.io/v1" {
            // v1 objects are not patched: they get their v2 defaults through conversion, which
            // writes out the one default the v2 schema cannot express (master.autoquit).
            assert_allowed(&response);
            assert!(patch_of(&response).is_none(), "{name}: {response}");
            let converted = convert_object(object.clone(), "locust.io/v2").expect("converts");
            assert!(
                converted.pointer("/spec/master/autoquit/timeout").is_some(),
                "{converted}"
            );
        } else {
            let patched = check_defaulting(object, &response);
            // Idempotent: the patched object gets no further patch.
            let mut again = fixture.body.clone();
            again["request"]["uid"] = json!(uid());
            again["request"]["object"] = patched;
            let second = client.post_json(&server.url(&fixture.path), &again).await;
            let second = admission_response(&second, &again);
            assert_allowed(&second);
            assert!(
                patch_of(&second).is_none(),
                "{name}: second pass patched again: {second}"
            );
        }
        if name.starts_with("create-v2-dryrun") {
            // The invalid test still gets its defaults: the validating webhook rejects it.
            assert!(patch_of(&response).is_some(), "{name}: {response}");
        }
        return;
    }
    assert!(name.ends_with(".validate.json"), "{name}: unknown webhook");
    if name.starts_with("create-v2-dryrun.") {
        assert_eq!(request["dryRun"], true, "{name}");
        let paths = [
            "metadata.name",
            "spec.volumes[0].name",
            "spec.volumeMounts[0].name",
            "spec.env.secretMounts[0].mountPath",
            "spec.observability.openTelemetry.endpoint",
        ];
        let message = assert_denied_with(&response, &paths);
        assert!(message.contains("(5 problems)"), "{message}");
        // The same report as the shared validation function.
        let parsed: v2::LocustTest = serde_json::from_value(object.clone()).unwrap();
        let report = validate(&defaulted(&parsed));
        assert_eq!(report.errors.len(), paths.len(), "{report:?}");
        for error in &report.errors {
            assert!(message.contains(&error.to_string()), "{error} in {message}");
        }
    } else if name.starts_with("create-v2.") || name.starts_with("create-v1.") {
        assert_eq!(request["operation"], "CREATE");
        assert_allowed(&response);
        assert!(warnings(&response).is_empty(), "{name}: {response}");
    } else if name.starts_with("update-spec-v2.") {
        assert_eq!(request["operation"], "UPDATE");
        assert_ne!(object["spec"], old["spec"], "{name}: the spec changed");
        let phase = old.pointer("/status/phase").and_then(Value::as_str);
        match phase {
            Some(phase) if phase != "Pending" => {
                assert_allowed(&response);
                assert!(recreate_warning(&response), "{name}: {response}");
            }
            // Recorded before the controller set a phase: the new spec is validated like a
            // new test's (and it is valid).
            _ => {
                let parsed: v2::LocustTest = serde_json::from_value(object.clone()).unwrap();
                assert!(validate(&defaulted(&parsed)).is_valid());
                assert_allowed(&response);
                assert!(!recreate_warning(&response), "{name}: {response}");
            }
        }
    } else if name.starts_with("update-labels-v2.") {
        assert_eq!(request["operation"], "UPDATE");
        assert_eq!(object["spec"], old["spec"], "{name}: metadata-only");
        assert_ne!(object["metadata"]["labels"], old["metadata"]["labels"]);
        assert_allowed(&response);
        assert!(warnings(&response).is_empty(), "{name}: {response}");
    } else if name.starts_with("delete-v2.") {
        assert_eq!(request["operation"], "DELETE");
        assert!(object.is_null(), "{name}");
        assert_allowed(&response);
    } else {
        panic!("{name}: no expectation for this fixture; add one");
    }
}

/// Checks a ConversionReview reply: Success, desired version, same count and order, metadata
/// unchanged except the v2-spec stash annotation, exactly the pure conversion's output; and
/// that converting the result back restores the original.
async fn check_conversion_fixture(
    client: &HttpsClient,
    server: &TestServer,
    fixture: &Fixture,
    reply: &tls_support::Reply,
) {
    let name = &fixture.name;
    assert_eq!(reply.status, 200, "{name}: {}", reply.text());
    let body = reply.json();
    assert_eq!(body["apiVersion"], "apiextensions.k8s.io/v1", "{name}");
    assert_eq!(body["kind"], "ConversionReview", "{name}");
    let request = &fixture.body["request"];
    let response = &body["response"];
    assert_eq!(response["uid"], request["uid"], "{name}: uid echoed");
    assert_eq!(
        response["result"]["status"], "Success",
        "{name}: {response}"
    );
    let desired = request["desiredAPIVersion"].as_str().unwrap();
    let objects = request["objects"].as_array().unwrap();
    let converted = response["convertedObjects"].as_array().unwrap();
    assert_eq!(converted.len(), objects.len(), "{name}: same count");
    for (original, converted) in objects.iter().zip(converted) {
        assert_eq!(converted["apiVersion"], desired, "{name}");
        assert_eq!(converted["kind"], "LocustTest", "{name}");
        assert_eq!(
            converted["metadata"]["uid"], original["metadata"]["uid"],
            "{name}: same order"
        );
        assert_eq!(
            converted,
            &convert_object(original.clone(), desired).expect("the pure conversion"),
            "{name}: the pure conversion's output"
        );
        let mut metadata = converted["metadata"].clone();
        let stash = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
            .and_then(|a| a.remove(V2_SPEC_ANNOTATION));
        assert_eq!(
            metadata, original["metadata"],
            "{name}: metadata unchanged but for {V2_SPEC_ANNOTATION}"
        );
        if desired == "locust.io/v1" {
            // This test uses v2-only fields (scheduling, env, volumes): v1 stashes the spec.
            let stash = stash.expect("the v2 spec is stashed");
            let stashed: v2::LocustTestSpec =
                serde_json::from_str(stash.as_str().unwrap()).expect("the stash is a v2 spec");
            let spec: v2::LocustTestSpec =
                serde_json::from_value(original["spec"].clone()).unwrap();
            assert_eq!(stashed, spec, "{name}: the stash is the whole v2 spec");
        } else {
            assert!(stash.is_none(), "{name}: no stash on a v2 object");
        }
        // Round trip through the server.
        let source = original["apiVersion"].as_str().unwrap();
        let back = conversion_review(source, vec![converted.clone()]);
        let back_reply = client.post_json(&server.url("/convert"), &back).await;
        assert_eq!(back_reply.status, 200, "{name}: {}", back_reply.text());
        let back_body = back_reply.json();
        assert_eq!(back_body["response"]["result"]["status"], "Success");
        let restored = &back_body["response"]["convertedObjects"][0];
        assert_eq!(
            restored["metadata"], original["metadata"],
            "{name}: round trip"
        );
        if source == "locust.io/v2" {
            let restored: v2::LocustTestSpec =
                serde_json::from_value(restored["spec"].clone()).unwrap();
            let spec: v2::LocustTestSpec =
                serde_json::from_value(original["spec"].clone()).unwrap();
            assert_eq!(restored, spec, "{name}: v2 -> v1 -> v2 is lossless");
        } else {
            assert_eq!(restored["spec"], original["spec"], "{name}: v1 -> v2 -> v1");
        }
    }
}

async fn replay_every_fixture(http: Http) {
    let ca = Ca::new("fixtures CA");
    let (server, _dir, _leaf) = TestServer::ready("fixtures", &ca).await;
    let client = HttpsClient::new(&ca, http);
    let fixtures = fixtures();
    assert!(
        fixtures.len() >= 15,
        "expected the recorded fixtures, found {}",
        fixtures.len()
    );
    for fixture in &fixtures {
        assert!(
            fixture.path.contains("?timeout="),
            "{}: recorded with the API server's timeout query",
            fixture.name
        );
        let reply = replay(&client, &server, fixture).await;
        let expected = match http {
            Http::One => hyper::Version::HTTP_11,
            Http::Two => hyper::Version::HTTP_2,
        };
        assert_eq!(reply.version, expected, "{}", fixture.name);
        check_fixture(&client, &server, fixture, &reply).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_apiserver_review_gets_the_right_answer_over_http2() {
    replay_every_fixture(Http::Two).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_apiserver_review_gets_the_right_answer_over_http1() {
    replay_every_fixture(Http::One).await;
}

// ---------------------------------------------------------------------------------------------
// Admission reviews built here

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_of_a_valid_test_is_allowed_and_defaulted() {
    let (server, client) = server_and_client("create-valid").await;
    let test = v2_test("checkout");
    let review = admission_review("CREATE", &test, &Value::Null, false);
    let response = admit(&client, &server, "/validate", &review).await;
    assert_allowed(&response);
    assert!(warnings(&response).is_empty(), "{response}");
    assert!(response.get("patch").is_none(), "validation never patches");

    let review = review_with_uid(&review);
    let response = admit(&client, &server, "/mutate", &review).await;
    let patched = check_defaulting(&test, &response);
    assert!(
        patch_of(&response).is_some(),
        "this test lacks defaults, so it gets a patch"
    );
    for (pointer, value) in [
        ("/spec/imagePullPolicy", json!("IfNotPresent")),
        ("/spec/master/autostart", json!(true)),
        (
            "/spec/master/autoquit",
            json!({"enabled": true, "timeout": 60}),
        ),
        ("/spec/testFiles/srcMountPath", json!("/lotest/src")),
        ("/spec/testFiles/libMountPath", json!("/opt/locust/lib")),
    ] {
        assert_eq!(patched.pointer(pointer), Some(&value), "{pointer}");
    }
    // A second pass over the patched object changes nothing.
    let again = admission_review("CREATE", &patched, &Value::Null, false);
    let response = admit(&client, &server, "/mutate", &again).await;
    assert_allowed(&response);
    assert!(patch_of(&response).is_none(), "idempotent: {response}");
    server.stop().await;
}

fn review_with_uid(review: &Value) -> Value {
    let mut review = review.clone();
    review["request"]["uid"] = json!(uid());
    review
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_of_an_invalid_test_is_denied_with_every_field_path() {
    let (server, client) = server_and_client("create-invalid").await;
    let (test, paths) = invalid_v2_test();
    let review = admission_review("CREATE", &test, &Value::Null, false);
    let response = admit(&client, &server, "/validate", &review).await;
    let message = assert_denied_with(&response, &paths);
    assert!(message.contains("(5 problems)"), "{message}");
    assert_eq!(response["status"]["code"], 422, "{response}");
    assert_eq!(response["status"]["reason"], "Invalid", "{response}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_args_overriding_managed_flags_come_back_as_warnings() {
    let (server, client) = server_and_client("warnings").await;
    let mut test = v2_test("checkout");
    test["spec"]["master"]["extraArgs"] = json!(["--csv=/data/run", "--expect-workers=3"]);
    test["spec"]["worker"]["extraArgs"] = json!(["--master-host=elsewhere"]);
    let review = admission_review("CREATE", &test, &Value::Null, false);
    let response = admit(&client, &server, "/validate", &review).await;
    assert_allowed(&response);
    let warnings = warnings(&response);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("spec.master.extraArgs[1]:") && w.contains("--expect-workers")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("spec.worker.extraArgs[0]:") && w.contains("--master-host")),
        "{warnings:?}"
    );
    server.stop().await;
}

fn with_phase(test: &Value, phase: &str) -> Value {
    let mut test = test.clone();
    test["status"] = json!({"phase": phase, "expectedWorkers": 2});
    test
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_update_of_a_started_test_is_allowed_with_a_recreate_warning() {
    let (server, client) = server_and_client("update-running").await;
    let old = v2_test("checkout");
    for phase in ["Running", "Succeeded", "Failed"] {
        let old = with_phase(&old, phase);
        let mut new = old.clone();
        new["spec"]["worker"]["replicas"] = json!(5);
        new["metadata"]["generation"] = json!(2);
        let review = admission_review("UPDATE", &new, &old, false);
        let response = admit(&client, &server, "/validate", &review).await;
        assert_allowed(&response);
        let warnings = warnings(&response);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(phase) && w.contains("ignored") && w.contains("recreate")),
            "{phase}: {warnings:?}"
        );
        // Even an invalid new spec is not rejected: it is ignored, and the warning says so.
        let (invalid, _) = invalid_v2_test();
        let mut new = old.clone();
        new["spec"] = invalid["spec"].clone();
        let review = admission_review("UPDATE", &new, &old, false);
        let response = admit(&client, &server, "/validate", &review).await;
        assert_allowed(&response);
        assert!(
            self::warnings(&response)
                .iter()
                .any(|w| w.contains("recreate")),
            "{phase}: {response}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_update_of_a_pending_test_is_validated() {
    let (server, client) = server_and_client("update-pending").await;
    let old = v2_test("checkout");
    let (invalid, _) = invalid_v2_test();
    let paths = [
        "spec.master.resources.requests.memory",
        "spec.worker.replicas",
        "spec.volumeMounts[0].name",
        "spec.observability.openTelemetry.endpoint",
    ];
    for old in [with_phase(&old, "Pending"), old.clone()] {
        let mut new = old.clone();
        new["spec"] = invalid["spec"].clone();
        let review = admission_review("UPDATE", &new, &old, false);
        let response = admit(&client, &server, "/validate", &review).await;
        let message = assert_denied_with(&response, &paths);
        assert!(message.contains("(4 problems)"), "{message}");
        assert!(
            !self::warnings(&response)
                .iter()
                .any(|w| w.contains("recreate")),
            "{response}"
        );
        // A valid change is allowed without the warning.
        let mut new = old.clone();
        new["spec"]["worker"]["replicas"] = json!(5);
        let review = admission_review("UPDATE", &new, &old, false);
        let response = admit(&client, &server, "/validate", &review).await;
        assert_allowed(&response);
        assert!(warnings(&response).is_empty(), "{response}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_status_updates_of_an_invalid_test_are_allowed() {
    let (server, client) = server_and_client("update-metadata").await;
    let (invalid, _) = invalid_v2_test();
    for phase in ["Pending", "Running"] {
        let old = with_phase(&invalid, phase);
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"extra": "yes"});
        new["metadata"]["annotations"] = json!({"note": "relabelled"});
        let review = admission_review("UPDATE", &new, &old, false);
        let response = admit(&client, &server, "/validate", &review).await;
        assert_allowed(&response);
        assert!(warnings(&response).is_empty(), "{phase}: {response}");
        // Schema defaults filled in by the API server are not a spec change either.
        let mut new = old.clone();
        new["spec"]["imagePullPolicy"] = json!("IfNotPresent");
        new["spec"]["master"]["autostart"] = json!(true);
        let review = admission_review("UPDATE", &new, &old, false);
        let response = admit(&client, &server, "/validate", &review).await;
        assert_allowed(&response);
        // A status-subresource write (not routed to these webhooks by the API server, but
        // harmless if it is).
        let mut new = old.clone();
        new["status"]["phase"] = json!("Failed");
        let mut review = admission_review("UPDATE", &new, &old, false);
        review["request"]["subResource"] = json!("status");
        let response = admit(&client, &server, "/validate", &review).await;
        assert_allowed(&response);
        let response = admit(&client, &server, "/mutate", &review_with_uid(&review)).await;
        assert_allowed(&response);
        assert!(patch_of(&response).is_none(), "{response}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_a_null_object_is_allowed() {
    let (server, client) = server_and_client("delete").await;
    let (invalid, _) = invalid_v2_test();
    for old in [
        with_phase(&v2_test("checkout"), "Running"),
        invalid,
        v1_test("legacy"),
    ] {
        for path in ["/validate", "/mutate"] {
            let review = admission_review("DELETE", &Value::Null, &old, false);
            assert!(review["request"]["object"].is_null());
            let response = admit(&client, &server, path, &review).await;
            assert_allowed(&response);
            assert!(patch_of(&response).is_none(), "{path}: {response}");
            assert!(warnings(&response).is_empty(), "{path}: {response}");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_objects_are_validated_after_conversion_to_v2() {
    let (server, client) = server_and_client("v1").await;
    let valid = v1_test("legacy");
    let review = admission_review("CREATE", &valid, &Value::Null, false);
    assert_eq!(review["request"]["kind"]["version"], "v1");
    let response = admit(&client, &server, "/validate", &review).await;
    assert_allowed(&response);
    // The mutating webhook leaves v1 objects to conversion.
    let response = admit(&client, &server, "/mutate", &review_with_uid(&review)).await;
    assert_allowed(&response);
    assert!(patch_of(&response).is_none(), "{response}");

    let mut invalid = v1_test("this-load-test-name-is-much-too-long-for-the-operator-xyz");
    invalid["spec"]["workerReplicas"] = json!(0);
    invalid["spec"]["labels"] = json!({"master": {"bad key!": "x"}});
    let review = admission_review("CREATE", &invalid, &Value::Null, false);
    let response = admit(&client, &server, "/validate", &review).await;
    // v2 field paths, not v1 ones (workerReplicas, labels.master).
    let message = assert_denied_with(
        &response,
        &[
            "metadata.name",
            "spec.worker.replicas",
            "spec.master.labels.bad key!",
        ],
    );
    assert!(!message.contains("workerReplicas"), "{message}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_requests_get_the_same_answers() {
    let (server, client) = server_and_client("dry-run").await;
    let (invalid, _) = invalid_v2_test();
    let running = with_phase(&v2_test("checkout"), "Running");
    let mut changed = running.clone();
    changed["spec"]["worker"]["replicas"] = json!(7);
    let cases = [
        ("CREATE", v2_test("checkout"), Value::Null),
        ("CREATE", invalid.clone(), Value::Null),
        ("CREATE", v1_test("legacy"), Value::Null),
        ("UPDATE", changed, running.clone()),
        ("DELETE", Value::Null, running),
    ];
    for (operation, object, old) in cases {
        for path in ["/validate", "/mutate"] {
            let wet = admission_review(operation, &object, &old, false);
            let dry = admission_review(operation, &object, &old, true);
            assert_eq!(dry["request"]["options"]["dryRun"], json!(["All"]));
            let mut wet = admit(&client, &server, path, &wet).await;
            let mut dry = admit(&client, &server, path, &dry).await;
            wet.as_object_mut().unwrap().remove("uid");
            dry.as_object_mut().unwrap().remove("uid");
            assert_eq!(dry, wet, "{operation} {path}: dry run answers the same");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_operator_paths_answer_like_validate_and_mutate() {
    let (server, client) = server_and_client("go-paths").await;
    let (invalid, _) = invalid_v2_test();
    let objects = [v2_test("checkout"), invalid, v1_test("legacy")];
    for (ours, go) in [
        ("/validate", "/validate-locust-io-v2-locusttest"),
        ("/mutate", "/mutate-locust-io-v2-locusttest"),
    ] {
        for object in &objects {
            let review = admission_review("CREATE", object, &Value::Null, false);
            let mut expected = admit(&client, &server, ours, &review).await;
            let mut answer = admit(&client, &server, go, &review).await;
            expected.as_object_mut().unwrap().remove("uid");
            answer.as_object_mut().unwrap().remove("uid");
            assert_eq!(answer, expected, "{go} answers like {ours}");
        }
        // With the API server's query string too.
        let review = admission_review("CREATE", &objects[0], &Value::Null, false);
        let response = admit(&client, &server, &format!("{go}?timeout=10s"), &review).await;
        assert_allowed(&response);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_conversion_is_a_failure_result_never_a_500() {
    let (server, client) = server_and_client("convert-failure").await;
    let mut unknown = v2_test("future");
    unknown["apiVersion"] = json!("locust.io/v9");
    let mut not_a_test = v2_test("other");
    not_a_test["kind"] = json!("ConfigMap");
    let mut unparsable = v2_test("broken");
    unparsable["spec"]["worker"]["replicas"] = json!("ten");
    let cases = [
        (
            "locust.io/v1",
            vec![v2_test("fine"), unknown.clone()],
            "locust.io/v9",
        ),
        ("locust.io/v2", vec![unknown], "locust.io/v9"),
        ("locust.io/v9", vec![v2_test("fine")], "locust.io/v9"),
        ("locust.io/v1", vec![not_a_test], "ConfigMap"),
        ("locust.io/v1", vec![unparsable], "replicas"),
    ];
    for (desired, objects, mentions) in cases {
        let review = conversion_review(desired, objects);
        let reply = client.post_json(&server.url("/convert"), &review).await;
        assert_eq!(reply.status, 200, "{desired}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["kind"], "ConversionReview");
        let response = &body["response"];
        assert_eq!(response["uid"], review["request"]["uid"], "{body}");
        assert_eq!(response["result"]["status"], "Failure", "{body}");
        let message = response["result"]["message"].as_str().expect("a message");
        assert!(message.contains(mentions), "{message}");
        assert!(
            response["convertedObjects"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "no partial result: {body}"
        );
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Bad input

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

// ---------------------------------------------------------------------------------------------
// TLS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http1_and_http2_over_tls() {
    let ca = Ca::new("versions");
    let (server, _dir, _leaf) = TestServer::ready("versions", &ca).await;
    for (http, version) in [
        (Http::One, hyper::Version::HTTP_11),
        (Http::Two, hyper::Version::HTTP_2),
    ] {
        let client = HttpsClient::new(&ca, http);
        let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
        let reply = client.post_json(&server.url("/validate"), &review).await;
        assert_eq!(reply.version, version);
        assert_allowed(&admission_response(&reply, &review));
    }
    // ALPN: the server offers h2 and http/1.1.
    for (offered, chosen) in [
        (vec![b"h2".to_vec(), b"http/1.1".to_vec()], &b"h2"[..]),
        (vec![b"http/1.1".to_vec()], b"http/1.1"),
    ] {
        let mut config = client_config(&[&ca.der], None);
        config.alpn_protocols = offered;
        let stream = handshake(server.webhook, "localhost", config)
            .await
            .unwrap();
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(chosen));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_does_not_trust_the_ca_fails_the_handshake() {
    let ca = Ca::new("trusted");
    let (server, _dir, _leaf) = TestServer::ready("untrusted", &ca).await;
    let stranger = Ca::new("someone else");
    let error = handshake(
        server.webhook,
        "localhost",
        client_config(&[&stranger.der], None),
    )
    .await
    .expect_err("the handshake fails");
    assert!(
        error.contains("UnknownIssuer") || error.contains("invalid peer certificate"),
        "{error}"
    );
    let client = HttpsClient::new(&stranger, Http::Two);
    let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    let error = client
        .send(
            Method::POST,
            &server.url("/validate"),
            &[("content-type", "application/json")],
            serde_json::to_vec(&review).unwrap(),
        )
        .await
        .expect_err("no response to an untrusting client");
    assert!(error.contains("request failed"), "{error}");
    // The name must match too.
    let error = handshake(
        server.webhook,
        "webhook.example.com",
        client_config(&[&ca.der], None),
    )
    .await
    .expect_err("wrong name");
    assert!(error.contains("not valid for name"), "{error}");
    // And the trusting client is unaffected.
    assert_still_serving(&HttpsClient::new(&ca, Http::Two), &server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiates_tls13_by_default_and_tls12_when_the_client_is_limited_to_it() {
    let ca = Ca::new("protocols");
    let (server, _dir, _leaf) = TestServer::ready("protocols", &ca).await;
    let cases: [(Option<&[&'static rustls::SupportedProtocolVersion]>, _); 3] = [
        (None, rustls::ProtocolVersion::TLSv1_3),
        (
            Some(&[&rustls::version::TLS12]),
            rustls::ProtocolVersion::TLSv1_2,
        ),
        (
            Some(&[&rustls::version::TLS13]),
            rustls::ProtocolVersion::TLSv1_3,
        ),
    ];
    for (versions, expected) in cases {
        let stream = handshake(
            server.webhook,
            "localhost",
            client_config(&[&ca.der], versions),
        )
        .await
        .unwrap();
        assert_eq!(stream.get_ref().1.protocol_version(), Some(expected));
        // And a request works over it.
        let client = HttpsClient::with_config(client_config(&[&ca.der], versions), Http::One);
        assert_still_serving(&client, &server).await;
    }
    // TLS 1.0/1.1 (which rustls cannot speak): a raw ClientHello offering only TLS 1.1 is
    // refused with an alert, not answered with a ServerHello.
    let alert = raw_client_hello(server.webhook, [0x03, 0x02]).await;
    assert_eq!(
        alert.first(),
        Some(&0x15),
        "a TLS alert record: {alert:02x?}"
    );
    server.stop().await;
}

/// Sends a minimal ClientHello with `version` as its only version, returns the first bytes the
/// server answers.
async fn raw_client_hello(addr: SocketAddr, version: [u8; 2]) -> Vec<u8> {
    let mut hello = Vec::new();
    hello.extend_from_slice(&version); // client_version
    hello.extend_from_slice(&[0x11; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]); // ECDHE-ECDSA/RSA-AES128-GCM
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null
    // extensions: supported_groups (x25519, secp256r1), ec_point_formats, signature_algorithms
    let extensions: &[u8] = &[
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, // groups
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // point formats
        0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04, // signature algorithms
    ];
    hello.extend_from_slice(&u16::try_from(extensions.len()).unwrap().to_be_bytes());
    hello.extend_from_slice(extensions);
    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&u32::try_from(hello.len()).unwrap().to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&handshake);
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(&record).await.unwrap();
        let mut answer = vec![0; 64];
        let n = tcp.read(&mut answer).await.unwrap_or(0);
        answer.truncate(n);
        answer
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .expect("the server answers the ClientHello")
}

// ---------------------------------------------------------------------------------------------
// Certificate rotation

/// One request/response loop on a single kept-alive connection (HTTP/1.1 or HTTP/2), counting
/// successes and failures until `stop`.
struct Looper {
    ok: AtomicUsize,
    failed: AtomicUsize,
    errors: std::sync::Mutex<Vec<String>>,
}

async fn loop_on_one_connection(
    addr: SocketAddr,
    ca: &Ca,
    http: Http,
    stop: Arc<AtomicBool>,
    stats: Arc<Looper>,
) -> tokio::task::JoinHandle<rustls::pki_types::CertificateDer<'static>> {
    let mut config = client_config(&[&ca.der], None);
    config.alpn_protocols = match http {
        Http::One => vec![b"http/1.1".to_vec()],
        Http::Two => vec![b"h2".to_vec()],
    };
    let stream = handshake(addr, "localhost", config).await.unwrap();
    let leaf = served_leaf(&stream);
    let io = TokioIo::new(stream);
    enum Sender {
        One(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
        Two(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
    }
    let mut sender = match http {
        Http::One => {
            let (sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(connection);
            Sender::One(sender)
        }
        Http::Two => {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(connection);
            Sender::Two(sender)
        }
    };
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
            let request = Request::post(format!("https://{addr}/validate"))
                .header("host", addr.to_string())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(serde_json::to_vec(&review).unwrap())))
                .unwrap();
            let exchange = async {
                let response = match &mut sender {
                    Sender::One(s) => {
                        s.ready().await.map_err(|e| e.to_string())?;
                        s.send_request(request).await
                    }
                    Sender::Two(s) => {
                        s.ready().await.map_err(|e| e.to_string())?;
                        s.send_request(request).await
                    }
                }
                .map_err(|e| e.to_string())?;
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                let body: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                if status == 200 && body["response"]["allowed"] == true {
                    Ok(())
                } else {
                    Err(format!("{status}: {body}"))
                }
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
                Ok(Ok(())) => {
                    stats.ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(error)) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    stats.errors.lock().unwrap().push(error);
                }
                Err(_) => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    stats.errors.lock().unwrap().push("timeout".into());
                }
            }
        }
        leaf
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificate_reaches_new_handshakes_while_kept_alive_connections_keep_working() {
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let (server, dir, old_leaf) = TestServer::ready("rotation", &old_ca).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    let mut stats = Vec::new();
    for http in [Http::One, Http::Two] {
        let looper = Arc::new(Looper {
            ok: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            errors: Default::default(),
        });
        loops.push(
            loop_on_one_connection(server.webhook, &old_ca, http, stop.clone(), looper.clone())
                .await,
        );
        stats.push(looper);
    }
    // Meanwhile, a client trusting both CAs opens a new connection for every request: during
    // the swap every handshake succeeds, and once it has seen the new certificate it never
    // sees the old one again.
    let fresh_stop = Arc::new(AtomicBool::new(false));
    let fresh = {
        let (addr, old_ca, new_ca, stop) = (
            server.webhook,
            old_ca.der.clone(),
            new_ca.der.clone(),
            fresh_stop.clone(),
        );
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(current_leaf(addr, &[&old_ca, &new_ca]).await);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        })
    };
    // Waits until every loop has made `more` requests beyond `base`.
    let wait_for_requests = |base: Vec<usize>, more: usize| {
        let stats = stats.clone();
        async move {
            wait_for(
                "the loops to make progress",
                Duration::from_secs(10),
                || {
                    for s in &stats {
                        let errors = s.errors.lock().unwrap();
                        assert!(errors.is_empty(), "a looping request failed: {errors:?}");
                    }
                    let done = stats
                        .iter()
                        .zip(&base)
                        .all(|(s, base)| s.ok.load(Ordering::Relaxed) >= base + more);
                    async move { done }
                },
            )
            .await;
        }
    };
    wait_for_requests(vec![0; stats.len()], 10).await;

    let new_leaf = new_ca.issue("webhook rotated");
    let rotated = Instant::now();
    install_leaf(&dir, &new_leaf);
    let (addr, new_root) = (server.webhook, new_ca.der.clone());
    wait_for(
        "new handshakes to see the new certificate",
        RELOAD_INTERVAL * 10,
        || {
            let new_root = new_root.clone();
            async move { current_leaf(addr, &[&new_root]).await.is_ok() }
        },
    )
    .await;
    let took = rotated.elapsed();
    assert_eq!(
        current_leaf(addr, &[&new_ca.der]).await.unwrap(),
        new_leaf.der,
        "the new leaf is served"
    );
    assert!(
        current_leaf(addr, &[&old_ca.der]).await.is_err(),
        "the old certificate is no longer served"
    );
    // The kept-alive connections go on working after the rotation.
    let after: Vec<usize> = stats.iter().map(|s| s.ok.load(Ordering::Relaxed)).collect();
    wait_for_requests(after, 10).await;
    stop.store(true, Ordering::Relaxed);
    fresh_stop.store(true, Ordering::Relaxed);
    for (looped, stats) in loops.into_iter().zip(&stats) {
        let leaf = tokio::time::timeout(REQUEST_TIMEOUT, looped)
            .await
            .expect("the loop stops")
            .expect("the loop does not panic");
        assert_eq!(
            leaf, old_leaf.der,
            "the kept-alive connection began on the old one"
        );
        assert_eq!(
            stats.failed.load(Ordering::Relaxed),
            0,
            "no request failed: {:?}",
            stats.errors.lock().unwrap()
        );
    }
    let seen = tokio::time::timeout(REQUEST_TIMEOUT, fresh)
        .await
        .unwrap()
        .unwrap();
    let seen: Vec<_> = seen
        .into_iter()
        .map(|leaf| leaf.expect("every fresh handshake succeeds during the rotation"))
        .collect();
    let first_new = seen
        .iter()
        .position(|leaf| *leaf == new_leaf.der)
        .expect("the fresh client saw the new certificate");
    assert!(seen[..first_new].iter().all(|leaf| *leaf == old_leaf.der));
    assert!(seen[first_new..].iter().all(|leaf| *leaf == new_leaf.der));
    eprintln!("rotation picked up after {took:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_new_certificate_keeps_the_old_one_serving() {
    let ca = Ca::new("broken rotation");
    let (server, dir, old_leaf) = TestServer::ready("broken-rotation", &ca).await;
    let roots = [&ca.der];
    let other = ca.issue("other");
    let next = ca.issue("next");
    let broken: [(&str, &[u8], &[u8]); 5] = [
        (
            "a garbage key",
            next.cert_pem.as_bytes(),
            b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
        ),
        ("an empty key", next.cert_pem.as_bytes(), b""),
        (
            "another certificate's key",
            next.cert_pem.as_bytes(),
            other.key_pem.as_bytes(),
        ),
        ("no certificate", b"", next.key_pem.as_bytes()),
        (
            "a truncated certificate",
            &next.cert_pem.as_bytes()[..next.cert_pem.len() / 2],
            next.key_pem.as_bytes(),
        ),
    ];
    for (what, cert, key) in broken {
        install(&dir, cert, key);
        tokio::time::sleep(RELOAD_INTERVAL * 5).await;
        assert_eq!(
            current_leaf(server.webhook, &roots).await.unwrap(),
            old_leaf.der,
            "{what}: the old certificate still serves"
        );
        assert!(
            matches!(plain_get(server.probes, "/readyz").await, Ok((200, _))),
            "{what}: still ready"
        );
    }
    // A valid pair is then picked up.
    install_leaf(&dir, &next);
    let addr = server.webhook;
    let (expected, root) = (next.der.clone(), ca.der.clone());
    wait_for("the next certificate", RELOAD_INTERVAL * 30, || {
        let (expected, root) = (expected.clone(), root.clone());
        async move { current_leaf(addr, &[&root]).await.ok() == Some(expected) }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_certificate_the_server_is_up_but_not_ready_until_one_is_written() {
    let ca = Ca::new("late");
    // An empty directory, and one that does not exist yet.
    for dir in [fresh_dir("late"), fresh_dir("late-missing").join("not-yet")] {
        let server = TestServer::start(&dir).await;
        // Give the watcher a few polls.
        tokio::time::sleep(RELOAD_INTERVAL * 3).await;
        assert!(matches!(
            plain_get(server.probes, "/healthz").await,
            Ok((200, _))
        ));
        let (status, body) = plain_get(server.probes, "/readyz").await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("webhook certificate"), "{body}");
        let error = current_leaf(server.webhook, &[&ca.der])
            .await
            .expect_err("no certificate to offer");
        assert!(error.contains("handshake"), "{error}");
        // Metrics are served meanwhile.
        assert!(matches!(
            plain_get(server.metrics, "/metrics").await,
            Ok((200, _))
        ));

        let leaf = ca.issue("late");
        install_leaf(&dir, &leaf);
        server.wait_ready().await;
        assert_eq!(
            current_leaf(server.webhook, &[&ca.der]).await.unwrap(),
            leaf.der
        );
        assert_still_serving(&HttpsClient::new(&ca, Http::One), &server).await;
        server.stop().await;
    }
}

// Keys as cert-manager writes them (`privateKey.encoding: PKCS1`, its default): PKCS#1 for
// RSA, SEC1 for ECDSA; each also in PKCS#8 for rcgen, which signs the certificate. Generated
// once with `openssl genrsa -traditional 2048`, `openssl ecparam -name prime256v1 -genkey
// -noout` and `openssl pkcs8 -topk8 -nocrypt` (ring cannot generate RSA keys). Test-only.
const RSA_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
MIIEowIBAAKCAQEAz+/MJhC9dj/cx6D1RdVEiNlz0YiRezOx7tQIr2XZ16UiW6PJ\n\
YHsaKc+RNq9RJCvEpaY1mflnPXF94c0FK6lSnH5942nCL3yTwMbvSg2WIvePNjV1\n\
ABOH+KEPW+xMXc3qjHtRAZq18SejGXQ4qAx6CiLn7VFhgRygmemhDoX8QRHPRNfj\n\
tCXhuJciHJkUcnWUcSSk2ivp04dM6OHytDXGFaNtL1qz11QEpgIafjSBw5Y5lt2a\n\
/W+02FLcF0H6+Ifi9VOd1O+uICGoNJw8Z7P9rpVnjetI+GhFCdms5Qh3hq1oWB/h\n\
+E6WMECehvhMKOGyEWFONWS/0rXyyWQt8QQrAwIDAQABAoIBABwLZIZRxavYKyfF\n\
fq8fd3HZmjRNbgmmzD3A3TcCzqG2BO9FJNjdYYb4FsbAWHo/aPNKeno81/7Ces7k\n\
fukHmju/F61/SxBqheb/LbDYKkKnDuqpxRDwkWsoFdE5CoewSQ0PaLqFqjpPNUEu\n\
mqGXpTIOyScJzdPDD6oSh4VU7tO7m82oIFIipi4bs8eehty0qb0SlzFS3BM6MkKE\n\
wYfiDu53zWp+G7LbowdwD5XzpYBzuezK9SkkviI9QMTSSF1oLxz6UCa8Awpq8kd5\n\
izTknCxH1mZ0gVHXmFWphSZraGT/ryfmlsJp7K1MMTCBYQONgHpxKBH6ueD3+l6e\n\
rhsSPZECgYEA9y+XT9mg9FZrP0Aflz9KzbfyMgAhHyUhHdRCdDAhMsWj9ENwkv4Z\n\
YH//JYxzzNzxGzdT/W1pBFDazxLbJy1ZwyaPzsCsBmIUKD+kpY3X6M1xgs3ngcuw\n\
DhZV5wT+bmo0j7X0ecbPhDrK1Jh1YfVIgirypHuCL/DnMR4dXmQX5VkCgYEA11ns\n\
rHbUvSr44ujrae7bshSuI9god3+PEJ7GIPozmYYx0AhIXe56VUgCz7K5OJ6qnFD5\n\
CSfSWKDbn7XajmiL+hCVnCH1dn5dTOml3b0a7arVynGO1XFzP+wTWIOpVcNo8Pla\n\
rwkhuKHDGs3L09gteXd1VqhW8AvsYBsZfgcxW7sCgYARiswXO5+jl3p2+6sCRdie\n\
Lt6+U6oGFtF513V732qLuuD+1cZoeCX+5jaKSKRzNn7Z6pxIUPpx9vcAWRs6dYp4\n\
QgVUq/HJZi5+CL47jYx0FhhnKwux922gIk+oXH9eAKWISWZ3OffCL5XzbnpuIEUs\n\
D7Y2nBlKI7OUlcmJyFq1yQKBgQDNHLxc4+3qo0RdM4YN5tBgBGx8fYTFlLxaEzAY\n\
9tYw0u0c/NaYiO0Bz03GL69VK2LK8iDQxJoHimbE7rvVSeSQ8DzfckTOcLtC54Pw\n\
+A3u8vkgEhr+V0lzR9KBSx39LtsEMixabPMuXPxsyjjqdIuTluEvAbWUe3bPbuBP\n\
9l/fwwKBgD/6qOFCdll+OOthtK1Xy8FtihVNI3lKzfiDB6MI4nHSYi2crNJKtWoU\n\
SxlwP4fWYXlIbN3cgAZt2mhJlzkWhHCW+ZMtjQyrqS12IjoU5DBU0v+9BVYefqkn\n\
EDv6hsV3A35cbvk/8oYT+oGJc0vAx/nHgiSxhJleRurvRv+fFvc2\n\
-----END RSA PRIVATE KEY-----\n\
";
const RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDP78wmEL12P9zH\n\
oPVF1USI2XPRiJF7M7Hu1AivZdnXpSJbo8lgexopz5E2r1EkK8SlpjWZ+Wc9cX3h\n\
zQUrqVKcfn3jacIvfJPAxu9KDZYi9482NXUAE4f4oQ9b7ExdzeqMe1EBmrXxJ6MZ\n\
dDioDHoKIuftUWGBHKCZ6aEOhfxBEc9E1+O0JeG4lyIcmRRydZRxJKTaK+nTh0zo\n\
4fK0NcYVo20vWrPXVASmAhp+NIHDljmW3Zr9b7TYUtwXQfr4h+L1U53U764gIag0\n\
nDxns/2ulWeN60j4aEUJ2azlCHeGrWhYH+H4TpYwQJ6G+Ewo4bIRYU41ZL/StfLJ\n\
ZC3xBCsDAgMBAAECggEAHAtkhlHFq9grJ8V+rx93cdmaNE1uCabMPcDdNwLOobYE\n\
70Uk2N1hhvgWxsBYej9o80p6ejzX/sJ6zuR+6QeaO78XrX9LEGqF5v8tsNgqQqcO\n\
6qnFEPCRaygV0TkKh7BJDQ9ouoWqOk81QS6aoZelMg7JJwnN08MPqhKHhVTu07ub\n\
zaggUiKmLhuzx56G3LSpvRKXMVLcEzoyQoTBh+IO7nfNan4bstujB3APlfOlgHO5\n\
7Mr1KSS+Ij1AxNJIXWgvHPpQJrwDCmryR3mLNOScLEfWZnSBUdeYVamFJmtoZP+v\n\
J+aWwmnsrUwxMIFhA42AenEoEfq54Pf6Xp6uGxI9kQKBgQD3L5dP2aD0Vms/QB+X\n\
P0rNt/IyACEfJSEd1EJ0MCEyxaP0Q3CS/hlgf/8ljHPM3PEbN1P9bWkEUNrPEtsn\n\
LVnDJo/OwKwGYhQoP6SljdfozXGCzeeBy7AOFlXnBP5uajSPtfR5xs+EOsrUmHVh\n\
9UiCKvKke4Iv8OcxHh1eZBflWQKBgQDXWeysdtS9Kvji6Otp7tuyFK4j2Ch3f48Q\n\
nsYg+jOZhjHQCEhd7npVSALPsrk4nqqcUPkJJ9JYoNuftdqOaIv6EJWcIfV2fl1M\n\
6aXdvRrtqtXKcY7VcXM/7BNYg6lVw2jw+VqvCSG4ocMazcvT2C15d3VWqFbwC+xg\n\
Gxl+BzFbuwKBgBGKzBc7n6OXenb7qwJF2J4u3r5TqgYW0XnXdXvfaou64P7Vxmh4\n\
Jf7mNopIpHM2ftnqnEhQ+nH29wBZGzp1inhCBVSr8clmLn4IvjuNjHQWGGcrC7H3\n\
baAiT6hcf14ApYhJZnc598IvlfNuem4gRSwPtjacGUojs5SVyYnIWrXJAoGBAM0c\n\
vFzj7eqjRF0zhg3m0GAEbHx9hMWUvFoTMBj21jDS7Rz81piI7QHPTcYvr1UrYsry\n\
INDEmgeKZsTuu9VJ5JDwPN9yRM5wu0Lng/D4De7y+SASGv5XSXNH0oFLHf0u2wQy\n\
LFps8y5c/GzKOOp0i5OW4S8BtZR7ds9u4E/2X9/DAoGAP/qo4UJ2WX4462G0rVfL\n\
wW2KFU0jeUrN+IMHowjicdJiLZys0kq1ahRLGXA/h9ZheUhs3dyABm3aaEmXORaE\n\
cJb5ky2NDKupLXYiOhTkMFTS/70FVh5+qScQO/qGxXcDflxu+T/yhhP6gYlzS8DH\n\
+ceCJLGEmV5G6u9G/58W9zY=\n\
-----END PRIVATE KEY-----\n\
";
const EC_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----\n\
MHcCAQEEINELwU+1nBopFpCprG84xEDlNORZMEp8aT0KbO8sC+NaoAoGCCqGSM49\n\
AwEHoUQDQgAEnhXRGhWUYfcIOT5MNnPbykvYHOHLL4mZ3JDoWAWM7tjpigWQXj4B\n\
rEPuuuz9tstlny58FniM3D/5wTtxOReLWw==\n\
-----END EC PRIVATE KEY-----\n\
";
const EC_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0QvBT7WcGikWkKms\n\
bzjEQOU05FkwSnxpPQps7ywL41qhRANCAASeFdEaFZRh9wg5Pkw2c9vKS9gc4csv\n\
iZnckOhYBYzu2OmKBZBePgGsQ+667P22y2WfLnwWeIzcP/nBO3E5F4tb\n\
-----END PRIVATE KEY-----\n\
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_keys_in_every_encoding_cert_manager_writes() {
    let ca = Ca::new("cert-manager");
    let (server, dir, _leaf) = TestServer::ready("encodings", &ca).await;
    // cert-manager's Secret also holds ca.crt; tls.crt may carry the chain.
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    let client = HttpsClient::new(&ca, Http::Two);
    let cases = [
        (
            "RSA, PKCS#1",
            ca.issue_for_pem("rsa", RSA_PKCS8),
            RSA_PKCS1.to_owned(),
            false,
        ),
        (
            "ECDSA P-256, SEC1",
            ca.issue_for_pem("ec", EC_PKCS8),
            EC_SEC1.to_owned(),
            false,
        ),
        (
            "RSA, PKCS#8, with the chain",
            ca.issue_for_pem("rsa8", RSA_PKCS8),
            RSA_PKCS8.to_owned(),
            true,
        ),
        (
            "ECDSA P-256, PKCS#8",
            ca.issue("generated"),
            String::new(),
            false,
        ),
    ];
    for (what, leaf, key, chain) in cases {
        let key = if key.is_empty() {
            leaf.key_pem.clone()
        } else {
            key
        };
        let cert = if chain {
            format!("{}{}", leaf.cert_pem, ca.pem())
        } else {
            leaf.cert_pem.clone()
        };
        install(&dir, cert.as_bytes(), key.as_bytes());
        let (addr, root, expected) = (server.webhook, ca.der.clone(), leaf.der.clone());
        wait_for(what, RELOAD_INTERVAL * 30, || {
            let (root, expected) = (root.clone(), expected.clone());
            async move { current_leaf(addr, &[&root]).await.ok() == Some(expected) }
        })
        .await;
        // A fresh connection (the pool's may predate the rotation) completes a request.
        let fresh = HttpsClient::new(&ca, Http::Two);
        assert_still_serving(&fresh, &server).await;
    }
    assert_still_serving(&client, &server).await;
    server.stop().await;
}

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

// ---------------------------------------------------------------------------------------------
// Metrics

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

// ---------------------------------------------------------------------------------------------
// Graceful shutdown of the real binary

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

/// The `locust-operator webhook` process; killed on drop.
struct Operator {
    child: Child,
    webhook: SocketAddr,
    probes: SocketAddr,
    log: PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts `locust-operator webhook` on free loopback ports and waits until it is ready;
    /// retries on other ports when one was taken in between.
    async fn start(dir: &Path) -> Self {
        for attempt in 0..5 {
            let free = || {
                StdTcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
            };
            let (webhook, probes, metrics) = (free(), free(), free());
            let log = dir.join(format!("operator-{attempt}.log"));
            let child = Command::new(env!("CARGO_BIN_EXE_locust-operator"))
                .arg("webhook")
                .arg("--cert-dir")
                .arg(dir)
                .arg("--webhook-bind-address")
                .arg(webhook.to_string())
                .arg("--health-probe-bind-address")
                .arg(probes.to_string())
                .arg("--metrics-bind-address")
                .arg(metrics.to_string())
                .arg("--cert-reload-interval")
                .arg("100ms")
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("start locust-operator");
            let mut operator = Operator {
                child,
                webhook,
                probes,
                log,
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Some(status) = operator.child.try_wait().unwrap() {
                    eprintln!(
                        "attempt {attempt}: exited with {status}: {}",
                        operator.log()
                    );
                    break;
                }
                if matches!(plain_get(probes, "/readyz").await, Ok((200, _))) {
                    return operator;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                operator.child.try_wait().unwrap().is_some(),
                "not ready in time: {}",
                operator.log()
            );
        }
        panic!("locust-operator webhook did not start");
    }

    /// Waits (bounded) for the process to exit.
    async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_in_flight_request_refuses_new_connections_and_exits_0() {
    let ca = Ca::new("shutdown");
    let dir = fresh_dir("shutdown");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    install_leaf(&certs, &ca.issue("webhook"));
    let mut operator = Operator::start(&certs).await;
    let addr = operator.webhook;

    // Idle kept-alive connections (HTTP/1.1 and HTTP/2) must not hold the shutdown up.
    let idle: Vec<HttpsClient> = [Http::One, Http::Two]
        .into_iter()
        .map(|http| HttpsClient::new(&ca, http))
        .collect();
    for client in &idle {
        let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
        let reply = client
            .post_json(&format!("https://{addr}/validate"), &review)
            .await;
        assert_allowed(&admission_response(&reply, &review));
    }

    // Two slow requests, each announcing its whole body (Content-Length) but sending half.
    // Over HTTP/2, on its own connection:
    let h2_review = admission_review("CREATE", &v2_test("checkout-h2"), &Value::Null, false);
    let h2_body = serde_json::to_vec(&h2_review).unwrap();
    let (h2_first, h2_rest) = h2_body.split_at(h2_body.len() / 2);
    let mut config = client_config(&[&ca.der], None);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let h2_stream = handshake(addr, "localhost", config).await.unwrap();
    let (mut h2_sender, h2_connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(h2_stream))
            .await
            .unwrap();
    tokio::spawn(h2_connection);
    let (h2_body_tx, h2_body_rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let h2_request = Request::post(format!("https://{addr}/validate?timeout=5s"))
        .header("content-type", "application/json")
        .header("content-length", h2_body.len().to_string())
        .body(ChannelBody(h2_body_rx))
        .unwrap();
    h2_body_tx
        .send(Bytes::copy_from_slice(h2_first))
        .await
        .unwrap();
    let h2_response = tokio::spawn(h2_sender.send_request(h2_request));
    // Over HTTP/1.1 with `Expect: 100-continue`, which tells us when the server has read the
    // headers and waits for the body.
    let review = admission_review("CREATE", &v2_test("checkout"), &Value::Null, false);
    let body = serde_json::to_vec(&review).unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut config = client_config(&[&ca.der], None);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut stream = handshake(addr, "localhost", config).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /validate?timeout=5s HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-apiserver-admission\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let mut interim = vec![0; 64];
    let n = tokio::time::timeout(REQUEST_TIMEOUT, stream.read(&mut interim))
        .await
        .expect("100 Continue in time")
        .unwrap();
    let interim = String::from_utf8_lossy(&interim[..n]).into_owned();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim:?}");
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();
    // HTTP/2 has no such signal: the HEADERS frame went out before the HTTP/1.1 round trip;
    // leave the server a moment to open the stream.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = operator.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    // The listener closes: new connections are refused.
    wait_for(
        "new connections to be refused",
        Duration::from_secs(5),
        || async move { tokio::net::TcpStream::connect(addr).await.is_err() },
    )
    .await;
    assert!(
        operator.child.try_wait().unwrap().is_none(),
        "the process waits for the in-flight request"
    );

    // The rest of the body; the complete answer arrives.
    stream.write_all(rest).await.unwrap();
    stream.flush().await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut buffer = vec![0; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buffer[..n]),
            }
            if let Ok((_, body)) = parse_http1(&raw)
                && !body.is_empty()
            {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the response arrives in time");
    let (status, body) = parse_http1(&raw)
        .unwrap_or_else(|e| panic!("complete response: {e}; log: {}", operator.log()));
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("a complete JSON body");
    assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    assert_eq!(answer["response"]["allowed"], true);

    // The HTTP/2 request completes too.
    h2_body_tx
        .send(Bytes::copy_from_slice(h2_rest))
        .await
        .unwrap();
    drop(h2_body_tx);
    let h2_response = tokio::time::timeout(REQUEST_TIMEOUT, h2_response)
        .await
        .expect("the HTTP/2 response arrives in time")
        .unwrap()
        .unwrap_or_else(|e| {
            panic!(
                "HTTP/2 in-flight request failed: {e}; log: {}",
                operator.log()
            )
        });
    assert_eq!(h2_response.status(), 200);
    let h2_answer = h2_response.into_body().collect().await.unwrap().to_bytes();
    let h2_answer: Value = serde_json::from_slice(&h2_answer).expect("a complete JSON body");
    assert_eq!(h2_answer["response"]["uid"], h2_review["request"]["uid"]);
    assert_eq!(h2_answer["response"]["allowed"], true);

    let status = operator
        .wait_exit(Duration::from_secs(5))
        .await
        .unwrap_or_else(|| {
            panic!(
                "exits within 5s of the last response; log: {}",
                operator.log()
            )
        });
    assert_eq!(status.code(), Some(0), "log: {}", operator.log());
    assert!(
        tokio::net::TcpStream::connect(operator.probes)
            .await
            .is_err(),
        "the probes are gone too"
    );
    drop(idle);
}

/// `/readyz` goes up once, when every check passes, and stays up: a check that fails again
/// later (a replica that becomes leader and syncs its caches) does not take it down.
#[tokio::test]
async fn readiness_goes_up_once_and_stays_up() {
    use locust_operator::webhook::server::{Readiness, probe_router};
    use tower::ServiceExt;
    let caches = Arc::new(AtomicBool::new(false));
    let certificate = Arc::new(AtomicBool::new(false));
    let readiness = {
        let (caches, certificate) = (Arc::clone(&caches), Arc::clone(&certificate));
        Readiness::default()
            .with("controller caches synced", move || {
                caches.load(Ordering::SeqCst)
            })
            .with("webhook certificate", move || {
                certificate.load(Ordering::SeqCst)
            })
    };
    let router = probe_router(readiness);
    let readyz = || async {
        let request = axum::http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    assert_eq!(
        readyz().await,
        (
            503,
            "not ready: controller caches synced, webhook certificate\n".to_owned()
        )
    );
    caches.store(true, Ordering::SeqCst);
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "one check still fails: {body}");
    assert!(body.contains("webhook certificate"), "{body}");
    certificate.store(true, Ordering::SeqCst);
    assert_eq!(readyz().await.0, 200);
    // A standby that becomes leader: its caches are not synced for a while.
    caches.store(false, Ordering::SeqCst);
    assert_eq!(readyz().await.0, 200, "readiness stays up");
    caches.store(true, Ordering::SeqCst);
    assert_eq!(readyz().await.0, 200);
}
