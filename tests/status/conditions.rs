//! Condition bookkeeping: lastTransitionTime changes only with the status, every condition carries
//! the generation, and conditions come in a fixed order with foreign ones kept.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use locust_operator::api::Phase;
use locust_operator::api::conditions::types;
use locust_operator::status::Observed;
use serde_json::json;

use crate::{
    at, children, compute, cond, locust_test, new_test, previous, running, running_pod, step, time,
    types_of, with_status,
};

#[test]
fn last_transition_time_changes_only_with_the_status() {
    let mut test = new_test();
    step(
        &mut test,
        &children(json!({"active": 1}), json!({"active": 5})),
        at(10),
    );
    step(&mut test, &running(3), at(20));
    let s = test.status.clone().unwrap();
    assert_eq!(cond(&s, types::READY).last_transition_time, time(10));
    // False/WaitingForWorkers -> False/WorkersMissing: same status, time kept.
    assert_eq!(cond(&s, types::WORKERS_CONNECTED).reason, "WorkersMissing");
    assert_eq!(
        cond(&s, types::WORKERS_CONNECTED).last_transition_time,
        time(10)
    );
    // Pending -> Running changes TestCompleted's message, not its status.
    assert_eq!(cond(&s, types::TEST_COMPLETED).message, "Test is running");
    assert_eq!(
        cond(&s, types::TEST_COMPLETED).last_transition_time,
        time(10)
    );

    step(&mut test, &running(4), at(30));
    let s = test.status.clone().unwrap();
    assert_eq!(
        cond(&s, types::WORKERS_CONNECTED).message,
        "4/5 workers connected"
    );
    assert_eq!(
        cond(&s, types::WORKERS_CONNECTED).last_transition_time,
        time(10)
    );

    step(&mut test, &running(5), at(40));
    let s = test.status.clone().unwrap();
    assert_eq!(cond(&s, types::WORKERS_CONNECTED).status, "True");
    assert_eq!(
        cond(&s, types::WORKERS_CONNECTED).last_transition_time,
        time(40)
    );

    // PodsStarting -> PodsHealthy: both True, time kept.
    let mut observed = running(5);
    observed.pods = vec![running_pod("my-test-master-m", 10)];
    step(&mut test, &observed, at(50));
    let s = test.status.clone().unwrap();
    assert_eq!(cond(&s, types::PODS_HEALTHY).reason, "PodsHealthy");
    assert_eq!(cond(&s, types::PODS_HEALTHY).last_transition_time, time(10));
}

#[test]
fn every_condition_carries_the_generation() {
    for generation in [1, 2, 7] {
        let test = locust_test(json!({"metadata": {"generation": generation}}));
        let outcome = compute(&test, &running(5), at(30));
        assert_eq!(outcome.status.observed_generation, Some(generation));
        for c in outcome.status.conditions.as_ref().unwrap() {
            assert_eq!(c.observed_generation, Some(generation), "{}", c.type_);
        }
    }
    // A later generation is written even when nothing else changes.
    let mut test = with_status(new_test(), &previous(Phase::Running));
    test.metadata.generation = Some(4);
    let outcome = compute(&test, &running(5), at(100));
    assert!(
        outcome
            .status
            .conditions
            .iter()
            .flatten()
            .all(|c| c.observed_generation == Some(4))
    );
}

#[test]
fn conditions_come_in_a_fixed_order_and_foreign_ones_are_kept() {
    let mut before = previous(Phase::Running);
    let foreign = |t: &str| Condition {
        type_: t.into(),
        status: "True".into(),
        reason: "Other".into(),
        message: "set by someone else".into(),
        last_transition_time: time(1),
        observed_generation: None,
    };
    let list = before.conditions.as_mut().unwrap();
    list.reverse();
    list.insert(0, foreign("Zeta"));
    list.insert(2, foreign("Alpha"));
    let mut test = with_status(new_test(), &before);
    test.spec.image = "locustio/locust:2.44.0".into(); // drifted: SpecDrifted is there
    let observed = Observed {
        original_spec: Some(new_test().spec),
        ..running(5)
    };
    let outcome = compute(&test, &observed, at(100));
    assert_eq!(
        types_of(&outcome.status),
        vec![
            "Ready",
            "WorkersConnected",
            "PodsHealthy",
            "TestCompleted",
            "SpecDrifted",
            "Alpha",
            "Zeta"
        ]
    );
    assert_eq!(cond(&outcome.status, "Zeta"), &foreign("Zeta"));
}
