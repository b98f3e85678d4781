//! The initial state: a new test is Pending with the initial conditions, and Ready reflects which
//! children exist.

use locust_operator::api::Phase;
use locust_operator::api::conditions::types;
use locust_operator::status::Observed;
use serde_json::json;

use crate::{Srm, at, children, compute, cond, locust_test, new_test, rfc, srm, triple};

#[test]
fn a_new_test_is_pending_with_the_initial_conditions() {
    let outcome = compute(&new_test(), &Observed::default(), at(1));
    let status = serde_json::to_value(&outcome.status).unwrap();
    let t = rfc(1);
    assert_eq!(
        status,
        json!({
            "phase": "Pending",
            "observedGeneration": 1,
            "expectedWorkers": 5,
            "connectedWorkers": 0,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "ResourcesCreating",
                 "message": "Creating resources: Service my-test-master, Job my-test-master, Job my-test-worker",
                 "lastTransitionTime": t, "observedGeneration": 1},
                {"type": "WorkersConnected", "status": "False", "reason": "WaitingForWorkers",
                 "message": "0/5 workers connected", "lastTransitionTime": t, "observedGeneration": 1},
                {"type": "PodsHealthy", "status": "True", "reason": "PodsStarting",
                 "message": "Waiting for pods to be created", "lastTransitionTime": t, "observedGeneration": 1},
                {"type": "TestCompleted", "status": "False", "reason": "TestInProgress",
                 "message": "Test has not started yet: the master is not running",
                 "lastTransitionTime": t, "observedGeneration": 1}
            ]
        })
    );
    assert!(outcome.events.is_empty());
    assert_eq!(outcome.requeue_after, None);
}

#[test]
fn ready_reflects_which_children_exist() {
    let full = children(json!({}), json!({}));
    let cases: Vec<(&str, Observed, Srm)> = vec![
        (
            "all three",
            full.clone(),
            triple(
                "True",
                "ResourcesCreated",
                "All resources created successfully",
            ),
        ),
        (
            "no Service",
            Observed {
                service: None,
                ..full.clone()
            },
            triple(
                "False",
                "ResourcesCreating",
                "Creating resources: Service my-test-master",
            ),
        ),
        (
            "no master Job",
            Observed {
                master_job: None,
                ..full.clone()
            },
            triple(
                "False",
                "ResourcesCreating",
                "Creating resources: Job my-test-master",
            ),
        ),
        (
            "no worker Job",
            Observed {
                worker_job: None,
                ..full.clone()
            },
            triple(
                "False",
                "ResourcesCreating",
                "Creating resources: Job my-test-worker",
            ),
        ),
    ];
    for (case, observed, expected) in cases {
        let outcome = compute(&new_test(), &observed, at(1));
        assert_eq!(srm(&outcome.status, types::READY), expected, "{case}");
        assert_eq!(outcome.status.phase, Some(Phase::Pending), "{case}");
    }
}

#[test]
fn node_names_replace_dots_in_ready_messages() {
    let test = locust_test(json!({"metadata": {"name": "api.v2"}}));
    let outcome = compute(&test, &Observed::default(), at(1));
    assert_eq!(
        cond(&outcome.status, types::READY).message,
        "Creating resources: Service api-v2-master, Job api-v2-master, Job api-v2-worker"
    );
}
