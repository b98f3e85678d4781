//! Every review recorded from a real kube-apiserver (`tests/fixtures/apiserver-reviews`), replayed
//! as sent (path with `?timeout=`, headers, body) over HTTP/2 and HTTP/1.1, gets the right answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hyper::Method;
use locust_operator::api::v2;
use locust_operator::conversion::{V2_SPEC_ANNOTATION, convert_object};
use locust_operator::defaulting::Defaulted;
use locust_operator::validation::validate;
use serde_json::{Value, json};

use crate::tls_support::{Ca, Http, HttpsClient, TestServer};
use crate::{
    admission_response, assert_allowed, assert_denied_with, check_defaulting, conversion_review,
    patch_of, tls_support, uid, warnings,
};

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
        let report = validate(&Defaulted::new(parsed.clone()));
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
                assert!(validate(&Defaulted::new(parsed.clone())).is_valid());
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
