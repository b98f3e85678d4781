//! Phase transitions and their events: Pending to Running to Succeeded or Failed, following the
//! master Job and its pods, recovery after external deletion, and the user's guide lifecycle.

use locust_operator::api::conditions::types;
use locust_operator::api::{LocustTest, Phase};
use locust_operator::status::{
    EventReason, EventType, Observed, Outcome, StatusEvent, event_reasons,
};
use serde_json::json;

use crate::{
    at, children, compute, cond, find, finished, new_test, previous, reasons_of, running,
    running_pod, srm, step, time, triple, waiting_pod, with_status,
};

#[test]
fn pending_to_running_when_the_master_job_has_a_ready_pod() {
    let test = with_status(new_test(), &previous(Phase::Pending));
    let outcome = compute(&test, &running(0), at(40));
    let s = &outcome.status;
    assert_eq!(s.phase, Some(Phase::Running));
    assert_eq!(s.start_time, Some(time(40)));
    assert_eq!(s.completion_time, None);
    assert_eq!(
        srm(s, types::TEST_COMPLETED),
        triple("False", "TestInProgress", "Test is running")
    );
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Normal,
            reason: EventReason::TestStarted,
            message: "Test started: the master pod is running".into(),
        }]
    );
}

#[test]
fn pending_to_running_when_a_master_pod_runs_before_the_job_counts_it_ready() {
    let test = with_status(new_test(), &previous(Phase::Pending));
    let mut observed = children(json!({"active": 1}), json!({"active": 5}));
    observed.pods = vec![running_pod("my-test-master-abc12", 10)];
    let outcome = compute(&test, &observed, at(20));
    assert_eq!(outcome.status.phase, Some(Phase::Running));
    assert_eq!(
        reasons_of(&outcome.events),
        vec![event_reasons::TEST_STARTED]
    );
}

#[test]
fn an_active_but_not_running_master_keeps_the_test_pending() {
    // Job `active` counts pods that are unschedulable or still pulling: the user's guide says
    // such a test stays Pending ("Phase stuck in Pending — pods not scheduling").
    let test = with_status(new_test(), &previous(Phase::Pending));
    let mut observed = children(json!({"active": 1, "ready": 0}), json!({"active": 5}));
    observed.pods = vec![
        waiting_pod("my-test-master-abc12", 10, "ContainerCreating", None),
        running_pod("my-test-worker-a", 10), // a worker running is not the master
    ];
    let outcome = compute(&test, &observed, at(20));
    assert_eq!(outcome.status.phase, Some(Phase::Pending));
    assert_eq!(outcome.status.start_time, None);
    assert!(outcome.events.is_empty());
}

#[test]
fn running_to_succeeded_when_the_master_job_completes() {
    let before = previous(Phase::Running);
    let test = with_status(new_test(), &before);
    let observed = children(
        finished(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ),
        json!({"active": 0, "ready": 0, "succeeded": 5}),
    );
    let outcome = compute(&test, &observed, at(330));
    let s = &outcome.status;
    assert_eq!(s.phase, Some(Phase::Succeeded));
    assert_eq!(s.start_time, before.start_time);
    assert_eq!(s.completion_time, Some(time(330)));
    assert_eq!(
        srm(s, types::TEST_COMPLETED),
        triple(
            "True",
            "TestSucceeded",
            "Test completed successfully (master exited with code 0)"
        )
    );
    assert_eq!(
        cond(s, types::TEST_COMPLETED).last_transition_time,
        time(330)
    );
    assert_eq!(
        srm(s, types::READY),
        triple(
            "True",
            "ResourcesCreated",
            "All resources created successfully"
        )
    );
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Normal,
            reason: EventReason::TestSucceeded,
            message: "Test completed successfully".into(),
        }]
    );
    assert_eq!(outcome.requeue_after, None);
}

#[test]
fn running_to_failed_when_the_master_job_fails() {
    let test = with_status(new_test(), &previous(Phase::Running));
    let observed = children(
        finished(
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ),
        json!({"active": 5, "ready": 5}),
    );
    let outcome = compute(&test, &observed, at(200));
    let s = &outcome.status;
    let cause = "Job my-test-master failed (BackoffLimitExceeded): Job has reached the specified backoff limit";
    assert_eq!(s.phase, Some(Phase::Failed));
    assert_eq!(s.completion_time, Some(time(200)));
    assert_eq!(
        srm(s, types::READY),
        triple("False", "ResourcesFailed", &format!("Test failed: {cause}"))
    );
    assert_eq!(
        srm(s, types::TEST_COMPLETED),
        triple("True", "TestFailed", &format!("Test failed: {cause}"))
    );
    assert_eq!(
        outcome.events,
        vec![StatusEvent {
            type_: EventType::Warning,
            reason: EventReason::TestFailed,
            message: format!("Test failed: {cause}"),
        }]
    );
}

#[test]
fn job_conditions_that_are_not_true_or_not_final_change_nothing() {
    for (type_, status) in [
        ("Complete", "False"),
        ("Failed", "False"),
        ("SuccessCriteriaMet", "True"),
        ("FailureTarget", "True"),
        ("Suspended", "True"),
    ] {
        let test = with_status(new_test(), &previous(Phase::Running));
        let mut master = json!({"active": 1, "ready": 1});
        master["conditions"] = json!([{"type": type_, "status": status}]);
        let outcome = compute(&test, &children(master, json!({"ready": 5})), at(100));
        assert_eq!(
            outcome.status.phase,
            Some(Phase::Running),
            "{type_}={status}"
        );
        assert!(outcome.events.is_empty(), "{type_}={status}");
    }
}

#[test]
fn a_master_that_finished_between_two_reconciles_gets_a_start_time() {
    // Pending -> Succeeded / Failed straight from the master Job: the master did run.
    for (type_, phase) in [("Complete", Phase::Succeeded), ("Failed", Phase::Failed)] {
        let test = with_status(new_test(), &previous(Phase::Pending));
        let observed = children(finished(type_, "X", "y"), json!({}));
        let outcome = compute(&test, &observed, at(50));
        assert_eq!(outcome.status.phase, Some(phase));
        assert_eq!(outcome.status.start_time, Some(time(50)));
        assert_eq!(outcome.status.completion_time, Some(time(50)));
        assert!(
            !reasons_of(&outcome.events).contains(&event_reasons::TEST_STARTED),
            "no TestStarted for a test first seen finished"
        );
    }
}

#[test]
fn running_never_falls_back_to_pending_on_its_own() {
    // Compat.md Part B 4: the Go operator flips Running -> Pending -> Running.
    let before = previous(Phase::Running);
    for (case, observed) in [
        (
            "master not ready",
            children(json!({"active": 1, "ready": 0}), json!({"ready": 5})),
        ),
        ("no pods, nothing ready", children(json!({}), json!({}))),
        ("pods gone from the cache", Observed::default()),
    ] {
        let test = with_status(new_test(), &before);
        let outcome = compute(&test, &observed, at(100));
        assert_eq!(outcome.status.phase, Some(Phase::Running), "{case}");
        assert_eq!(outcome.status.start_time, before.start_time, "{case}");
        assert!(outcome.events.is_empty(), "{case}: {:?}", outcome.events);
    }
}

#[test]
fn recovery_after_external_deletion_goes_back_to_pending_then_running() {
    let before = previous(Phase::Running);
    let mut test = with_status(new_test(), &before);
    // The Service was deleted; the controller recreates it from the original spec.
    // The spec was edited after the start: the recreation uses the original, and SpecDrifted
    // says the edit is ignored.
    let original = test.spec.clone();
    test.spec.image = "locustio/locust:2.44.0".into();
    let edited = Observed {
        original_spec: Some(original.clone()),
        ..running(5)
    };
    step(&mut test, &edited, at(90));
    let mut observed = running(5);
    observed.service = None;
    observed.recreating = true;
    observed.original_spec = Some(original.clone());
    let outcome = step(&mut test, &observed, at(100));
    let s = &outcome.status;
    assert_eq!(s.phase, Some(Phase::Pending));
    assert_eq!(s.start_time, before.start_time, "startTime is kept");
    assert_eq!(
        srm(s, types::READY),
        triple(
            "False",
            "ResourcesCreating",
            "Recreating externally deleted resources: Service my-test-master"
        )
    );
    assert_eq!(
        srm(s, types::TEST_COMPLETED),
        triple(
            "False",
            "TestInProgress",
            "Test has not started yet: the master is not running"
        )
    );
    assert!(
        find(s, types::SPEC_DRIFTED).is_some(),
        "SpecDrifted stays: the test has started"
    );
    assert!(outcome.events.is_empty());

    // Recreated: Running again, without a second TestStarted.
    let mut observed = running(5);
    observed.original_spec = Some(original);
    let outcome = step(&mut test, &observed, at(110));
    assert_eq!(outcome.status.phase, Some(Phase::Running));
    assert_eq!(outcome.status.start_time, before.start_time);
    assert_eq!(
        srm(&outcome.status, types::READY),
        triple(
            "True",
            "ResourcesCreated",
            "All resources created successfully"
        )
    );
    assert!(outcome.events.is_empty(), "{:?}", outcome.events);
}

#[test]
fn the_lifecycle_of_the_users_guide_kubectl_get_w() {
    // NAME PHASE WORKERS CONNECTED: Pending 5 <none>, Pending 5 0, Running 5 3, Running 5 5,
    // Succeeded 5 5.
    let mut test = new_test();
    let mut rows = Vec::new();
    let mut events = Vec::new();
    let mut record = |test: &LocustTest, outcome: Outcome| {
        let s = test.status.as_ref().unwrap();
        rows.push((
            s.phase.unwrap().as_str(),
            test.spec.worker.replicas,
            s.connected_workers,
        ));
        events.extend(outcome.events.into_iter().map(|e| e.reason));
    };
    let o = step(&mut test, &Observed::default(), at(2));
    record(&test, o);
    let o = step(
        &mut test,
        &children(json!({"active": 1}), json!({"active": 5})),
        at(5),
    );
    record(&test, o);
    let o = step(&mut test, &running(3), at(12));
    record(&test, o);
    let o = step(&mut test, &running(5), at(18));
    record(&test, o);
    // The workers quit with the master: the Job reports 0 ready when it completes.
    let done = children(
        finished(
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ),
        json!({"active": 0, "ready": 0, "succeeded": 5}),
    );
    let o = step(&mut test, &done, at(332));
    record(&test, o);
    assert_eq!(
        rows,
        vec![
            ("Pending", 5, Some(0)),
            ("Pending", 5, Some(0)),
            ("Running", 5, Some(3)),
            ("Running", 5, Some(5)),
            ("Succeeded", 5, Some(5)),
        ]
    );
    assert_eq!(
        events,
        vec![event_reasons::TEST_STARTED, event_reasons::TEST_SUCCEEDED]
    );
    let s = test.status.as_ref().unwrap();
    assert_eq!(
        srm(s, types::WORKERS_CONNECTED),
        triple("True", "AllWorkersConnected", "5/5 workers connected")
    );
    assert_eq!(s.start_time, Some(time(12)));
    assert_eq!(s.completion_time, Some(time(332)));
}
