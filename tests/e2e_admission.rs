//! End to end: admission and conversion of LocustTests through an API server that calls the
//! operator's webhooks over real TLS, driven only through the Kubernetes API the way kubectl
//! would (create, server-side apply, get, patch, replace, dry runs, status writes, delete).
//!
//! Runs against the in-memory harness by default, or against a real API server when
//! `LOCUST_E2E_KUBECONFIG` names a kubeconfig (see `tests/support/e2e.rs` and the README).
//! Every assertion is about what a real API server answers: codes, `Status` messages, stored
//! objects read back with GET, `Warning` headers; never about harness internals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;

use e2e::{Env, RawReply, VALIDATING_WEBHOOK, poll, within};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, Status};
use locust_operator::api::{v1, v2};
use locust_operator::defaulting::Defaulted;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Test objects

/// A valid v2 test with only the required fields.
fn minimal(name: &str) -> Value {
    json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": name},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "--locustfile /lotest/src/t.py --host https://shop.example.com --users 10 --spawn-rate 2 --run-time 1m"},
            "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": 2}
        }
    })
}

/// The violations of [`invalid`], by field path: each passes the CRD schema and only the
/// validating webhook rejects it.
const INVALID_FIELDS: [&str; 5] = [
    "spec.master.resources.requests.memory",
    "spec.volumes[0].name",
    "spec.volumeMounts[0].name",
    "spec.env.secretMounts[0].mountPath",
    "spec.imagePullSecrets[0].name",
];

/// A v2 test with every violation of [`INVALID_FIELDS`].
fn invalid(name: &str) -> Value {
    let mut test = minimal(name);
    test["spec"]["imagePullSecrets"] = json!([{"name": "Not_A_Secret_Name"}]);
    test["spec"]["master"]["resources"] =
        json!({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}});
    test["spec"]["testFiles"] = json!({"configMapRef": "scripts"});
    test["spec"]["env"] =
        json!({"secretMounts": [{"name": "api-creds", "mountPath": "/lotest/src/creds"}]});
    test["spec"]["volumes"] = json!([{"name": "secret-data", "emptyDir": {}}]);
    test["spec"]["volumeMounts"] = json!([{"name": "results", "mountPath": "/results"}]);
    test
}

fn object(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a LocustTest")
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON")
}

/// The `Status` of a failed request (panics on success or a non-API error).
fn rejection<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected the API server to reject the request, got {other:?}"),
    }
}

/// Asserts a denial by the validating webhook, as the API server words it, naming `fields`.
fn assert_denied(status: &Status, fields: &[&str]) {
    assert!(
        (400..500).contains(&status.code),
        "a client error, got {status:?}"
    );
    let prefix = format!("admission webhook \"{VALIDATING_WEBHOOK}\" denied the request: ");
    assert!(
        status.message.starts_with(&prefix),
        "the API server names the webhook: {:?}",
        status.message
    );
    for field in fields {
        assert!(
            status.message.contains(field),
            "the message names {field}: {:?}",
            status.message
        );
    }
}

/// Asserts a raw reply is a success with a warning containing every one of `parts`.
fn assert_warned(reply: &RawReply, parts: &[&str]) {
    assert!(
        (200..300).contains(&reply.status),
        "accepted: {} {}",
        reply.status,
        reply.text
    );
    assert!(
        reply
            .warnings
            .iter()
            .any(|w| parts.iter().all(|part| w.contains(part))),
        "a Warning header containing {parts:?}, got {:?}",
        reply.warnings
    );
}

/// Waits until GET answers 404.
async fn wait_gone(api: &kube::Api<DynamicObject>, name: &str) {
    poll(&format!("{name} to be gone"), e2e::WAIT_LIMIT, || async {
        match api.get_opt(name).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err("still there".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[tokio::test]
async fn an_invalid_test_is_rejected_naming_every_field() {
    let env = Env::start().await;
    within(async {
        let api = env.locust_tests("v2");
        // kubectl create / client-side kubectl apply: POST.
        let status = rejection(
            api.create(&PostParams::default(), &object(invalid("broken")))
                .await,
        );
        assert_denied(&status, &INVALID_FIELDS);
        assert_eq!(status.code, 422, "{status:?}");
        assert!(
            status.message.contains("5 problems"),
            "every violation reported at once: {:?}",
            status.message
        );
        // kubectl apply --server-side: PATCH with an apply configuration.
        let status = rejection(
            api.patch(
                "broken",
                &PatchParams::apply("kubectl").force(),
                &Patch::Apply(invalid("broken")),
            )
            .await,
        );
        assert_denied(&status, &INVALID_FIELDS);
        assert_nothing_stored(&api, "broken").await;
    })
    .await;
    env.teardown().await;
}

#[tokio::test]
async fn a_valid_minimal_test_is_stored_with_every_default() {
    let env = Env::start().await;
    within(async {
        let api = env.locust_tests("v2");
        api.create(&PostParams::default(), &object(minimal("minimal")))
            .await
            .unwrap();
        let stored = api.get("minimal").await.unwrap();
        let spec = &stored.data["spec"];
        assert_eq!(spec["imagePullPolicy"], "IfNotPresent", "{spec}");
        assert_eq!(spec["master"]["autostart"], true, "{spec}");
        assert_eq!(
            spec["master"]["autoquit"],
            json!({"enabled": true, "timeout": 60}),
            "{spec}"
        );
        // What the user wrote is kept; nothing is invented where no parent exists.
        assert_eq!(spec["image"], "locustio/locust:2.43.3");
        assert_eq!(spec["worker"]["replicas"], 2);
        assert_eq!(
            spec["master"]["command"],
            minimal("x")["spec"]["master"]["command"]
        );
        for absent in [
            "testFiles",
            "observability",
            "env",
            "volumes",
            "volumeMounts",
        ] {
            assert!(spec.get(absent).is_none(), "{absent} not created: {spec}");
        }
        assert!(stored.data.get("status").is_none(), "no status on create");
        assert_eq!(stored.metadata.generation, Some(1));

        // Nested defaults where their parents exist.
        let mut full = minimal("nested");
        full["spec"]["testFiles"] = json!({"configMapRef": "scripts"});
        full["spec"]["env"] =
            json!({"secretMounts": [{"name": "api-creds", "mountPath": "/etc/creds"}]});
        full["spec"]["volumes"] = json!([{"name": "results", "emptyDir": {}}]);
        full["spec"]["volumeMounts"] = json!([{"name": "results", "mountPath": "/results"}]);
        full["spec"]["observability"] =
            json!({"openTelemetry": {"enabled": true, "endpoint": "otel-collector:4317"}});
        api.create(&PostParams::default(), &object(full))
            .await
            .unwrap();
        let stored = api.get("nested").await.unwrap();
        let spec = &stored.data["spec"];
        assert_eq!(spec["testFiles"]["configMapRef"], "scripts");
        assert_eq!(spec["testFiles"]["srcMountPath"], "/lotest/src", "{spec}");
        assert_eq!(
            spec["testFiles"]["libMountPath"], "/opt/locust/lib",
            "{spec}"
        );
        assert_eq!(spec["env"]["secretMounts"][0]["readOnly"], true, "{spec}");
        assert_eq!(spec["volumeMounts"][0]["target"], "both", "{spec}");
        let otel = &spec["observability"]["openTelemetry"];
        assert_eq!(otel["protocol"], "grpc", "{spec}");
        assert_eq!(otel["insecure"], false, "{spec}");
        assert_eq!(otel["endpoint"], "otel-collector:4317");
        assert_eq!(
            spec["master"]["autoquit"],
            json!({"enabled": true, "timeout": 60})
        );

        // Typed: applying the defaults once more to what was stored changes nothing.
        let typed = env.api::<v2::LocustTest>();
        for name in ["minimal", "nested"] {
            let test = typed.get(name).await.unwrap();
            assert_eq!(
                Defaulted::new(test.clone()).spec.clone(),
                test.spec,
                "{name}: every default is filled"
            );
        }
    })
    .await;
    env.teardown().await;
}

#[tokio::test]
async fn a_v1_test_is_stored_as_v2_and_readable_as_v1() {
    let env = Env::start().await;
    within(async {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/v1.yaml"))
                .unwrap();
        let submitted: Value = serde_saphyr::from_str(&text).unwrap();
        let name = submitted["metadata"]["name"].as_str().unwrap().to_owned();
        let as_v1 = env.locust_tests("v1");
        let created = as_v1
            .create(&PostParams::default(), &object(submitted.clone()))
            .await
            .unwrap();
        assert_eq!(created.types.as_ref().unwrap().api_version, "locust.io/v1");

        // Stored as v2: the v2 view carries the converted spec.
        let stored = env.locust_tests("v2").get(&name).await.unwrap();
        assert_eq!(stored.types.as_ref().unwrap().api_version, "locust.io/v2");
        let spec = &stored.data["spec"];
        let v1_spec = &submitted["spec"];
        assert_eq!(spec["image"], v1_spec["image"]);
        assert_eq!(spec["master"]["command"], v1_spec["masterCommandSeed"]);
        assert_eq!(spec["worker"]["command"], v1_spec["workerCommandSeed"]);
        assert_eq!(spec["worker"]["replicas"], v1_spec["workerReplicas"]);
        assert_eq!(spec["imagePullPolicy"], "IfNotPresent");
        assert_eq!(spec["imagePullSecrets"], json!([{"name": "regcred"}]));
        assert_eq!(spec["testFiles"]["configMapRef"], "legacy-scripts");
        assert_eq!(spec["testFiles"]["libConfigMapRef"], "legacy-lib");
        assert_eq!(spec["master"]["labels"], json!({"tier": "master"}));
        assert_eq!(spec["worker"]["labels"], json!({"tier": "worker"}));
        assert_eq!(
            spec["master"]["annotations"],
            json!({"owner": "perf@example.com"})
        );
        assert_eq!(spec["master"]["autostart"], true);
        assert_eq!(
            spec["master"]["autoquit"],
            json!({"enabled": true, "timeout": 60})
        );
        assert_eq!(
            spec["scheduling"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"],
            json!([{"matchExpressions": [
                {"key": "pool", "operator": "In", "values": ["load"]},
                {"key": "zone", "operator": "In", "values": ["eu-west-1a"]}
            ]}]),
            "{spec}"
        );
        assert_eq!(spec["scheduling"]["tolerations"], v1_spec["tolerations"]);
        assert!(
            stored
                .metadata
                .annotations
                .as_ref()
                .is_none_or(|a| !a.contains_key(locust_operator::conversion::V2_SPEC_ANNOTATION)),
            "no conversion stash on the v2 object: {:?}",
            stored.metadata.annotations
        );
        // The typed v2 view parses.
        let typed = env.api::<v2::LocustTest>().get(&name).await.unwrap();
        assert_eq!(typed.spec.worker.replicas, 4);

        // Readable as v1, with the same v1 fields.
        let read = as_v1.get(&name).await.unwrap();
        assert_eq!(read.types.as_ref().unwrap().api_version, "locust.io/v1");
        for (field, value) in v1_spec.as_object().unwrap() {
            assert_eq!(&read.data["spec"][field], value, "v1 field {field}");
        }
        let listed = as_v1.list(&ListParams::default()).await.unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].data["spec"], read.data["spec"]);
        let typed = env.api::<v1::LocustTest>().get(&name).await.unwrap();
        let expected: v1::LocustTest = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(typed.spec, expected.spec, "the typed v1 spec round-trips");
    })
    .await;
    env.teardown().await;
}

/// Objects read from storage get the storage version's schema defaults (the API server's
/// storage codec defaults after decoding, before converting to the requested version). A v1
/// test's conversion writes no `testFiles.srcMountPath`/`libMountPath`; its v2 view has them.
#[tokio::test]
async fn a_v1_test_read_as_v2_has_the_storage_version_defaults() {
    let env = Env::start().await;
    within(async {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/v1.yaml"))
                .unwrap();
        let submitted: Value = serde_saphyr::from_str(&text).unwrap();
        let name = submitted["metadata"]["name"].as_str().unwrap().to_owned();
        env.locust_tests("v1")
            .create(&PostParams::default(), &object(submitted))
            .await
            .unwrap();
        let stored = env.locust_tests("v2").get(&name).await.unwrap();
        let spec = &stored.data["spec"];
        assert_eq!(spec["testFiles"]["srcMountPath"], "/lotest/src", "{spec}");
        assert_eq!(
            spec["testFiles"]["libMountPath"], "/opt/locust/lib",
            "{spec}"
        );
        let typed = env.api::<v2::LocustTest>().get(&name).await.unwrap();
        assert_eq!(
            Defaulted::new(typed.clone()).spec.clone(),
            typed.spec,
            "every default is filled"
        );
    })
    .await;
    env.teardown().await;
}

#[tokio::test]
async fn dry_runs_are_admitted_the_same_way_and_store_nothing() {
    let env = Env::start().await;
    within(async {
        let api = env.locust_tests("v2");
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let dry = rejection(api.create(&dry_run, &object(invalid("broken"))).await);
        let real = rejection(
            api.create(&PostParams::default(), &object(invalid("broken")))
                .await,
        );
        assert_denied(&dry, &INVALID_FIELDS);
        assert_eq!(
            (dry.code, &dry.reason, &dry.message),
            (real.code, &real.reason, &real.message),
            "a dry run is rejected exactly like the real request"
        );

        let answered = api.create(&dry_run, &object(minimal("dry"))).await.unwrap();
        assert_eq!(
            answered.data["spec"]["master"]["autoquit"],
            json!({"enabled": true, "timeout": 60}),
            "the dry run answers the admitted (defaulted) object"
        );
        assert_nothing_stored(&api, "dry").await;
    })
    .await;
    env.teardown().await;
}

#[tokio::test]
async fn an_extra_arg_overriding_expect_workers_is_accepted_with_a_warning() {
    let env = Env::start().await;
    within(async {
        let mut test = minimal("warned");
        test["spec"]["master"]["extraArgs"] = json!(["--expect-workers=3"]);
        // kube::Api drops response headers; the same client's raw request shows them.
        let request = kube::core::Request::new(env.locust_tests_path("v2", ""))
            .create(&PostParams::default(), bytes(&test))
            .unwrap();
        let reply = env.send(request).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_warned(
            &reply,
            &[
                "spec.master.extraArgs[0]",
                "--expect-workers=3",
                "overrides --expect-workers",
            ],
        );
        let stored = env.locust_tests("v2").get("warned").await.unwrap();
        assert_eq!(
            stored.data["spec"]["master"]["extraArgs"],
            json!(["--expect-workers=3"])
        );

        // The same request through kube::Api succeeds (warnings are not errors).
        let mut other = test.clone();
        other["metadata"]["name"] = json!("warned-too");
        env.locust_tests("v2")
            .create(&PostParams::default(), &object(other))
            .await
            .unwrap();
    })
    .await;
    env.teardown().await;
}

#[tokio::test]
async fn a_started_test_accepts_spec_edits_with_a_warning_labels_silently_and_deletes() {
    let env = Env::start().await;
    within(async {
        let api = env.locust_tests("v2");
        api.create(&PostParams::default(), &object(minimal("running")))
            .await
            .unwrap();
        // As the controller would: the status subresource.
        let status = api
            .patch_status(
                "running",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Running"}})),
            )
            .await
            .unwrap();
        assert_eq!(status.data["status"]["phase"], "Running");

        // kubectl patch of the spec: accepted, with the warning that it is ignored.
        let request = kube::core::Request::new(env.locust_tests_path("v2", ""))
            .patch(
                "running",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"worker": {"replicas": 3}}})),
            )
            .unwrap();
        let reply = env.send(request).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_warned(&reply, &["Running", "spec changes are ignored"]);
        let stored = api.get("running").await.unwrap();
        assert_eq!(stored.data["spec"]["worker"]["replicas"], 3, "stored");
        assert_eq!(stored.metadata.generation, Some(2));
        assert_eq!(stored.data["status"]["phase"], "Running", "status kept");

        // Even a spec that would be invalid: the test has started, the edit is ignored.
        let request = kube::core::Request::new(env.locust_tests_path("v2", ""))
            .patch(
                "running",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"master": {"resources": {
                    "requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}
                }}}})),
            )
            .unwrap();
        let reply = env.send(request).await;
        assert_warned(&reply, &["spec changes are ignored"]);

        // kubectl label / replace of metadata only: accepted without warnings (PUT).
        let mut current = api.get("running").await.unwrap();
        current
            .metadata
            .labels
            .get_or_insert_default()
            .insert("team".into(), "perf".into());
        let request = kube::core::Request::new(env.locust_tests_path("v2", ""))
            .replace(
                "running",
                &PostParams::default(),
                serde_json::to_vec(&current).unwrap(),
            )
            .unwrap();
        let reply = env.send(request).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(
            reply.warnings.is_empty(),
            "no warnings: {:?}",
            reply.warnings
        );
        let labelled = api.get("running").await.unwrap();
        assert_eq!(
            labelled.metadata.labels.as_ref().unwrap().get("team"),
            Some(&"perf".to_owned())
        );
        assert_eq!(labelled.metadata.generation, Some(3), "metadata only");

        // A merge-patched label, too.
        let request = kube::core::Request::new(env.locust_tests_path("v2", ""))
            .patch(
                "running",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"stage": "nightly"}}})),
            )
            .unwrap();
        let reply = env.send(request).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(reply.warnings.is_empty(), "{:?}", reply.warnings);

        // DELETE is always allowed, even of a test whose spec is now invalid.
        let request = kube::core::Request::new(env.locust_tests_path("v2", ""))
            .delete("running", &DeleteParams::default())
            .unwrap();
        let reply = env.send(request).await;
        assert!(
            (200..300).contains(&reply.status),
            "deleted: {} {}",
            reply.status,
            reply.text
        );
        wait_gone(&api, "running").await;
    })
    .await;
    env.teardown().await;
}

/// Still `Pending`, but its Service and Jobs exist (the controller recorded the spec they are
/// built from before creating them): a spec edit can no longer take effect, and says so with
/// the same warning as after `Pending`. Before that record, an edit is silent.
#[tokio::test]
async fn a_pending_test_whose_resources_exist_warns_on_a_spec_edit() {
    let env = Env::start().await;
    within(async {
        let api = env.locust_tests("v2");
        let stored = api
            .create(&PostParams::default(), &object(minimal("pending")))
            .await
            .unwrap();
        let edit = |replicas: u32| {
            kube::core::Request::new(env.locust_tests_path("v2", ""))
                .patch(
                    "pending",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"worker": {"replicas": replicas}}})),
                )
                .unwrap()
        };
        // No resources yet: the edit takes effect, nothing to warn about.
        let reply = env.send(edit(3)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(reply.warnings.is_empty(), "{:?}", reply.warnings);

        // As the controller does before it creates the first child: the original spec.
        let original = serde_json::to_string(&stored.data["spec"]).unwrap();
        api.patch(
            "pending",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                locust_operator::api::ANNOTATION_ORIGINAL_SPEC: original
            }}})),
        )
        .await
        .unwrap();
        let reply = env.send(edit(4)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_warned(
            &reply,
            &[
                "Pending",
                "spec changes are ignored",
                "delete and recreate the LocustTest",
            ],
        );
    })
    .await;
    env.teardown().await;
}

#[tokio::test]
async fn an_update_that_makes_a_pending_test_invalid_is_rejected() {
    let env = Env::start().await;
    within(async {
        let api = env.locust_tests("v2");
        api.create(&PostParams::default(), &object(minimal("pending")))
            .await
            .unwrap();
        let breaking = Patch::Merge(json!({"spec": {"master": {"resources": {
            "requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}
        }}}}));
        let field = "spec.master.resources.requests.memory";

        // No status yet (not reconciled): rejected.
        let status = rejection(
            api.patch("pending", &PatchParams::default(), &breaking)
                .await,
        );
        assert_denied(&status, &[field]);

        // Pending, as the controller writes it: still rejected, by merge patch and by PUT.
        api.patch_status(
            "pending",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Pending"}})),
        )
        .await
        .unwrap();
        let status = rejection(
            api.patch("pending", &PatchParams::default(), &breaking)
                .await,
        );
        assert_denied(&status, &[field]);
        let mut edited = api.get("pending").await.unwrap();
        edited.data["spec"]["volumeMounts"] = json!([{"name": "missing", "mountPath": "/data"}]);
        let status = rejection(
            api.replace("pending", &PostParams::default(), &edited)
                .await,
        );
        assert_denied(&status, &["spec.volumeMounts[0].name"]);

        // Nothing changed.
        let stored = api.get("pending").await.unwrap();
        assert_eq!(stored.metadata.generation, Some(1));
        assert!(stored.data["spec"]["master"].get("resources").is_none());
        assert!(stored.data["spec"].get("volumeMounts").is_none());
        assert_eq!(stored.data["status"]["phase"], "Pending");

        // A valid edit of a Pending test goes through, without warnings.
        let request = kube::core::Request::new(env.locust_tests_path("v2", ""))
            .patch(
                "pending",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"worker": {"replicas": 5}}})),
            )
            .unwrap();
        let reply = env.send(request).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(reply.warnings.is_empty(), "{:?}", reply.warnings);
        assert_eq!(
            api.get("pending").await.unwrap().data["spec"]["worker"]["replicas"],
            5
        );
    })
    .await;
    env.teardown().await;
}

/// A manifest that breaks the CRD schema (`kubectl apply -f examples/invalid/broken-v2.yaml`):
/// the mutating webhook, which runs before schema validation, lets it pass unchanged, and the
/// API server lists every schema error in its own format, never a parser's words. CEL rules
/// are the API server's too: skipped after such errors (as kube-apiserver 1.32 says), and
/// naming their field when they run.
#[tokio::test]
async fn a_manifest_breaking_the_schema_gets_every_error_from_the_api_server() {
    let env = Env::start().await;
    within(async {
        let api = env.locust_tests("v2");
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/invalid/broken-v2.yaml"
        ))
        .unwrap();
        let broken = locust_operator::check::documents(&text).unwrap().remove(0);
        let broken_name = broken["metadata"]["name"].as_str().unwrap().to_owned();
        let long_name = "a-valid-test-whose-name-is-much-too-long-for-the-operator-x";
        let mut without_worker = minimal("no-worker");
        without_worker["spec"]
            .as_object_mut()
            .unwrap()
            .remove("worker");
        let cases = [
            (
                broken,
                broken_name.as_str(),
                vec![
                    "spec.imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
                    "spec.worker.replicas: Invalid value: 600: spec.worker.replicas in body should be less than or equal to 500",
                    "spec.volumeMounts[0].target: Unsupported value: \"everywhere\"",
                    "some validation rules were not checked because the object was invalid",
                ],
            ),
            (
                without_worker,
                "no-worker",
                vec!["spec.worker: Required value"],
            ),
            (
                minimal(long_name),
                long_name,
                vec![
                    "metadata.name: Invalid value: \"object\": metadata.name must be no more than 56 characters",
                ],
            ),
        ];
        for (manifest, name, errors) in cases {
            let status = rejection(
                api.create(&PostParams::default(), &object(manifest.clone()))
                    .await,
            );
            assert_eq!(status.code, 422, "{status:?}");
            assert_eq!(status.reason, "Invalid", "{status:?}");
            // The API server's own words: `<Kind>.<group> "<name>" is invalid: [...]`.
            let prefix = format!("LocustTest.locust.io \"{name}\" is invalid: ");
            assert!(
                status.message.starts_with(&prefix),
                "the API server's schema validation, not a webhook: {:?}",
                status.message
            );
            for error in errors {
                assert!(
                    status.message.contains(error),
                    "{error:?} in {:?}",
                    status.message
                );
            }
            for words in ["unknown variant", "missing field", "invalid type"] {
                assert!(
                    !status.message.contains(words),
                    "{words:?} in {:?}",
                    status.message
                );
            }
            assert_nothing_stored(&api, name).await;
        }
        // A rule that runs names its field: never `<nil>: Invalid value: "object"`.
        let status = rejection(
            api.create(&PostParams::default(), &object(minimal(long_name)))
                .await,
        );
        assert!(!status.message.contains("<nil>"), "{:?}", status.message);
    })
    .await;
    env.teardown().await;
}

#[test]
fn warning_headers_parse_like_kubectl() {
    assert_eq!(
        e2e::parse_warning_header(r#"299 - "a \"quoted\" word, and a \\ backslash""#),
        vec![r#"a "quoted" word, and a \ backslash"#.to_owned()]
    );
    assert_eq!(
        e2e::parse_warning_header(r#"299 - "one", 299 - "two" "Sat, 01 Jan 2000 00:00:00 GMT""#),
        vec!["one".to_owned(), "two".to_owned()]
    );
}

/// Neither the named test nor any other exists in the namespace.
async fn assert_nothing_stored(api: &kube::Api<DynamicObject>, name: &str) {
    assert!(
        api.get_opt(name).await.unwrap().is_none(),
        "{name}: nothing stored"
    );
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing stored"
    );
}
