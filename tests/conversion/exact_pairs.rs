//! Exact v1 <-> v2 pairs: each v1 spec converts to exactly its v2 spec and back, and the v2 side
//! is fully expressible in v1 (no stash).

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
};
use locust_operator::api::{v1, v2};
use locust_operator::conversion::{v1_spec_to_v2, v1_to_v2, v2_spec_to_v1, v2_to_v1};
use serde_json::json;

use crate::specs::{base_v1, exact_pairs, full_v1};
use crate::{metadata_json, stash_of, to_json, v1_object, v1_spec, v2_object, v2_spec};

#[test]
fn v1_spec_converts_to_exact_v2_spec() {
    for case in exact_pairs() {
        let converted = v1_spec_to_v2(&v1_spec(case.v1.clone()));
        assert_eq!(converted, v2_spec(case.v2.clone()), "{}", case.name);
        // And on the wire: nothing extra (no nulls, no empty matchFields, ...).
        assert_eq!(
            to_json(&converted),
            case.v2,
            "{}: serialized form",
            case.name
        );
    }
}

#[test]
fn v2_spec_converts_to_exact_v1_spec() {
    for case in exact_pairs() {
        let converted = v2_spec_to_v1(&v2_spec(case.v2.clone()));
        assert_eq!(converted, v1_spec(case.v1.clone()), "{}", case.name);
        assert_eq!(
            to_json(&converted),
            case.v1,
            "{}: serialized form",
            case.name
        );
    }
}

#[test]
fn full_v1_makes_autostart_and_autoquit_explicit() {
    let v2 = v1_spec_to_v2(&v1_spec(full_v1()));
    assert_eq!(v2.master.autostart, Some(true));
    assert_eq!(
        v2.master.autoquit,
        Some(v2::AutoquitSpec {
            enabled: true,
            timeout: Some(60)
        })
    );
    // No v2-only field is invented.
    assert_eq!(v2.master.resources, None);
    assert_eq!(v2.master.extra_args, None);
    assert_eq!(v2.worker.resources, None);
    assert_eq!(v2.env, None);
    assert_eq!(v2.volumes, None);
    assert_eq!(v2.volume_mounts, None);
    assert_eq!(v2.security, None);
    assert_eq!(v2.observability, None);
    let scheduling = v2.scheduling.expect("scheduling");
    assert_eq!(scheduling.node_selector, None);
    assert_eq!(scheduling.runtime_class_name, None);
    let files = v2.test_files.expect("testFiles");
    assert_eq!((files.src_mount_path, files.lib_mount_path), (None, None));
}

#[test]
fn full_v1_node_affinity_becomes_one_term_of_in_requirements_sorted_by_key() {
    let v2 = v1_spec_to_v2(&v1_spec(full_v1()));
    let affinity = v2.scheduling.and_then(|s| s.affinity).expect("affinity");
    let expected = Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(
                        [
                            ("kubernetes.io/arch", "amd64"),
                            ("pool", "load"),
                            ("zone", "eu-west-1a"),
                        ]
                        .into_iter()
                        .map(|(key, value)| NodeSelectorRequirement {
                            key: key.to_owned(),
                            operator: "In".to_owned(),
                            values: Some(vec![value.to_owned()]),
                        })
                        .collect(),
                    ),
                    match_fields: None,
                }],
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        }),
        pod_affinity: None,
        pod_anti_affinity: None,
    };
    assert_eq!(affinity, expected);
}

#[test]
fn v1_without_worker_replicas_defaults_to_one() {
    let mut spec = base_v1();
    spec.as_object_mut().unwrap().remove("workerReplicas");
    let v1 = v1_spec(spec);
    assert_eq!(v1.worker_replicas, v1::DEFAULT_WORKER_REPLICAS);
    assert_eq!(v1_spec_to_v2(&v1).worker.replicas, 1);
}

#[test]
fn expressible_v2_object_gets_no_stash_and_keeps_its_annotations() {
    for case in exact_pairs() {
        // With other annotations: they are untouched.
        let test = v2_object(metadata_json(), case.v2.clone());
        let converted = v2_to_v1(test.clone());
        assert_eq!(
            stash_of(&converted),
            None,
            "{}: no stash expected",
            case.name
        );
        assert_eq!(
            converted.metadata, test.metadata,
            "{}: metadata untouched",
            case.name
        );
        assert_eq!(converted.spec, v1_spec(case.v1.clone()), "{}", case.name);

        // Without annotations: none are added (not even an empty map).
        let bare = v2_object(json!({"name": "t", "namespace": "ns"}), case.v2.clone());
        let converted = v2_to_v1(bare);
        assert_eq!(converted.metadata.annotations, None, "{}", case.name);
        let wire = to_json(&converted);
        assert_eq!(
            wire["metadata"],
            json!({"name": "t", "namespace": "ns"}),
            "{}",
            case.name
        );
    }
}

#[test]
fn exact_pairs_round_trip_through_objects_both_ways() {
    for case in exact_pairs() {
        let v1_test = v1_object(metadata_json(), case.v1.clone());
        let v2_test = v1_to_v2(v1_test.clone());
        assert_eq!(
            v2_test.metadata, v1_test.metadata,
            "{}: v1->v2 metadata",
            case.name
        );
        assert_eq!(
            v2_test.spec,
            v2_spec(case.v2.clone()),
            "{}: v1->v2 spec",
            case.name
        );
        assert_same_object!(v2_to_v1(v2_test), v1_test, "{}: v1->v2->v1", case.name);

        let v2_test = v2_object(metadata_json(), case.v2.clone());
        assert_same_object!(
            v1_to_v2(v2_to_v1(v2_test.clone())),
            v2_test,
            "{}: v2->v1->v2",
            case.name
        );
    }
}
