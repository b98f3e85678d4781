//! SpecDrifted (docs/compatibility.md Part B 5): absent while pending, set and cleared, compared
//! after defaulting, kept without the original spec.

use locust_operator::api::Phase;
use locust_operator::api::conditions::types;
use locust_operator::status::{
    EventReason, EventType, MESSAGE_SPEC_RESTORED, Observed, StatusEvent,
};
use serde_json::json;

use crate::{
    IMAGE, at, children, compute, cond, find, locust_test, new_test, previous, running, spec_of,
    step, time, with_status,
};

#[test]
fn spec_drifted_is_absent_while_pending() {
    let test = locust_test(
        json!({"metadata": {"generation": 2}, "spec": {"image": "locustio/locust:2.44.0"}}),
    );
    let observed = Observed {
        original_spec: Some(new_test().spec),
        ..children(json!({}), json!({}))
    };
    let outcome = compute(&test, &observed, at(5));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    assert!(outcome.events.is_empty());
}

#[test]
fn spec_drifted_set_and_cleared() {
    let original = new_test().spec;
    let mut test = with_status(new_test(), &previous(Phase::Running));
    let observed = Observed {
        original_spec: Some(original.clone()),
        ..running(5)
    };
    // Unchanged spec: no condition at all (the guide's condition appears on an edit, and it
    // has no `False` row).
    let outcome = step(&mut test, &observed, at(100));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    assert!(
        outcome
            .status
            .conditions
            .iter()
            .flatten()
            .all(|c| c.reason != "SpecUnchanged")
    );
    assert!(outcome.events.is_empty());

    // Edited: True, Warning.
    test.spec.image = "locustio/locust:2.44.0".into();
    test.metadata.generation = Some(2);
    let outcome = step(&mut test, &observed, at(200));
    let drifted = cond(&outcome.status, types::SPEC_DRIFTED);
    assert_eq!(
        (
            drifted.status.as_str(),
            drifted.reason.as_str(),
            drifted.message.as_str()
        ),
        (
            "True",
            "SpecChangeIgnored",
            "Spec was modified after creation. Changes ignored. Delete and recreate to apply."
        )
    );
    assert_eq!(drifted.last_transition_time, time(200));
    assert_eq!(drifted.observed_generation, Some(2));
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Warning,
            reason: EventReason::SpecChangeIgnored,
            message:
                "Spec was modified after creation. Changes ignored. Delete and recreate to apply."
                    .into(),
        }]
    );
    assert_eq!(
        outcome.status.phase,
        Some(Phase::Running),
        "the edit changes nothing else"
    );

    // Still edited: no new event.
    let outcome = step(&mut test, &observed, at(250));
    assert!(outcome.events.is_empty());
    assert_eq!(
        cond(&outcome.status, types::SPEC_DRIFTED).last_transition_time,
        time(200)
    );

    // Edited back: the condition goes away (not merely generation > 1), with a Normal event.
    test.spec.image = IMAGE.into();
    test.metadata.generation = Some(3);
    let outcome = step(&mut test, &observed, at(300));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Normal,
            reason: EventReason::SpecRestored,
            message: MESSAGE_SPEC_RESTORED.into(),
        }]
    );
    // Still unchanged: nothing more.
    let outcome = step(&mut test, &observed, at(350));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    assert!(outcome.events.is_empty());
}

#[test]
fn spec_drift_is_compared_after_defaulting() {
    // The original was stored without defaults; the current one has them written out.
    let original = spec_of(json!({}));
    let current = spec_of(json!({
        "imagePullPolicy": "IfNotPresent",
        "master": {"autostart": true, "autoquit": {"enabled": true, "timeout": 60}}
    }));
    let mut test = with_status(new_test(), &previous(Phase::Running));
    test.spec = current;
    let observed = Observed {
        original_spec: Some(original),
        ..running(5)
    };
    let outcome = compute(&test, &observed, at(100));
    assert_eq!(find(&outcome.status, types::SPEC_DRIFTED), None);
    // A non-default value is a drift.
    test.spec.master.autoquit.as_mut().unwrap().timeout = Some(61);
    let outcome = compute(&test, &observed, at(100));
    assert_eq!(cond(&outcome.status, types::SPEC_DRIFTED).status, "True");
}

#[test]
fn without_the_original_spec_the_previous_spec_drifted_is_kept() {
    let mut test = with_status(new_test(), &previous(Phase::Running));
    test.spec.worker.replicas = 7;
    let observed = Observed {
        original_spec: Some(new_test().spec),
        ..running(5)
    };
    step(&mut test, &observed, at(100));
    let kept = cond(test.status.as_ref().unwrap(), types::SPEC_DRIFTED).clone();
    let outcome = compute(&test, &running(5), at(200));
    assert_eq!(cond(&outcome.status, types::SPEC_DRIFTED), &kept);
    assert!(outcome.events.is_empty());
    // And a test that never had one gets none.
    let test = with_status(new_test(), &previous(Phase::Running));
    assert_eq!(
        find(
            &compute(&test, &running(5), at(200)).status,
            types::SPEC_DRIFTED
        ),
        None
    );
}
