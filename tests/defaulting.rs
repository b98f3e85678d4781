//! Defaulting (docs/compatibility.md A2): every default filled where its parent exists, absent
//! `autoquit` written out, explicit values untouched, idempotent, and equal to what the CRD's
//! own schema defaults produce for every field they cover.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use locust_operator::api::LocustTest;
use locust_operator::defaulting::Defaulted;

/// `test` with every default filled in.
fn defaulted(test: &LocustTest) -> LocustTest {
    Defaulted::new(test.clone()).into_test()
}
use serde_json::{Value, json};

fn test(spec: Value) -> LocustTest {
    serde_json::from_value(json!({
        "apiVersion": "locust.io/v2", "kind": "LocustTest",
        "metadata": {"name": "t", "namespace": "n"},
        "spec": spec
    }))
    .unwrap()
}

fn spec_json(test: &LocustTest) -> Value {
    serde_json::to_value(&test.spec).unwrap()
}

const MINIMAL: fn() -> Value = || {
    json!({
        "image": "locustio/locust:2.43.3",
        "master": {"command": "-f /lotest/src/t.py"},
        "worker": {"command": "-f /lotest/src/t.py", "replicas": 3}
    })
};

#[test]
fn a_minimal_test_gets_every_top_level_default() {
    assert_eq!(
        spec_json(&defaulted(&test(MINIMAL()))),
        json!({
            "image": "locustio/locust:2.43.3",
            "imagePullPolicy": "IfNotPresent",
            "master": {
                "command": "-f /lotest/src/t.py",
                "autostart": true,
                "autoquit": {"enabled": true, "timeout": 60}
            },
            "worker": {"command": "-f /lotest/src/t.py", "replicas": 3}
        })
    );
}

#[test]
fn nested_defaults_are_filled_where_their_parent_exists() {
    let mut spec = MINIMAL();
    spec["testFiles"] = json!({"configMapRef": "s"});
    spec["env"] = json!({"secretMounts": [{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b", "readOnly": false}]});
    spec["volumes"] = json!([{"name": "v", "emptyDir": {}}]);
    spec["volumeMounts"] = json!([{"name": "v", "mountPath": "/v"}, {"name": "v", "mountPath": "/w", "target": "master"}]);
    spec["observability"] = json!({"openTelemetry": {"enabled": true, "endpoint": "c:4317"}});
    spec["master"]["autoquit"] = json!({"enabled": false});
    let out = spec_json(&defaulted(&test(spec)));
    assert_eq!(
        out["testFiles"],
        json!({"configMapRef": "s", "srcMountPath": "/lotest/src", "libMountPath": "/opt/locust/lib"})
    );
    assert_eq!(out["env"]["secretMounts"][0]["readOnly"], json!(true));
    assert_eq!(out["env"]["secretMounts"][1]["readOnly"], json!(false));
    assert_eq!(out["volumeMounts"][0]["target"], json!("both"));
    assert_eq!(out["volumeMounts"][1]["target"], json!("master"));
    assert_eq!(
        out["observability"]["openTelemetry"],
        json!({"enabled": true, "endpoint": "c:4317", "protocol": "grpc", "insecure": false})
    );
    // A disabled autoquit keeps enabled=false and gets the default timeout.
    assert_eq!(
        out["master"]["autoquit"],
        json!({"enabled": false, "timeout": 60})
    );
    // No parent, no default: testFiles/observability are not invented.
    let minimal = spec_json(&defaulted(&test(MINIMAL())));
    assert!(minimal.get("testFiles").is_none() && minimal.get("observability").is_none());
}

#[test]
fn explicit_values_are_kept_and_defaulting_is_idempotent() {
    let mut spec = MINIMAL();
    spec["imagePullPolicy"] = json!("Always");
    spec["master"]["autostart"] = json!(false);
    spec["master"]["autoquit"] = json!({"enabled": true, "timeout": 5});
    spec["testFiles"] = json!({"srcMountPath": "/tests", "libMountPath": "/libs"});
    spec["observability"] =
        json!({"openTelemetry": {"enabled": false, "protocol": "http/protobuf", "insecure": true}});
    let once = defaulted(&test(spec.clone()));
    let out = spec_json(&once);
    for (path, value) in [
        ("/imagePullPolicy", json!("Always")),
        ("/master/autostart", json!(false)),
        ("/master/autoquit", json!({"enabled": true, "timeout": 5})),
        (
            "/testFiles",
            json!({"srcMountPath": "/tests", "libMountPath": "/libs"}),
        ),
        (
            "/observability/openTelemetry",
            json!({"enabled": false, "protocol": "http/protobuf", "insecure": true}),
        ),
    ] {
        assert_eq!(out.pointer(path), Some(&value), "{path}");
    }
    assert_eq!(spec_json(&defaulted(&once)), spec_json(&once));
    for example in ["minimal-v2", "complete-v2"] {
        let text = std::fs::read_to_string(format!(
            "{}/examples/{example}.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let test: LocustTest = serde_saphyr::from_str(&text).unwrap();
        let once = defaulted(&test);
        assert_eq!(spec_json(&defaulted(&once)), spec_json(&once), "{example}");
        assert_eq!(
            once.metadata, test.metadata,
            "{example}: metadata untouched"
        );
        assert_eq!(once.status, test.status, "{example}: status untouched");
    }
}

#[test]
fn defaulting_agrees_with_the_crd_schema_defaults() {
    // What an API server does with the schema defaults alone, compared with our function:
    // every default the schema can express must come out the same.
    let crd = locust_operator::crd::locust_test_crd().unwrap();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    let mut spec = MINIMAL();
    spec["master"]["autoquit"] = json!({});
    spec["testFiles"] = json!({"configMapRef": "s"});
    spec["env"] = json!({"secretMounts": [{"name": "a", "mountPath": "/a"}]});
    spec["volumes"] = json!([{"name": "v", "emptyDir": {}}]);
    spec["volumeMounts"] = json!([{"name": "v", "mountPath": "/v"}]);
    spec["observability"] = json!({"openTelemetry": {"endpoint": "c:4317"}});
    let object = json!({"apiVersion": "locust.io/v2", "kind": "LocustTest", "metadata": {"name": "t"}, "spec": spec});
    let by_schema = kube::core::cel::apply_defaults(&schema, &object);
    let ours = spec_json(&defaulted(&test(object["spec"].clone())));
    assert_eq!(by_schema["spec"], ours);
}
