//! Stash semantics: a field edited through v1 wins, every v2-only field comes back, and a corrupt
//! stash is ignored and removed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LocalObjectReference, Toleration};
use locust_operator::api::{v1, v2};
use locust_operator::conversion::{
    V2_SPEC_ANNOTATION, convert_object, v1_spec_to_v2, v1_to_v2, v2_to_v1,
};
use serde_json::json;

use crate::specs::{base_v2, full_v1, rich_v2};
use crate::{
    V1, V2, merged, metadata_json, object_json, parse, stash_of, to_json, v1_object, v2_object,
};

/// The v1 view of a v2 spec as a whole object, asserting the stash is present and holds the
/// complete v2 spec.
fn v1_view_with_stash(spec: &v2::LocustTestSpec) -> v1::LocustTest {
    let test = v2_to_v1(v2_object(metadata_json(), to_json(spec)));
    let stash = stash_of(&test).expect("the v1 form carries the v2-spec stash");
    assert!(!stash.contains('\n'), "stash is compact JSON: {stash}");
    let stashed: v2::LocustTestSpec = serde_json::from_str(&stash).expect("stash is a v2 spec");
    assert_eq!(&stashed, spec, "the stash holds the complete v2 spec");
    test
}

struct StashEdit {
    name: &'static str,
    /// The edit a v1 client makes to the v1 view of `rich_v2()`.
    edit_v1: fn(&mut v1::LocustTestSpec),
    /// The same edit, as it must show in the v2 result.
    expect_v2: fn(&mut v2::LocustTestSpec),
}

fn stash_edits() -> Vec<StashEdit> {
    vec![
        StashEdit {
            name: "workerReplicas",
            edit_v1: |s| s.worker_replicas = 3,
            expect_v2: |s| s.worker.replicas = 3,
        },
        StashEdit {
            name: "image",
            edit_v1: |s| s.image = "locustio/locust:2.50.0".to_owned(),
            expect_v2: |s| s.image = "locustio/locust:2.50.0".to_owned(),
        },
        StashEdit {
            name: "imagePullPolicy",
            edit_v1: |s| s.image_pull_policy = Some(v2::ImagePullPolicy::Always),
            expect_v2: |s| s.image_pull_policy = Some(v2::ImagePullPolicy::Always),
        },
        StashEdit {
            name: "imagePullPolicy removed",
            edit_v1: |s| s.image_pull_policy = None,
            expect_v2: |s| s.image_pull_policy = None,
        },
        StashEdit {
            name: "imagePullSecrets",
            edit_v1: |s| s.image_pull_secrets = Some(vec!["a".to_owned(), "b".to_owned()]),
            expect_v2: |s| {
                s.image_pull_secrets = Some(vec![
                    LocalObjectReference {
                        name: "a".to_owned(),
                    },
                    LocalObjectReference {
                        name: "b".to_owned(),
                    },
                ]);
            },
        },
        StashEdit {
            name: "masterCommandSeed",
            edit_v1: |s| s.master_command_seed = "--locustfile /mnt/tests/other.py".to_owned(),
            expect_v2: |s| s.master.command = "--locustfile /mnt/tests/other.py".to_owned(),
        },
        StashEdit {
            name: "workerCommandSeed",
            edit_v1: |s| s.worker_command_seed = "--locustfile /mnt/tests/other.py".to_owned(),
            expect_v2: |s| s.worker.command = "--locustfile /mnt/tests/other.py".to_owned(),
        },
        StashEdit {
            name: "configMap (mount paths stay)",
            edit_v1: |s| s.config_map = Some("other-scripts".to_owned()),
            expect_v2: |s| {
                s.test_files.as_mut().unwrap().config_map_ref = Some("other-scripts".to_owned())
            },
        },
        StashEdit {
            name: "configMap and libConfigMap removed (mount paths stay)",
            edit_v1: |s| {
                s.config_map = None;
                s.lib_config_map = None;
            },
            expect_v2: |s| {
                let files = s.test_files.as_mut().unwrap();
                files.config_map_ref = None;
                files.lib_config_map_ref = None;
            },
        },
        StashEdit {
            name: "worker labels",
            edit_v1: |s| {
                s.labels.as_mut().unwrap().worker =
                    Some(BTreeMap::from([("new".to_owned(), "label".to_owned())]));
            },
            expect_v2: |s| {
                s.worker.labels = Some(BTreeMap::from([("new".to_owned(), "label".to_owned())]))
            },
        },
        StashEdit {
            name: "master annotations removed",
            edit_v1: |s| s.annotations.as_mut().unwrap().master = None,
            expect_v2: |s| s.master.annotations = None,
        },
        StashEdit {
            name: "tolerations replaced (the v1 list replaces what v1 showed; hidden ones are kept)",
            edit_v1: |s| {
                s.tolerations = Some(vec![v1::Toleration {
                    key: "new".to_owned(),
                    operator: v1::TolerationOperator::Exists,
                    value: None,
                    effect: v1::TaintEffect::NoExecute,
                }]);
            },
            expect_v2: |s| {
                let scheduling = s.scheduling.as_mut().unwrap();
                let hidden = hidden_tolerations(scheduling.tolerations.as_deref());
                let new = Toleration {
                    key: Some("new".to_owned()),
                    operator: Some("Exists".to_owned()),
                    value: None,
                    effect: Some("NoExecute".to_owned()),
                    toleration_seconds: None,
                };
                scheduling.tolerations = Some(std::iter::once(new).chain(hidden).collect());
            },
        },
        StashEdit {
            name: "tolerations removed (the ones v1 never showed are kept)",
            edit_v1: |s| s.tolerations = None,
            expect_v2: |s| {
                let scheduling = s.scheduling.as_mut().unwrap();
                let hidden = hidden_tolerations(scheduling.tolerations.as_deref());
                assert!(!hidden.is_empty(), "rich_v2 has tolerations v1 cannot show");
                scheduling.tolerations = Some(hidden);
            },
        },
        StashEdit {
            name: "several fields at once",
            edit_v1: |s| {
                s.worker_replicas = 50;
                s.image = "img:2".to_owned();
                s.labels = None;
            },
            expect_v2: |s| {
                s.worker.replicas = 50;
                s.image = "img:2".to_owned();
                s.master.labels = None;
                s.worker.labels = None;
            },
        },
    ]
}

/// The tolerations of a v2 list that the v1 view leaves out (no effect, tolerationSeconds,
/// an unknown operator): a v1 edit of tolerations keeps them.
fn hidden_tolerations(list: Option<&[Toleration]>) -> Vec<Toleration> {
    list.into_iter()
        .flatten()
        .filter(|t| {
            t.toleration_seconds.is_some()
                || t.effect.as_deref().is_none_or(str::is_empty)
                || !matches!(t.operator.as_deref(), None | Some("" | "Equal" | "Exists"))
        })
        .cloned()
        .collect()
}

#[test]
fn a_field_edited_through_v1_wins_and_v2_only_fields_come_back() {
    for edit in stash_edits() {
        let original = v2_object(metadata_json(), rich_v2());
        let mut v1_test = v1_view_with_stash(&original.spec);
        (edit.edit_v1)(&mut v1_test.spec);

        let back = v1_to_v2(v1_test);
        let mut expected = original.clone();
        (edit.expect_v2)(&mut expected.spec);
        assert_eq!(back.spec, expected.spec, "{}", edit.name);
        assert_eq!(
            back.metadata, original.metadata,
            "{}: stash consumed, rest untouched",
            edit.name
        );

        // Spot checks of the v2-only fields the brief names.
        assert_eq!(back.spec.env, original.spec.env, "{}", edit.name);
        assert_eq!(back.spec.volumes, original.spec.volumes, "{}", edit.name);
        assert_eq!(
            back.spec.volume_mounts, original.spec.volume_mounts,
            "{}",
            edit.name
        );
        assert_eq!(
            back.spec.master.resources, original.spec.master.resources,
            "{}",
            edit.name
        );
        assert_eq!(
            back.spec.worker.resources, original.spec.worker.resources,
            "{}",
            edit.name
        );
        assert_eq!(back.spec.security, original.spec.security, "{}", edit.name);
        assert_eq!(
            back.spec.observability, original.spec.observability,
            "{}",
            edit.name
        );
    }
}

#[test]
fn a_v1_edit_of_tolerations_keeps_other_scheduling_fields() {
    let original = v2_object(metadata_json(), rich_v2());
    let mut v1_test = v1_view_with_stash(&original.spec);
    v1_test.spec.tolerations = None;
    let scheduling = v1_to_v2(v1_test).spec.scheduling.expect("scheduling kept");
    let before = original.spec.scheduling.expect("scheduling");
    let hidden = hidden_tolerations(before.tolerations.as_deref());
    assert!(!hidden.is_empty());
    assert_eq!(scheduling.tolerations, Some(hidden));
    assert_eq!(scheduling.affinity, before.affinity);
    assert_eq!(scheduling.node_selector, before.node_selector);
    assert_eq!(scheduling.runtime_class_name, before.runtime_class_name);
}

#[test]
fn a_v1_edit_that_empties_scheduling_drops_it() {
    // Only tolerations in scheduling; v1 removes them: no empty `scheduling: {}` is left.
    let spec = merged(
        &base_v2(),
        &json!({"master": {"extraArgs": ["--x"]}, "scheduling": {"tolerations": [
            {"key": "a", "operator": "Exists", "effect": "NoSchedule"}
        ]}}),
    );
    let original = v2_object(metadata_json(), spec);
    let mut v1_test = v1_view_with_stash(&original.spec);
    v1_test.spec.tolerations = None;
    let back = v1_to_v2(v1_test);
    assert_eq!(back.spec.scheduling, None);
    assert_eq!(back.spec.master.extra_args, Some(vec!["--x".to_owned()]));

    // Same for testFiles when both ConfigMaps are removed and no mount path is set.
    let spec = merged(
        &base_v2(),
        &json!({"master": {"extraArgs": ["--x"]}, "testFiles": {"configMapRef": "s"}}),
    );
    let original = v2_object(metadata_json(), spec);
    let mut v1_test = v1_view_with_stash(&original.spec);
    v1_test.spec.config_map = None;
    assert_eq!(v1_to_v2(v1_test).spec.test_files, None);
}

#[test]
fn a_v1_edit_of_node_affinity_keeps_v2_only_affinity() {
    let original = v2_object(metadata_json(), rich_v2());
    let mut v1_test = v1_view_with_stash(&original.spec);
    v1_test.spec.affinity = Some(parse(
        "v1 affinity",
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"pool": "other"}}}),
    ));
    let back = v1_to_v2(v1_test);
    let affinity = back
        .spec
        .scheduling
        .and_then(|s| s.affinity)
        .expect("affinity");
    let before = original
        .spec
        .scheduling
        .and_then(|s| s.affinity)
        .expect("affinity");

    // The v1 edit wins for what v1 expresses ...
    let required = affinity.node_affinity.as_ref().and_then(|n| {
        n.required_during_scheduling_ignored_during_execution
            .clone()
    });
    assert_eq!(
        to_json(&required),
        json!({"nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["other"]}]}]})
    );
    // ... and what v1 cannot express comes back from the stash.
    assert_eq!(affinity.pod_anti_affinity, before.pod_anti_affinity);
    assert_eq!(affinity.pod_affinity, before.pod_affinity);
    assert_eq!(
        affinity
            .node_affinity
            .and_then(|n| n.preferred_during_scheduling_ignored_during_execution),
        before
            .node_affinity
            .and_then(|n| n.preferred_during_scheduling_ignored_during_execution),
    );
}

#[test]
fn an_unchanged_v1_view_restores_the_stash_even_after_a_json_trip() {
    let original = v2_object(metadata_json(), rich_v2());
    let v1_wire = convert_object(to_json(&original), V1).expect("v2 -> v1");
    // Re-parse as a v1 client would send it back.
    let v1_test: v1::LocustTest = parse("v1 view", v1_wire);
    assert_same_object!(v1_to_v2(v1_test), original);
}

#[test]
fn a_corrupt_stash_is_ignored_and_removed() {
    let corrupt = [
        "not json{",
        "",
        "null",
        "42",
        "{\"image\": 5}",
        "{\"stale\": true}",
        "[]",
    ];
    for stash in corrupt {
        for keep_other in [true, false] {
            let mut metadata =
                json!({"name": "t", "namespace": "ns", "annotations": {V2_SPEC_ANNOTATION: stash}});
            if keep_other {
                metadata["annotations"]["example.com/note"] = json!("keep me");
            }
            let v1_test = v1_object(metadata, full_v1());
            let back = v1_to_v2(v1_test.clone());
            assert_eq!(
                back.spec,
                v1_spec_to_v2(&v1_test.spec),
                "{stash:?}: plain conversion"
            );
            let expected_annotations = keep_other
                .then(|| BTreeMap::from([("example.com/note".to_owned(), "keep me".to_owned())]));
            assert_eq!(
                back.metadata.annotations, expected_annotations,
                "{stash:?}: stash removed"
            );
        }
    }
}

#[test]
fn a_v2_object_asked_for_as_v2_is_untouched_even_with_a_stash_annotation() {
    // convert_object of a v2 object to v2 returns it unchanged, stash annotation and all (the
    // API server never stores one; nothing to repair there).
    let mut metadata = metadata_json();
    metadata["annotations"][V2_SPEC_ANNOTATION] = json!("not json{");
    let wire = object_json(V2, metadata, base_v2());
    assert_eq!(convert_object(wire.clone(), V2), Ok(wire));
}
