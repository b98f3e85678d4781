//! An invalid spec (docs/compatibility.md Part B 12): Ready=False with reason InvalidSpec, and a
//! terminal test stays frozen.

use locust_operator::api::Phase;
use locust_operator::api::conditions::types;
use locust_operator::status::{EventReason, EventType, StatusEvent};
use serde_json::json;

use crate::{
    at, children, compute, cond, invalid_spec, locust_test, previous, srm, time, triple, types_of,
    validate,
};

#[test]
fn an_invalid_spec_gets_ready_false_invalid_spec() {
    let mut test = locust_test(json!({"spec": {"worker": {"replicas": 0}}}));
    let report = validate(&test);
    assert!(!report.is_valid());
    let message = format!("Invalid spec: {}", report.error_message());
    assert!(message.contains("spec.worker.replicas"), "{message}");

    let outcome = invalid_spec(&test, &report, at(1));
    let s = &outcome.status;
    assert_eq!(s.phase, Some(Phase::Pending));
    assert_eq!(
        srm(s, types::READY),
        triple("False", "InvalidSpec", &message)
    );
    assert_eq!(
        types_of(s),
        vec!["Ready", "WorkersConnected", "PodsHealthy", "TestCompleted"]
    );
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Warning,
            reason: EventReason::InvalidSpec,
            message: message.clone(),
        }]
    );
    assert_eq!(outcome.requeue_after, None);

    // Again: same status, no second event.
    test.status = Some(outcome.status.clone());
    let again = invalid_spec(&test, &report, at(60));
    assert_eq!(again.status, outcome.status);
    assert!(again.events.is_empty());

    // Fixed: the normal computation takes over.
    test.spec.worker.replicas = 5;
    let fixed = compute(&test, &children(json!({}), json!({})), at(70));
    assert_eq!(
        srm(&fixed.status, types::READY),
        triple(
            "True",
            "ResourcesCreated",
            "All resources created successfully"
        )
    );
    assert_eq!(
        cond(&fixed.status, types::READY).last_transition_time,
        time(70)
    );
}

#[test]
fn a_terminal_test_stays_frozen_even_when_invalid() {
    let before = previous(Phase::Failed);
    let mut test = locust_test(json!({"spec": {"worker": {"replicas": 0}}}));
    test.status = Some(before.clone());
    let outcome = invalid_spec(&test, &validate(&test), at(1000));
    assert_eq!(outcome.status, before);
    assert!(outcome.events.is_empty());
}
