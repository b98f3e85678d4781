//! Terminal phases never change (docs/compatibility.md Part B 4): a finished test follows only its
//! generation and spec edits, and a failed test keeps its pod failure.

use locust_operator::api::Phase;
use locust_operator::api::conditions::types;
use locust_operator::status::{Observed, event_reasons};
use serde_json::json;

use crate::{
    at, children, compute, cond, finished, locust_test, new_test, previous, reasons_of, running,
    srm, step, triple, waiting_pod, with_status,
};

/// Observations that would move a non-terminal test somewhere.
fn disturbing_observations() -> Vec<(&'static str, Observed)> {
    let mut failing = running(5);
    failing.pods = vec![waiting_pod("my-test-master-abc12", 0, "ErrImagePull", None)];
    let recreating = Observed {
        recreating: true,
        ..Observed::default()
    };
    vec![
        ("healthy and running", running(5)),
        (
            "master Job complete",
            children(
                finished("Complete", "CompletionsReached", "done"),
                json!({}),
            ),
        ),
        (
            "master Job failed",
            children(finished("Failed", "BackoffLimitExceeded", "x"), json!({})),
        ),
        ("pod failure after grace", failing),
        ("children gone (TTL)", Observed::default()),
        ("recreating", recreating),
        ("2 of 5 workers", running(2)),
    ]
}

#[test]
fn terminal_phases_never_change() {
    for phase in [Phase::Succeeded, Phase::Failed] {
        let before = previous(phase);
        for (case, observed) in disturbing_observations() {
            let test = with_status(new_test(), &before);
            let outcome = compute(&test, &observed, at(10_000));
            assert_eq!(outcome.status, before, "{phase} / {case}");
            assert!(outcome.events.is_empty(), "{phase} / {case}");
            assert_eq!(outcome.requeue_after, None, "{phase} / {case}");
        }
    }
}

#[test]
fn a_terminal_test_follows_its_generation_and_spec_edits_only() {
    let before = previous(Phase::Succeeded);
    let original = new_test().spec;
    let mut test =
        locust_test(json!({"metadata": {"generation": 2}, "spec": {"worker": {"replicas": 9}}}));
    test.status = Some(before.clone());
    let observed = Observed {
        original_spec: Some(original),
        ..running(0)
    };
    let outcome = compute(&test, &observed, at(10_000));
    let s = &outcome.status;
    assert_eq!(s.observed_generation, Some(2));
    assert_eq!(s.phase, before.phase);
    assert_eq!(s.start_time, before.start_time);
    assert_eq!(s.completion_time, before.completion_time);
    assert_eq!(
        s.expected_workers, before.expected_workers,
        "frozen: the run had 5"
    );
    assert_eq!(s.connected_workers, before.connected_workers);
    for type_ in [
        types::READY,
        types::WORKERS_CONNECTED,
        types::PODS_HEALTHY,
        types::TEST_COMPLETED,
    ] {
        let (now, then) = (cond(s, type_), cond(&before, type_));
        assert_eq!(
            (
                &now.status,
                &now.reason,
                &now.message,
                &now.last_transition_time
            ),
            (
                &then.status,
                &then.reason,
                &then.message,
                &then.last_transition_time
            ),
            "{type_} frozen"
        );
        assert_eq!(now.observed_generation, Some(2), "{type_}");
    }
    assert_eq!(
        srm(s, types::SPEC_DRIFTED),
        triple(
            "True",
            "SpecChangeIgnored",
            "Spec was modified after creation. Changes ignored. Delete and recreate to apply."
        )
    );
    assert_eq!(
        reasons_of(&outcome.events),
        vec![event_reasons::SPEC_CHANGE_IGNORED]
    );
}

#[test]
fn a_failed_test_keeps_its_pods_failure_and_never_reports_them_again() {
    // Pending -> Failed on pod health; later reconciles change nothing and emit nothing.
    let mut test = new_test();
    let mut observed = children(json!({"active": 1}), json!({"active": 5}));
    observed.pods = vec![waiting_pod("my-test-master-abc12", 0, "ErrImagePull", None)];
    let first = step(&mut test, &observed, at(121));
    assert_eq!(first.status.phase, Some(Phase::Failed));
    for later in [122, 500, 5000] {
        let outcome = step(&mut test, &observed, at(later));
        assert_eq!(outcome.status, first.status);
        assert!(outcome.events.is_empty());
    }
}
