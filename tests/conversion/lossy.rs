//! v2 specs v1 cannot (fully) express: the exact lossy v1 view, the `locust.io/v2-spec` stash,
//! and the lossless way back (status becomes an empty object).

use locust_operator::api::{v1, v2};
use locust_operator::conversion::{V2_SPEC_ANNOTATION, v1_to_v2, v2_spec_to_v1, v2_to_v1};
use serde_json::{Value, json};

use crate::specs::{base_v1, base_v2, lossy_cases, rich_v2, rich_v2_as_v1};
use crate::{
    V1, V2, annotations_of, merged, metadata_json, object_json, parse, stash_of, to_json,
    v1_object, v1_spec, v2_object, v2_spec,
};

fn rich_status() -> Value {
    json!({
        "phase": "Running",
        "observedGeneration": 3,
        "expectedWorkers": 25,
        "connectedWorkers": 24,
        "startTime": "2026-11-24T04:53:10Z",
        "conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "ResourcesCreated",
            "message": "All resources created",
            "lastTransitionTime": "2026-11-24T04:52:40Z",
            "observedGeneration": 3
        }]
    })
}

#[test]
fn lossy_v2_spec_converts_to_exact_v1_view() {
    for case in lossy_cases() {
        let v2 = v2_spec(merged(&base_v2(), &case.v2_patch));
        let expected = merged(&base_v1(), &case.v1_patch);
        let v1 = v2_spec_to_v1(&v2);
        assert_eq!(v1, v1_spec(expected.clone()), "{}", case.name);
        assert_eq!(to_json(&v1), expected, "{}: serialized form", case.name);
    }
}

#[test]
fn lossy_v2_object_is_stashed_and_restored_exactly() {
    for case in lossy_cases() {
        let spec = merged(&base_v2(), &case.v2_patch);
        let original = v2_object(metadata_json(), spec);
        let v1_test = v2_to_v1(original.clone());

        let stash = stash_of(&v1_test).unwrap_or_else(|| panic!("{}: stash expected", case.name));
        let stashed: v2::LocustTestSpec = serde_json::from_str(&stash).expect("stash parses");
        assert_eq!(
            stashed, original.spec,
            "{}: stash holds the whole v2 spec",
            case.name
        );

        // Every other annotation and all other metadata is untouched.
        let mut annotations = annotations_of(&v1_test.metadata);
        annotations.remove(V2_SPEC_ANNOTATION);
        assert_eq!(
            annotations,
            annotations_of(&original.metadata),
            "{}",
            case.name
        );
        let mut metadata = v1_test.metadata.clone();
        metadata.annotations = original.metadata.annotations.clone();
        assert_eq!(metadata, original.metadata, "{}", case.name);

        let back = v1_to_v2(v1_test);
        assert_same_object!(back, original, "{}: v2 -> v1 -> v2", case.name);
        assert_eq!(
            back.metadata
                .annotations
                .unwrap_or_default()
                .get(V2_SPEC_ANNOTATION),
            None
        );
    }
}

#[test]
fn stash_is_added_to_an_object_without_annotations_and_removed_again() {
    let original = v2_object(json!({"name": "t", "namespace": "ns"}), rich_v2());
    let v1_test = v2_to_v1(original.clone());
    let annotations = annotations_of(&v1_test.metadata);
    assert_eq!(annotations.keys().collect::<Vec<_>>(), [V2_SPEC_ANNOTATION]);
    let back = v1_to_v2(v1_test);
    assert_eq!(
        back.metadata.annotations, None,
        "no empty annotation map left behind"
    );
    assert_same_object!(back, original);
}

#[test]
fn full_v2_object_round_trips_with_status_mapped_to_empty_object() {
    let mut wire = object_json(V2, metadata_json(), rich_v2());
    wire["status"] = rich_status();
    let original: v2::LocustTest = parse("v2 object", wire);

    let v1_test = v2_to_v1(original.clone());
    assert_eq!(v1_test.spec, v1_spec(rich_v2_as_v1()));
    assert_eq!(v1_test.status, Some(v1::LocustTestStatus {}));
    let v1_wire = to_json(&v1_test);
    assert_eq!(v1_wire["apiVersion"], V1);
    assert_eq!(v1_wire["kind"], "LocustTest");
    assert_eq!(v1_wire["status"], json!({}));
    assert_eq!(v1_wire["spec"], rich_v2_as_v1());

    let back = v1_to_v2(v1_test);
    assert_eq!(back.metadata, original.metadata);
    assert_eq!(back.spec, original.spec);
    assert_eq!(back.status, Some(v2::LocustTestStatus::default()));
    assert_eq!(to_json(&back)["status"], json!({}));
}

#[test]
fn no_status_stays_no_status() {
    let v1_test = v2_to_v1(v2_object(metadata_json(), rich_v2()));
    assert_eq!(v1_test.status, None);
    assert!(to_json(&v1_test).get("status").is_none());
    let back = v1_to_v2(v1_object(metadata_json(), base_v1()));
    assert_eq!(back.status, None);
    assert!(to_json(&back).get("status").is_none());
}

#[test]
fn a_stale_stash_on_a_v2_object_is_replaced_or_dropped() {
    let mut metadata = metadata_json();
    metadata["annotations"][V2_SPEC_ANNOTATION] = json!("{\"stale\":true}");

    // Expressible spec: the stale stash is dropped, the other annotations stay.
    let v1_test = v2_to_v1(v2_object(metadata.clone(), base_v2()));
    assert_eq!(stash_of(&v1_test), None);
    assert_eq!(
        v1_test.metadata,
        v2_object(metadata_json(), base_v2()).metadata
    );

    // Lossy spec: the stash holds the current spec.
    let spec = v2_spec(rich_v2());
    let v1_test = v2_to_v1(v2_object(metadata, rich_v2()));
    let stash: v2::LocustTestSpec =
        serde_json::from_str(&stash_of(&v1_test).expect("stash")).expect("stash parses");
    assert_eq!(stash, spec);
}
