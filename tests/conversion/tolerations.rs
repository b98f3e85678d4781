//! Tolerations in both directions: what v1 can hold, `tolerationSeconds` left out of v1 and
//! restored from the stash, and v1 tolerations copied field by field into v2.

use k8s_openapi::api::core::v1::Toleration;
use locust_operator::conversion::{v1_spec_to_v2, v1_to_v2, v2_spec_to_v1, v2_to_v1};
use serde_json::{Value, json};

use crate::specs::{base_v1, base_v2};
use crate::{merged, metadata_json, stash_of, to_json, v1_spec, v2_object, v2_spec};

#[test]
fn tolerations_to_v1() {
    let cases: Vec<(&str, Value, Option<Value>)> = vec![
        (
            "Equal with value",
            json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}),
            Some(json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"})),
        ),
        (
            "Exists",
            json!({"key": "k", "operator": "Exists", "effect": "PreferNoSchedule"}),
            Some(json!({"key": "k", "operator": "Exists", "effect": "PreferNoSchedule"})),
        ),
        (
            "NoExecute",
            json!({"key": "k", "operator": "Exists", "effect": "NoExecute"}),
            Some(json!({"key": "k", "operator": "Exists", "effect": "NoExecute"})),
        ),
        (
            "operator absent means Equal",
            json!({"key": "k", "value": "v", "effect": "NoSchedule"}),
            Some(json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"})),
        ),
        (
            "operator empty means Equal",
            json!({"key": "k", "operator": "", "value": "v", "effect": "NoSchedule"}),
            Some(json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"})),
        ),
        (
            "key absent becomes empty key",
            json!({"operator": "Exists", "effect": "NoSchedule"}),
            Some(json!({"key": "", "operator": "Exists", "effect": "NoSchedule"})),
        ),
        (
            "effect absent (all effects): dropped",
            json!({"key": "k", "operator": "Exists"}),
            None,
        ),
        (
            "effect empty (all effects): dropped",
            json!({"key": "k", "operator": "Exists", "effect": ""}),
            None,
        ),
        (
            "unknown effect: dropped",
            json!({"key": "k", "operator": "Exists", "effect": "NoWay"}),
            None,
        ),
        (
            "unknown operator: dropped",
            json!({"key": "k", "operator": "Gt", "effect": "NoSchedule"}),
            None,
        ),
    ];
    for (name, toleration, expected) in &cases {
        let spec = v2_spec(merged(
            &base_v2(),
            &json!({"scheduling": {"tolerations": [toleration]}}),
        ));
        let v1 = v2_spec_to_v1(&spec);
        let expected_list: Vec<Value> = expected.iter().cloned().collect();
        assert_eq!(to_json(&v1.tolerations), json!(expected_list), "{name}");

        let original = v2_object(metadata_json(), to_json(&spec));
        let v1_test = v2_to_v1(original.clone());
        assert_eq!(
            stash_of(&v1_test).is_some(),
            v1_spec_to_v2(&v1_test.spec) != original.spec,
            "{name}: stash exactly when needed"
        );
        assert_same_object!(
            v1_to_v2(v1_test),
            original,
            "{name}: restored from the stash"
        );
    }

    // All of them in one list: order kept, unexpressible ones left out.
    let all: Vec<Value> = cases.iter().map(|(_, t, _)| t.clone()).collect();
    let expressible: Vec<Value> = cases.iter().filter_map(|(_, _, e)| e.clone()).collect();
    let spec = v2_spec(merged(
        &base_v2(),
        &json!({"scheduling": {"tolerations": all}}),
    ));
    assert_eq!(
        to_json(&v2_spec_to_v1(&spec).tolerations),
        json!(expressible)
    );
    let original = v2_object(metadata_json(), to_json(&spec));
    assert_same_object!(v1_to_v2(v2_to_v1(original.clone())), original);
}

#[test]
fn toleration_with_toleration_seconds_is_left_out_of_v1() {
    let toleration = json!({
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300
    });
    let spec = v2_spec(merged(
        &base_v2(),
        &json!({"scheduling": {"tolerations": [toleration]}}),
    ));
    assert_eq!(v2_spec_to_v1(&spec).tolerations, Some(vec![]));
}

#[test]
fn toleration_with_toleration_seconds_is_restored_from_the_stash() {
    let spec = merged(
        &base_v2(),
        &json!({"scheduling": {"tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "d", "operator": "Equal", "value": "x", "effect": "NoSchedule"}
        ]}}),
    );
    let original = v2_object(metadata_json(), spec);
    let v1_test = v2_to_v1(original.clone());
    assert!(stash_of(&v1_test).is_some());
    assert_same_object!(v1_to_v2(v1_test), original);
}

#[test]
fn v1_tolerations_to_v2_copy_every_field() {
    let spec = v1_spec(merged(
        &base_v1(),
        &json!({"tolerations": [
            {"key": "a", "operator": "Equal", "value": "1", "effect": "NoExecute"},
            {"key": "", "operator": "Exists", "effect": "PreferNoSchedule"},
            {"key": "b", "operator": "Equal", "value": "", "effect": "NoSchedule"}
        ]}),
    ));
    let tolerations = v1_spec_to_v2(&spec)
        .scheduling
        .and_then(|s| s.tolerations)
        .expect("tolerations");
    let toleration =
        |key: Option<&str>, operator: &str, value: Option<&str>, effect: &str| Toleration {
            key: key.map(str::to_owned),
            operator: Some(operator.to_owned()),
            value: value.map(str::to_owned),
            effect: Some(effect.to_owned()),
            toleration_seconds: None,
        };
    assert_eq!(
        tolerations,
        vec![
            toleration(Some("a"), "Equal", Some("1"), "NoExecute"),
            toleration(None, "Exists", None, "PreferNoSchedule"),
            toleration(Some("b"), "Equal", Some(""), "NoSchedule"),
        ]
    );
}
