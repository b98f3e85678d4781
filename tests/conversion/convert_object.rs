//! `convert_object` on the ConversionReview objects recorded from a real kube-apiserver
//! (`tests/fixtures/apiserver-reviews/convert-*.json`), on same-version objects, and its errors.

use locust_operator::conversion::{ConversionError, V2_SPEC_ANNOTATION, convert_object};
use serde_json::{Value, json};

use crate::specs::{base_v1, base_v2};
use crate::{LAST_APPLIED, V1, V2, fixture_object, merged, object_json, recorded_reviews};

#[test]
fn recorded_objects_convert_to_the_desired_version_with_metadata_kept() {
    for (file, desired, objects) in recorded_reviews() {
        assert!(!objects.is_empty(), "{file}");
        for object in objects {
            let source = object["apiVersion"]
                .as_str()
                .expect("apiVersion")
                .to_owned();
            assert_ne!(
                source, desired,
                "{file}: the API server only asks for real conversions"
            );
            let converted =
                convert_object(object.clone(), &desired).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(converted["apiVersion"], json!(desired), "{file}");
            assert_eq!(converted["kind"], "LocustTest", "{file}");

            let (before, after) = (&object["metadata"], &converted["metadata"]);
            for field in [
                "name",
                "namespace",
                "uid",
                "generation",
                "creationTimestamp",
                "managedFields",
            ] {
                assert_eq!(after[field], before[field], "{file}: metadata.{field}");
            }
            assert_eq!(
                after["annotations"][LAST_APPLIED], before["annotations"][LAST_APPLIED],
                "{file}: last-applied-configuration"
            );
            // All metadata is identical apart from the stash on a v1 result.
            let mut after = after.clone();
            let stash = after["annotations"]
                .as_object_mut()
                .and_then(|a| a.remove(V2_SPEC_ANNOTATION));
            assert_eq!(&after, before, "{file}: metadata");
            // These v2 objects use env, volumes, resources, ...: v1 needs the stash.
            assert_eq!(stash.is_some(), desired == V1, "{file}: stash");

            // And back: exactly the recorded object.
            let back =
                convert_object(converted, &source).unwrap_or_else(|e| panic!("{file}: back: {e}"));
            assert_eq!(back, object, "{file}: round trip");
        }
    }
}

#[test]
fn recorded_v1_object_converts_to_the_expected_v2_spec() {
    let converted =
        convert_object(fixture_object("convert-v1-to-v2.on-create.json"), V2).expect("converts");
    assert_eq!(
        converted["spec"],
        json!({
            "image": "locustio/locust:2.43.3",
            "master": {
                "command": "--locustfile /lotest/src/legacy.py --host https://legacy.example.com --users 50 --spawn-rate 5 --run-time 2m",
                "labels": {"tier": "master"},
                "autostart": true,
                "autoquit": {"enabled": true, "timeout": 60}
            },
            "worker": {
                "command": "--locustfile /lotest/src/legacy.py",
                "replicas": 4,
                "labels": {"tier": "worker"}
            },
            "testFiles": {"configMapRef": "legacy-scripts"},
            "scheduling": {
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "pool", "operator": "In", "values": ["load"]},
                        {"key": "zone", "operator": "In", "values": ["eu-west-1a"]}
                    ]}]
                }}},
                "tolerations": [
                    {"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"}
                ]
            }
        })
    );
}

#[test]
fn recorded_v2_objects_convert_to_the_expected_v1_spec() {
    for (file, replicas) in [
        ("convert-v2-to-v1.after-create.json", 10),
        ("convert-v2-to-v1.after-status-patch.json", 20),
    ] {
        let object = fixture_object(file);
        let converted = convert_object(object.clone(), V1).expect("converts");
        assert_eq!(
            converted["spec"],
            json!({
                "masterCommandSeed": "--locustfile /lotest/src/checkout.py --host https://shop.example.com --users 400 --spawn-rate 20 --run-time 5m",
                "workerCommandSeed": "--locustfile /lotest/src/checkout.py",
                "workerReplicas": replicas,
                "image": "locustio/locust:2.43.3",
                "imagePullPolicy": "IfNotPresent",
                "imagePullSecrets": ["regcred"],
                "configMap": "checkout-scripts",
                "libConfigMap": "shared-lib",
                "labels": {"master": {"team": "payments"}, "worker": {"team": "payments"}},
                "annotations": {"master": {"owner": "perf@example.com"}},
                "tolerations": [
                    {"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"}
                ]
            }),
            "{file}"
        );
        let stash = converted["metadata"]["annotations"][V2_SPEC_ANNOTATION]
            .as_str()
            .expect("stash");
        let stash: Value = serde_json::from_str(stash).expect("stash is JSON");
        assert_eq!(
            stash, object["spec"],
            "{file}: the stash is the recorded v2 spec"
        );
    }
}

#[test]
fn same_version_objects_are_returned_unchanged() {
    let mut objects: Vec<Value> = recorded_reviews()
        .into_iter()
        .flat_map(|(_, _, o)| o)
        .collect();
    // Even objects that would not parse: nothing is converted, nothing is checked.
    objects.push(object_json(
        V1,
        json!({"name": "x"}),
        json!({"workerReplicas": "three"}),
    ));
    objects.push(object_json(
        V2,
        json!({"name": "x"}),
        json!({"unknown": true}),
    ));
    objects.push(json!({"apiVersion": V2, "kind": "LocustTest"}));
    for object in objects {
        let version = object["apiVersion"].as_str().unwrap().to_owned();
        assert_eq!(convert_object(object.clone(), &version), Ok(object));
    }
}

#[test]
fn convert_object_rejects_what_it_cannot_convert() {
    let v1_wire = || object_json(V1, json!({"name": "t"}), base_v1());
    let without = |key: &str| {
        let mut object = v1_wire();
        object.as_object_mut().unwrap().remove(key);
        object
    };
    let with = |key: &str, value: Value| {
        let mut object = v1_wire();
        object[key] = value;
        object
    };
    let cases: Vec<(&str, Value, &str, ConversionError)> = vec![
        (
            "apiVersion locust.io/v3",
            with("apiVersion", json!("locust.io/v3")),
            V2,
            ConversionError::UnsupportedVersion("locust.io/v3".to_owned()),
        ),
        (
            "apiVersion missing",
            without("apiVersion"),
            V2,
            ConversionError::UnsupportedVersion(String::new()),
        ),
        (
            "apiVersion not a string",
            with("apiVersion", json!(1)),
            V2,
            ConversionError::UnsupportedVersion(String::new()),
        ),
        (
            "another group",
            with("apiVersion", json!("example.com/v1")),
            V2,
            ConversionError::UnsupportedVersion("example.com/v1".to_owned()),
        ),
        (
            "desired version unsupported",
            v1_wire(),
            "locust.io/v3",
            ConversionError::UnsupportedVersion("locust.io/v3".to_owned()),
        ),
        (
            "desired version empty",
            v1_wire(),
            "",
            ConversionError::UnsupportedVersion(String::new()),
        ),
        (
            "wrong kind",
            with("kind", json!("Job")),
            V2,
            ConversionError::UnsupportedKind("Job".to_owned()),
        ),
        (
            "kind missing",
            without("kind"),
            V2,
            ConversionError::UnsupportedKind(String::new()),
        ),
        (
            "kind in the wrong case",
            with("kind", json!("locusttest")),
            V2,
            ConversionError::UnsupportedKind("locusttest".to_owned()),
        ),
    ];
    for (name, object, desired, expected) in cases {
        assert_eq!(convert_object(object, desired), Err(expected), "{name}");
    }
}

#[test]
fn convert_object_reports_the_path_of_an_invalid_field() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "v1 workerReplicas is a string",
            object_json(
                V1,
                json!({"name": "t"}),
                merged(&base_v1(), &json!({"workerReplicas": "4"})),
            ),
            V2,
            "spec.workerReplicas",
        ),
        (
            "v1 tolerations[0].effect unknown",
            object_json(
                V1,
                json!({"name": "t"}),
                merged(
                    &base_v1(),
                    &json!({"tolerations": [{"key": "k", "operator": "Equal", "effect": "Nope"}]}),
                ),
            ),
            V2,
            "spec.tolerations[0].effect",
        ),
        (
            "v2 worker.replicas is a string",
            object_json(
                V2,
                json!({"name": "t"}),
                merged(&base_v2(), &json!({"worker": {"replicas": "4"}})),
            ),
            V1,
            "spec.worker.replicas",
        ),
        (
            "v2 imagePullPolicy unknown",
            object_json(
                V2,
                json!({"name": "t"}),
                merged(&base_v2(), &json!({"imagePullPolicy": "Sometimes"})),
            ),
            V1,
            "spec.imagePullPolicy",
        ),
    ];
    for (name, object, desired, path) in cases {
        let source = object["apiVersion"].as_str().unwrap().to_owned();
        match convert_object(object, desired) {
            Err(ConversionError::Invalid {
                api_version,
                path: got,
                message,
            }) => {
                assert_eq!(api_version, source, "{name}");
                assert_eq!(got, path, "{name}");
                assert!(!message.is_empty(), "{name}");
                let shown = ConversionError::Invalid {
                    api_version,
                    path: got,
                    message,
                }
                .to_string();
                assert!(
                    shown.contains(path) && shown.contains(&source),
                    "{name}: {shown}"
                );
            }
            other => panic!("{name}: expected Invalid at {path}, got {other:?}"),
        }
    }

    // A missing required field is Invalid too.
    let mut spec = base_v1();
    spec.as_object_mut().unwrap().remove("image");
    let result = convert_object(object_json(V1, json!({"name": "t"}), spec), V2);
    assert!(
        matches!(&result, Err(ConversionError::Invalid { message, .. }) if message.contains("image")),
        "{result:?}"
    );
}

#[test]
fn converted_objects_always_carry_the_target_api_version_and_kind() {
    let v1_out =
        convert_object(object_json(V2, json!({"name": "t"}), base_v2()), V1).expect("v2 -> v1");
    assert_eq!(
        (&v1_out["apiVersion"], &v1_out["kind"]),
        (&json!(V1), &json!("LocustTest"))
    );
    let v2_out =
        convert_object(object_json(V1, json!({"name": "t"}), base_v1()), V2).expect("v1 -> v2");
    assert_eq!(
        (&v2_out["apiVersion"], &v2_out["kind"]),
        (&json!(V2), &json!("LocustTest"))
    );
    assert_eq!(v2_out["spec"], base_v2());
    assert_eq!(v1_out["spec"], base_v1());
}
