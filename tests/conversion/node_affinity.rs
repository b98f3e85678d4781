//! Node affinity in both directions: v1 keeps only `In` requirements with a value, and a v1 map
//! becomes one sorted v2 term (none when empty).

use locust_operator::api::v1;
use locust_operator::conversion::{v1_spec_to_v2, v1_to_v2, v2_spec_to_v1, v2_to_v1};
use serde_json::{Value, json};

use crate::specs::{base_v1, base_v2};
use crate::{merged, metadata_json, parse, to_json, v1_spec, v2_object, v2_spec};

/// A node-selector requirement with `values`.
fn req(key: &str, operator: &str, values: &[&str]) -> Value {
    json!({"key": key, "operator": operator, "values": values})
}

/// A node-selector requirement without `values`.
fn req_bare(key: &str, operator: &str) -> Value {
    json!({"key": key, "operator": operator})
}

fn required_terms(terms: Vec<Vec<Value>>) -> Value {
    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": terms.into_iter().map(|t| json!({"matchExpressions": t})).collect::<Vec<_>>()
    }}})
}

#[test]
fn node_affinity_to_v1_keeps_only_in_requirements_with_a_value() {
    let cases: Vec<(&str, Value, Option<Value>)> = vec![
        (
            "In, one value",
            required_terms(vec![vec![req("a", "In", &["1"])]]),
            Some(json!({"a": "1"})),
        ),
        (
            "In, several values: the first survives",
            required_terms(vec![vec![req("a", "In", &["1", "2", "3"])]]),
            Some(json!({"a": "1"})),
        ),
        (
            "In, empty values: dropped",
            required_terms(vec![vec![req("a", "In", &[])]]),
            None,
        ),
        (
            "In, values absent: dropped",
            required_terms(vec![vec![req_bare("a", "In")]]),
            None,
        ),
        (
            "NotIn: dropped",
            required_terms(vec![vec![req("a", "NotIn", &["1"])]]),
            None,
        ),
        (
            "Exists: dropped",
            required_terms(vec![vec![req_bare("a", "Exists")]]),
            None,
        ),
        (
            "DoesNotExist: dropped",
            required_terms(vec![vec![req_bare("a", "DoesNotExist")]]),
            None,
        ),
        (
            "Gt: dropped",
            required_terms(vec![vec![req("a", "Gt", &["5"])]]),
            None,
        ),
        (
            "lower-case in: dropped",
            required_terms(vec![vec![req("a", "in", &["1"])]]),
            None,
        ),
        (
            "mixed operators in one term",
            required_terms(vec![vec![
                req("a", "In", &["1"]),
                req("b", "NotIn", &["2"]),
                req_bare("c", "Exists"),
                req("d", "In", &[]),
                req("e", "In", &["5", "6"]),
            ]]),
            Some(json!({"a": "1", "e": "5"})),
        ),
        (
            "several terms are merged",
            required_terms(vec![
                vec![req("zone", "In", &["z"])],
                vec![req("pool", "In", &["p"]), req_bare("x", "Exists")],
                vec![],
            ]),
            Some(json!({"pool": "p", "zone": "z"})),
        ),
        (
            "same key twice in a term: the later wins",
            required_terms(vec![vec![
                req("a", "In", &["first"]),
                req("a", "In", &["second"]),
            ]]),
            Some(json!({"a": "second"})),
        ),
        (
            "same key in two terms: the later term wins",
            required_terms(vec![
                vec![req("a", "In", &["first"])],
                vec![req("a", "In", &["second"])],
            ]),
            Some(json!({"a": "second"})),
        ),
        (
            "a later non-In requirement for the same key does not erase it",
            required_terms(vec![vec![
                req("a", "In", &["1"]),
                req("a", "NotIn", &["2"]),
            ]]),
            Some(json!({"a": "1"})),
        ),
        (
            "a later In without values does not erase it",
            required_terms(vec![vec![req("a", "In", &["1"]), req("a", "In", &[])]]),
            Some(json!({"a": "1"})),
        ),
        ("no terms", required_terms(vec![]), None),
        (
            "term without matchExpressions",
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}}),
            None,
        ),
        (
            "matchFields are not node labels: dropped",
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}
            ]}}}),
            None,
        ),
        (
            "preferred node affinity only",
            json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [req("a", "In", &["1"])]}}
            ]}}),
            None,
        ),
        ("empty nodeAffinity", json!({"nodeAffinity": {}}), None),
        ("empty affinity", json!({}), None),
        (
            "pod affinity only",
            json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone"}]}}),
            None,
        ),
    ];
    for (name, affinity, expected) in cases {
        let spec = v2_spec(merged(
            &base_v2(),
            &json!({"scheduling": {"affinity": affinity}}),
        ));
        let v1 = v2_spec_to_v1(&spec);
        let expected_affinity = expected.clone().map(|map| {
            parse::<v1::Affinity>(
                name,
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": map}}),
            )
        });
        assert_eq!(v1.affinity, expected_affinity, "{name}");

        // Whatever v1 shows, the v2 affinity comes back exactly.
        let original = v2_object(metadata_json(), to_json(&spec));
        assert_same_object!(
            v1_to_v2(v2_to_v1(original.clone())),
            original,
            "{name}: round trip"
        );
    }
}

#[test]
fn node_affinity_map_to_v2_is_one_sorted_term() {
    // Keys given out of order (and as a JSON object whose order is irrelevant anyway).
    let keys = [
        "zone",
        "app",
        "topology.kubernetes.io/region",
        "Pool",
        "pool",
        "b",
    ];
    let map: serde_json::Map<String, Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.to_string(), json!(format!("v{i}"))))
        .collect();
    let spec = v1_spec(merged(
        &base_v1(),
        &json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": map}}}),
    ));
    let v2 = v1_spec_to_v2(&spec);
    let required = v2
        .scheduling
        .and_then(|s| s.affinity)
        .and_then(|a| a.node_affinity)
        .and_then(|n| n.required_during_scheduling_ignored_during_execution)
        .expect("required node affinity");
    assert_eq!(required.node_selector_terms.len(), 1, "exactly one term");
    let requirements = required.node_selector_terms[0]
        .match_expressions
        .clone()
        .expect("expressions");
    let got: Vec<(String, String, Vec<String>)> = requirements
        .into_iter()
        .map(|r| (r.key, r.operator, r.values.unwrap_or_default()))
        .collect();
    let mut expected: Vec<(String, String, Vec<String>)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.to_string(), "In".to_owned(), vec![format!("v{i}")]))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn empty_v1_affinity_map_produces_no_v2_affinity() {
    for affinity in [
        json!({}),
        json!({"nodeAffinity": {}}),
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}),
    ] {
        let v2 = v1_spec_to_v2(&v1_spec(merged(
            &base_v1(),
            &json!({"affinity": affinity.clone()}),
        )));
        assert_eq!(v2.scheduling, None, "{affinity}");
    }
}
