//! The pure decisions of a reconcile (`src/controller/plan.rs`): which spec a test runs with
//! (every branch of `spec_source`), which children are ours, how a LocustTest is read from the
//! untyped cache (malformed spec, malformed status, unreadable objects), whether creating a
//! missing child is a recovery, and the original-spec record.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DynamicObject;
use locust_operator::api::conditions::{reasons, types};
use locust_operator::api::{ANNOTATION_ORIGINAL_SPEC, LocustTest, LocustTestSpec, Phase};
use locust_operator::controller::plan::{
    self, MAX_ORIGINAL_SPEC_BYTES, ORIGINAL_SPEC_FIELD, Ownership, SpecSource,
};
use locust_operator::defaulting::{Defaulted, apply_defaults};
use serde_json::{Value, json};

const UID: &str = "6f1c2a3b-0000-4000-8000-000000000001";
const OTHER_UID: &str = "6f1c2a3b-0000-4000-8000-000000000002";

fn manifest() -> Value {
    json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {
            "name": "my-test", "namespace": "loadtests", "generation": 1, "uid": UID,
            "resourceVersion": "42", "creationTimestamp": "2025-06-01T12:00:00Z"
        },
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "--locustfile /lotest/src/test.py --host http://app:8080"},
            "worker": {"command": "--locustfile /lotest/src/test.py", "replicas": 5}
        }
    })
}

fn merged(patch: Value) -> Value {
    let mut value = manifest();
    json_patch::merge(&mut value, &patch);
    value
}

fn locust_test(patch: Value) -> LocustTest {
    serde_json::from_value(merged(patch)).expect("a LocustTest")
}

fn dynamic(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a DynamicObject")
}

fn defaulted(spec: &LocustTestSpec) -> LocustTestSpec {
    let mut spec = spec.clone();
    apply_defaults(&mut spec);
    spec
}

/// A test whose `status.originalSpec` is `value`, at `generation`, with `status`.
fn with_record(value: Option<&str>, generation: i64, mut status: Value) -> LocustTest {
    if let Some(text) = value {
        if status.is_null() {
            status = json!({});
        }
        status["originalSpec"] = json!(text);
    }
    locust_test(json!({"metadata": {"generation": generation}, "status": status}))
}

/// A test recorded by an operator before issue 15: the record in the annotation.
fn with_annotated_record(text: &str, generation: i64, status: Value) -> LocustTest {
    locust_test(json!({
        "metadata": {"generation": generation, "annotations": {ANNOTATION_ORIGINAL_SPEC: text}},
        "status": status
    }))
}

fn running_status() -> Value {
    json!({"phase": "Running", "startTime": "2025-06-01T12:01:00Z"})
}

// ------------------------------------------------------------------------------------------
// encode_original

#[test]
fn encode_original_is_the_defaulted_spec_as_compact_json() {
    let test = locust_test(json!({}));
    let text = plan::encode_original(&test.spec);
    assert!(!text.contains('\n') && !text.contains(": "), "{text}");
    let decoded: LocustTestSpec = serde_json::from_str(&text).unwrap();
    assert_eq!(decoded, defaulted(&test.spec));
    // Defaults are written out (autoquit, pull policy), so a later change of a default does
    // not look like an edit.
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        value["master"]["autoquit"],
        json!({"enabled": true, "timeout": 60})
    );
    assert_eq!(value["master"]["autostart"], true);
}

#[test]
fn encode_original_is_stable_under_defaulting() {
    let spec = locust_test(json!({})).spec;
    assert_eq!(
        plan::encode_original(&spec),
        plan::encode_original(&defaulted(&spec))
    );
}

// ------------------------------------------------------------------------------------------
// spec_source

#[test]
fn a_readable_record_is_used_whatever_else_holds() {
    let original = locust_test(json!({"spec": {"worker": {"replicas": 2}}})).spec;
    let text = plan::encode_original(&original);
    for (children, generation, status) in [
        (false, 1, Value::Null),
        (true, 1, Value::Null),
        (true, 7, running_status()),
        (false, 3, json!({"phase": "Succeeded"})),
    ] {
        let test = with_record(Some(&text), generation, status.clone());
        let source = plan::spec_source(&Defaulted::new(test.clone()), children);
        assert_eq!(
            source,
            SpecSource::Recorded(defaulted(&original)),
            "children {children}, generation {generation}, status {status}"
        );
        // The record wins over the current spec (5 replicas).
        assert_eq!(source.spec().unwrap().worker.replicas, 2);
    }
}

#[test]
fn a_record_in_the_annotation_of_earlier_versions_is_still_read() {
    let original = locust_test(json!({"spec": {"worker": {"replicas": 2}}})).spec;
    let text = plan::encode_original(&original);
    let test = with_annotated_record(&text, 4, running_status());
    let source = plan::spec_source(&Defaulted::new(test.clone()), true);
    assert_eq!(source, SpecSource::Recorded(defaulted(&original)));
    assert_eq!(source.record(), None, "nothing to write again");
    assert_eq!(
        test.recorded_spec(),
        Some(("annotation locust.io/original-spec", text.as_str()))
    );
    // A malformed one names where it was read.
    let bad = with_annotated_record("not json", 4, running_status());
    match plan::spec_source(&Defaulted::new(bad), true) {
        SpecSource::Unknown(problem) => assert!(
            problem.starts_with("annotation locust.io/original-spec is not a spec: "),
            "{problem}"
        ),
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[test]
fn the_status_record_wins_over_the_annotation() {
    let original =
        plan::encode_original(&locust_test(json!({"spec": {"worker": {"replicas": 2}}})).spec);
    let annotated =
        plan::encode_original(&locust_test(json!({"spec": {"worker": {"replicas": 9}}})).spec);
    let mut test = with_annotated_record(&annotated, 4, running_status());
    test.status.as_mut().unwrap().original_spec = Some(original.clone());
    assert_eq!(
        test.recorded_spec(),
        Some((ORIGINAL_SPEC_FIELD, original.as_str()))
    );
    let source = plan::spec_source(&Defaulted::new(test), true);
    assert_eq!(source.spec().unwrap().worker.replicas, 2);
}

#[test]
fn a_new_test_records_its_current_spec() {
    let test = with_record(None, 1, Value::Null);
    let expected = defaulted(&test.spec);
    match plan::spec_source(&Defaulted::new(test.clone()), false) {
        SpecSource::RecordNow(spec, text) => {
            assert_eq!(spec, expected);
            assert_eq!(text, plan::encode_original(&test.spec));
            assert_eq!(serde_json::from_str::<LocustTestSpec>(&text).unwrap(), spec);
            assert_eq!(
                plan::spec_source(&Defaulted::new(test.clone()), false).record(),
                Some(text.as_str())
            );
        }
        other => panic!("expected RecordNow, got {other:?}"),
    }
}

#[test]
fn an_unedited_test_with_children_records_its_current_spec() {
    // Children without a record (e.g. made by the Go operator, or the record was removed) and
    // generation 1: the spec was never edited, so it is the one the children came from.
    for status in [Value::Null, running_status()] {
        let test = with_record(None, 1, status.clone());
        assert!(
            matches!(
                plan::spec_source(&Defaulted::new(test.clone()), true),
                SpecSource::RecordNow(..)
            ),
            "status {status}"
        );
    }
}

#[test]
fn a_test_without_generation_counts_as_unedited() {
    let mut value = merged(json!({"status": running_status()}));
    value["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("generation");
    let test: LocustTest = serde_json::from_value(value).unwrap();
    assert!(matches!(
        plan::spec_source(&Defaulted::new(test.clone()), true),
        SpecSource::RecordNow(..)
    ));
}

#[test]
fn an_edited_test_with_children_and_no_record_is_unknown() {
    let test = with_record(None, 2, Value::Null);
    match plan::spec_source(&Defaulted::new(test.clone()), true) {
        SpecSource::Unknown(problem) => {
            assert_eq!(problem, format!("{ORIGINAL_SPEC_FIELD} is missing"));
        }
        other => panic!("expected Unknown, got {other:?}"),
    }
    assert_eq!(
        plan::spec_source(&Defaulted::new(test.clone()), true).spec(),
        None
    );
}

#[test]
fn an_edited_started_test_without_children_is_unknown() {
    // All children deleted by someone else after an edit: the current spec is not the one the
    // test started with, so nothing may be built from it.
    for status in [
        running_status(),
        json!({"phase": "Pending", "startTime": "2025-06-01T12:01:00Z"}),
        json!({"phase": "Failed"}),
    ] {
        let test = with_record(None, 2, status.clone());
        assert!(
            matches!(
                plan::spec_source(&Defaulted::new(test.clone()), false),
                SpecSource::Unknown(_)
            ),
            "status {status}"
        );
    }
}

#[test]
fn an_edited_test_that_never_started_and_has_no_children_records_its_current_spec() {
    // Edited while nothing was built yet (e.g. the operator was down): nothing ran with
    // another spec.
    for status in [Value::Null, json!({"phase": "Pending"})] {
        let test = with_record(None, 3, status.clone());
        assert!(
            matches!(
                plan::spec_source(&Defaulted::new(test.clone()), false),
                SpecSource::RecordNow(..)
            ),
            "status {status}"
        );
    }
}

#[test]
fn a_malformed_record_is_replaced_when_safe_and_unknown_otherwise() {
    for bad in ["not json", "{}", r#"{"image": 3}"#, ""] {
        let safe = with_record(Some(bad), 1, Value::Null);
        assert!(
            matches!(
                plan::spec_source(&Defaulted::new(safe.clone()), false),
                SpecSource::RecordNow(..)
            ),
            "record {bad:?}"
        );
        let unsafe_ = with_record(Some(bad), 2, running_status());
        match plan::spec_source(&Defaulted::new(unsafe_.clone()), true) {
            SpecSource::Unknown(problem) => assert!(
                problem.starts_with(&format!("{ORIGINAL_SPEC_FIELD} is not a spec: ")),
                "{problem}"
            ),
            other => panic!("record {bad:?}: expected Unknown, got {other:?}"),
        }
    }
}

#[test]
fn a_spec_too_large_to_record_is_unrecorded() {
    let big = "x".repeat(MAX_ORIGINAL_SPEC_BYTES + 1);
    let test = locust_test(json!({"spec": {"master": {"extraArgs": [big]}}}));
    match plan::spec_source(&Defaulted::new(test.clone()), false) {
        SpecSource::Unrecorded(spec) => assert_eq!(spec, defaulted(&test.spec)),
        other => panic!(
            "expected Unrecorded, got {:?}",
            std::mem::discriminant(&other)
        ),
    }
    // Just below the limit it is recorded.
    let fits = locust_test(json!({"spec": {"master": {"extraArgs": ["x".repeat(1000)]}}}));
    assert!(matches!(
        plan::spec_source(&Defaulted::new(fits.clone()), false),
        SpecSource::RecordNow(..)
    ));
}

#[test]
fn spec_of_every_source() {
    let spec = defaulted(&locust_test(json!({})).spec);
    assert_eq!(SpecSource::Recorded(spec.clone()).spec(), Some(&spec));
    assert_eq!(
        SpecSource::RecordNow(spec.clone(), String::new()).spec(),
        Some(&spec)
    );
    assert_eq!(SpecSource::Unrecorded(spec.clone()).spec(), Some(&spec));
    assert_eq!(SpecSource::Unknown("why".into()).spec(), None);
}

#[test]
fn with_spec_replaces_only_the_spec() {
    let test = locust_test(json!({"status": running_status()}));
    let other = locust_test(json!({"spec": {"image": "other:1"}})).spec;
    let replaced = Defaulted::with_spec(&test, &other);
    assert_eq!(replaced.spec, defaulted(&other));
    assert_eq!(replaced.metadata, test.metadata);
    assert_eq!(replaced.status, test.status);
}

// ------------------------------------------------------------------------------------------
// ownership

fn meta(owners: Value, deleting: bool) -> ObjectMeta {
    let mut value = json!({"name": "my-test-master", "ownerReferences": owners});
    if deleting {
        value["deletionTimestamp"] = json!("2025-06-01T12:05:00Z");
    }
    serde_json::from_value(value).unwrap()
}

fn owner(uid: &str, controller: Value) -> Value {
    let mut value = json!({
        "apiVersion": "locust.io/v2", "kind": "LocustTest", "name": "my-test", "uid": uid,
        "blockOwnerDeletion": true
    });
    if !controller.is_null() {
        value["controller"] = controller;
    }
    value
}

#[test]
fn ownership_needs_a_controller_reference_with_the_uid() {
    let cases = [
        (
            "controller ref with our uid",
            json!([owner(UID, json!(true))]),
            false,
            Ownership::Ours,
        ),
        (
            "ours among others",
            json!([owner(OTHER_UID, json!(false)), owner(UID, json!(true))]),
            false,
            Ownership::Ours,
        ),
        (
            "another uid (a deleted test of the same name)",
            json!([owner(OTHER_UID, json!(true))]),
            false,
            Ownership::Foreign,
        ),
        (
            "our uid but not controller",
            json!([owner(UID, json!(false))]),
            false,
            Ownership::Foreign,
        ),
        (
            "our uid, controller unset",
            json!([owner(UID, Value::Null)]),
            false,
            Ownership::Foreign,
        ),
        (
            "no owner references",
            Value::Null,
            false,
            Ownership::Foreign,
        ),
        (
            "empty owner references",
            json!([]),
            false,
            Ownership::Foreign,
        ),
        (
            "ours but being deleted (kubectl delete --cascade=foreground)",
            json!([owner(UID, json!(true))]),
            true,
            Ownership::Leaving,
        ),
        (
            "someone else's, being deleted",
            json!([owner(OTHER_UID, json!(true))]),
            true,
            Ownership::Foreign,
        ),
    ];
    for (what, owners, deleting, expected) in cases {
        assert_eq!(
            plan::ownership(&meta(owners, deleting), UID),
            expected,
            "{what}"
        );
    }
    // An empty uid (a test read without one) never matches an owner reference without one.
    assert_eq!(
        plan::ownership(&meta(json!([owner(UID, json!(true))]), false), ""),
        Ownership::Foreign
    );
}

// ------------------------------------------------------------------------------------------
// decode / undecodable

#[test]
fn decode_reads_a_well_formed_test() {
    let value = merged(json!({"status": {
        "phase": "Running", "expectedWorkers": 5, "connectedWorkers": 3,
        "startTime": "2025-06-01T12:01:00Z",
        "conditions": [{"type": "Ready", "status": "True", "reason": "ResourcesCreated",
                        "message": "All resources created successfully",
                        "lastTransitionTime": "2025-06-01T12:00:01Z", "observedGeneration": 1}]
    }}));
    let (test, dropped) = plan::decode(&dynamic(value.clone())).unwrap();
    assert_eq!(dropped, None);
    let expected = serde_json::from_value::<LocustTest>(value).unwrap();
    assert_eq!(test.metadata, expected.metadata);
    // Read through the one parser: defaulted.
    assert_eq!(test.spec, defaulted(&expected.spec));
    assert_eq!(test.status, expected.status);
    assert_eq!(test.status.clone().unwrap().phase, Some(Phase::Running));
}

#[test]
fn decode_drops_a_malformed_status_and_says_where() {
    let cases = [
        (json!({"phase": "Bogus"}), "status.phase"),
        (json!({"expectedWorkers": "five"}), "status.expectedWorkers"),
        (
            json!({"conditions": [{"type": "Ready"}]}),
            "status.conditions[0]",
        ),
        (json!({"startTime": "yesterday"}), "status.startTime"),
        (json!("not an object"), "status"),
    ];
    for (status, path) in cases {
        let object = dynamic(merged(json!({"status": status})));
        let (test, dropped) = plan::decode(&object).unwrap_or_else(|e| panic!("{status}: {e:?}"));
        assert_eq!(test.status, None, "{status}");
        assert_eq!(
            test.spec,
            defaulted(&locust_test(json!({})).spec),
            "{status}"
        );
        assert_eq!(test.metadata.uid.as_deref(), Some(UID));
        let dropped = dropped.unwrap_or_else(|| panic!("{status}: nothing dropped"));
        assert!(dropped.starts_with(path), "{status}: {dropped}");
    }
}

#[test]
fn decode_reports_a_malformed_spec_naming_the_field() {
    let cases = [
        (
            json!({"spec": {"worker": {"replicas": "two"}}}),
            "spec.worker.replicas",
        ),
        (json!({"spec": {"image": 42}}), "spec.image"),
        (
            json!({"spec": {"imagePullPolicy": "Sometimes"}}),
            "spec.imagePullPolicy",
        ),
        (
            json!({"spec": {"master": {"autoquit": {"enabled": "yes"}}}}),
            "spec.master.autoquit.enabled",
        ),
        (json!({"spec": {"master": null}}), "spec"),
        // A malformed status does not hide a malformed spec.
        (
            json!({"spec": {"worker": {"replicas": "two"}}, "status": {"phase": "Bogus"}}),
            "spec.worker.replicas",
        ),
    ];
    for (patch, field) in cases {
        let report = plan::decode(&dynamic(merged(patch.clone())))
            .expect_err(&format!("{patch} must not decode"));
        assert!(!report.is_valid());
        assert_eq!(report.errors.len(), 1, "{patch}: {report:?}");
        assert_eq!(report.errors[0].field, field, "{patch}: {report:?}");
        assert!(!report.errors[0].message.is_empty());
    }
}

#[test]
fn decode_reports_a_missing_spec() {
    let mut value = manifest();
    value.as_object_mut().unwrap().remove("spec");
    let report = plan::decode(&dynamic(value)).expect_err("no spec");
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].field.starts_with("spec"), "{report:?}");
    assert!(report.errors[0].message.contains("spec"), "{report:?}");
}

#[test]
fn undecodable_keeps_metadata_status_and_worker_count() {
    let object = dynamic(merged(json!({
        "spec": {"image": 42},
        "status": {"phase": "Pending", "expectedWorkers": 5}
    })));
    let stand_in = plan::undecodable(&object).expect("a stand-in");
    assert_eq!(stand_in.metadata.name.as_deref(), Some("my-test"));
    assert_eq!(stand_in.metadata.namespace.as_deref(), Some("loadtests"));
    assert_eq!(stand_in.metadata.uid.as_deref(), Some(UID));
    assert_eq!(stand_in.metadata.resource_version.as_deref(), Some("42"));
    assert_eq!(stand_in.metadata.generation, Some(1));
    assert_eq!(stand_in.spec.worker.replicas, 5);
    assert_eq!(stand_in.spec.image, "");
    let status = stand_in.status.clone().expect("the status is kept");
    assert_eq!(status.phase, Some(Phase::Pending));
    assert_eq!(status.expected_workers, Some(5));
}

#[test]
fn undecodable_drops_an_unreadable_status_and_a_non_numeric_worker_count() {
    let object = dynamic(merged(json!({
        "spec": {"worker": {"replicas": "many"}},
        "status": {"phase": "Bogus"}
    })));
    let stand_in = plan::undecodable(&object).expect("a stand-in");
    assert_eq!(stand_in.spec.worker.replicas, 0);
    assert_eq!(stand_in.status, None);
    assert_eq!(stand_in.metadata.uid.as_deref(), Some(UID));
}

#[test]
fn undecodable_without_a_spec_still_has_a_stand_in() {
    let mut value = manifest();
    value.as_object_mut().unwrap().remove("spec");
    let stand_in = plan::undecodable(&dynamic(value)).expect("a stand-in");
    assert_eq!(stand_in.spec.worker.replicas, 0);
    assert_eq!(stand_in.metadata.name.as_deref(), Some("my-test"));
}

// ------------------------------------------------------------------------------------------
// children_were_created / is_terminal

fn condition(type_: &str, status: &str, reason: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": "m",
           "lastTransitionTime": "2025-06-01T12:00:01Z"})
}

/// A status in `phase` with one condition.
fn status_with(phase: &str, type_: &str, status: &str, reason: &str) -> Value {
    json!({"phase": phase, "conditions": [condition(type_, status, reason)]})
}

#[test]
fn children_were_created_once_ready_or_running() {
    use reasons::{INVALID_SPEC, PODS_STARTING, RESOURCES_CREATED, RESOURCES_CREATING};
    use types::{PODS_HEALTHY, READY};
    let cases = [
        ("no status", Value::Null, false),
        ("empty status", json!({}), false),
        ("Pending, no conditions", json!({"phase": "Pending"}), false),
        (
            "Pending, Ready=False ResourcesCreating",
            status_with("Pending", READY, "False", RESOURCES_CREATING),
            false,
        ),
        (
            "Pending, Ready=False InvalidSpec",
            status_with("Pending", READY, "False", INVALID_SPEC),
            false,
        ),
        (
            "Pending, Ready=True",
            status_with("Pending", READY, "True", RESOURCES_CREATED),
            true,
        ),
        (
            "Running without conditions",
            json!({"phase": "Running"}),
            true,
        ),
        (
            "Running, Ready=False (recreating)",
            status_with("Running", READY, "False", RESOURCES_CREATING),
            true,
        ),
        (
            "another condition True",
            status_with("Pending", PODS_HEALTHY, "True", PODS_STARTING),
            false,
        ),
        (
            "Succeeded, Ready=True",
            status_with("Succeeded", READY, "True", RESOURCES_CREATED),
            true,
        ),
    ];
    for (what, status, expected) in cases {
        let test = locust_test(json!({"status": status}));
        assert_eq!(plan::children_were_created(&test), expected, "{what}");
    }
}

#[test]
fn terminal_phases() {
    for (status, expected) in [
        (Value::Null, false),
        (json!({}), false),
        (json!({"phase": "Pending"}), false),
        (json!({"phase": "Running"}), false),
        (json!({"phase": "Succeeded"}), true),
        (json!({"phase": "Failed"}), true),
    ] {
        let test = locust_test(json!({"status": status}));
        assert_eq!(plan::is_terminal(&test), expected, "{status}");
    }
}

#[test]
fn readiness_before_the_controllers_start() {
    use locust_operator::controller::State;
    // Without leader election this replica will reconcile: not ready until its caches sync.
    let alone = State::new(false);
    assert!(alone.is_leading());
    assert!(!alone.caches_synced());
    assert!(!alone.ready());
    // With leader election it starts as a standby, which serves webhooks: ready.
    let candidate = State::new(true);
    assert!(!candidate.is_leading());
    assert!(candidate.ready());
}

/// A watch the API server ends with 410 Expired (a routine relist after a CRD update or etcd
/// compaction) is routine and logged at debug; other watch errors are not.
#[test]
fn an_expired_watch_is_routine() {
    use kube::runtime::watcher;
    use locust_operator::controller::cache::is_routine;
    let status = |code: u16, reason: &str| {
        Box::new(
            kube::core::Status::failure("too old resource version: 1 (42)", reason).with_code(code),
        )
    };
    assert!(is_routine(&watcher::Error::WatchError(status(
        410, "Expired"
    ))));
    assert!(!is_routine(&watcher::Error::WatchError(status(
        500,
        "InternalError"
    ))));
    assert!(!is_routine(&watcher::Error::NoResourceVersion));
}
