//! Lossless round trips of the exact pairs, the lossy cases and the recorded v1 spec:
//! v1 -> v2 -> v1 and v2 -> v1 -> v2, with only empty containers normalised.

use locust_operator::conversion::{
    convert_object, v1_spec_to_v2, v1_to_v2, v2_spec_to_v1, v2_to_v1,
};
use serde_json::{Value, json};

use crate::specs::{IMAGE, MASTER_CMD, WORKER_CMD, base_v1, base_v2, exact_pairs, lossy_cases};
use crate::{
    V1, V2, fixture_object, merged, metadata_json, stash_of, to_json, v1_object, v1_spec, v2_object,
};

/// The smallest valid v2 spec (no autostart/autoquit: v1 cannot say "absent").
fn minimal_v2() -> Value {
    json!({
        "image": IMAGE,
        "master": {"command": MASTER_CMD},
        "worker": {"command": WORKER_CMD, "replicas": 2}
    })
}

#[test]
fn v1_round_trips_are_lossless() {
    let mut specs: Vec<(String, Value)> = exact_pairs()
        .into_iter()
        .map(|p| (p.name.to_owned(), p.v1))
        .collect();
    specs.push(("fixture-like v1 test".to_owned(), fixture_v1_spec()));
    specs.push((
        "tolerations with empty values".to_owned(),
        merged(&base_v1(), &json!({"tolerations": [{"key": "k", "operator": "Equal", "value": "", "effect": "NoSchedule"}]})),
    ));
    for (name, spec) in specs {
        let original = v1_object(metadata_json(), spec.clone());
        let v2_test = v1_to_v2(original.clone());
        let back = v2_to_v1(v2_test);
        assert_eq!(
            stash_of(&back),
            None,
            "{name}: a v1-born object needs no stash"
        );
        assert_same_object!(back, original, "{name}");

        // The same through convert_object on the wire.
        let wire = to_json(&original);
        let v2_wire = convert_object(wire.clone(), V2).expect("v1 -> v2");
        assert_eq!(
            convert_object(v2_wire, V1).expect("v2 -> v1"),
            wire,
            "{name}: on the wire"
        );
    }
}

#[test]
fn v2_round_trips_are_lossless() {
    let mut specs: Vec<(String, Value)> = exact_pairs()
        .into_iter()
        .map(|p| (p.name.to_owned(), p.v2))
        .collect();
    specs.extend(
        lossy_cases()
            .into_iter()
            .map(|c| (c.name.to_owned(), merged(&base_v2(), &c.v2_patch))),
    );
    specs.push(("minimal v2".to_owned(), minimal_v2()));
    for (name, spec) in specs {
        let original = v2_object(metadata_json(), spec);
        assert_same_object!(v1_to_v2(v2_to_v1(original.clone())), original, "{name}");

        let wire = to_json(&original);
        let v1_wire = convert_object(wire.clone(), V1).expect("v2 -> v1");
        assert_eq!(
            convert_object(v1_wire, V2).expect("v1 -> v2"),
            wire,
            "{name}: on the wire"
        );
    }
}

#[test]
fn v1_round_trip_normalises_only_empty_containers() {
    // v2 has no place for an empty v1 wrapper object, so `affinity: {}` or `labels: {}` comes
    // back absent (documented in the README). No data is involved: the specs are equal once
    // the empty wrapper is removed.
    for patch in [
        json!({"affinity": {}}),
        json!({"affinity": {"nodeAffinity": {}}}),
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}}),
        json!({"labels": {}}),
        json!({"annotations": {}}),
    ] {
        let original = v1_spec(merged(&base_v1(), &patch));
        let back = v2_spec_to_v1(&v1_spec_to_v2(&original));
        assert_eq!(back, v1_spec(base_v1()), "{patch}");
    }
}

fn fixture_v1_spec() -> Value {
    fixture_object("convert-v1-to-v2.on-create.json")["spec"].clone()
}
