//! Admission reviews shaped like the API server's: CREATE, UPDATE (spec, metadata, running tests),
//! DELETE, v1 objects, dry runs, the Go operator's paths, and failed conversions.

use serde_json::{Value, json};

use crate::{
    admission_review, admit, assert_allowed, assert_denied_with, check_defaulting,
    conversion_review, invalid_v2_test, patch_of, review_with_uid, server_and_client, v1_test,
    v2_test, warnings,
};

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
