//! The one parser of LocustTests (`locust_operator::parse`): v2 as is, v1 converted, an
//! unserved version or a field that does not read named in a field error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use locust_operator::parse::locust_test;
use serde_json::json;

fn v2() -> serde_json::Value {
    json!({
        "apiVersion": "locust.io/v2", "kind": "LocustTest", "metadata": {"name": "t"},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "--locustfile /lotest/src/t.py"},
            "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": 2}
        }
    })
}

#[test]
fn v2_and_v1_read_as_v2() {
    let test = locust_test(&v2()).unwrap();
    assert_eq!(test.spec.worker.replicas, 2);
    let v1 = json!({
        "apiVersion": "locust.io/v1", "kind": "LocustTest", "metadata": {"name": "legacy"},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "masterCommandSeed": "--locustfile /lotest/src/t.py",
            "workerCommandSeed": "--locustfile /lotest/src/t.py",
            "workerReplicas": 3,
            "configMap": "scripts"
        }
    });
    let test = locust_test(&v1).unwrap();
    assert_eq!(test.spec.worker.replicas, 3);
    assert_eq!(test.metadata.name.as_deref(), Some("legacy"));
}

#[test]
fn what_does_not_read_is_named() {
    let mut unserved = v2();
    unserved["apiVersion"] = json!("locust.io/v9");
    let mut wrong_type = v2();
    wrong_type["spec"]["worker"]["replicas"] = json!("ten");
    let mut unknown_value = v2();
    unknown_value["spec"]["imagePullPolicy"] = json!("Sometimes");
    let mut no_worker = v2();
    no_worker["spec"].as_object_mut().unwrap().remove("worker");
    let cases = [
        (unserved, "apiVersion"),
        (wrong_type, "spec.worker.replicas"),
        (unknown_value, "spec.imagePullPolicy"),
        (no_worker, "spec"),
    ];
    for (object, field) in cases {
        let error = locust_test(&object).expect_err(field);
        assert_eq!(error.field, field, "{error}");
    }
}
