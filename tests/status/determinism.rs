//! Determinism and fixed point: the same input gives the same output whatever the pod order, and a
//! status fed back changes nothing (so a resync writes nothing).

use locust_operator::api::conditions::types;
use locust_operator::api::{LocustTestStatus, Phase};
use locust_operator::status::Observed;
use serde_json::json;

use crate::{
    at, at_ms, children, compute, cond, new_test, previous, running, running_pod, spec_of, step,
    unschedulable_pod, waiting_pod, with_status,
};

#[test]
fn the_same_input_gives_the_same_output_whatever_the_pod_order() {
    let mut pods = vec![
        waiting_pod("my-test-worker-c", 0, "ErrImagePull", None),
        waiting_pod("my-test-worker-a", 0, "ImagePullBackOff", None),
        unschedulable_pod("my-test-worker-b", 0, "0/3 nodes available"),
        running_pod("my-test-master-m", 0),
        waiting_pod("my-test-worker-d", 0, "CrashLoopBackOff", None),
    ];
    let test = with_status(new_test(), &previous(Phase::Running));
    let mut observed = running(2);
    observed.pods = pods.clone();
    let first = compute(&test, &observed, at(600));
    for rotation in 0..pods.len() {
        pods.rotate_left(1);
        let mut shuffled = pods.clone();
        if rotation % 2 == 1 {
            shuffled.reverse();
        }
        observed.pods = shuffled;
        assert_eq!(
            compute(&test, &observed, at(600)),
            first,
            "rotation {rotation}"
        );
    }
    assert_eq!(
        cond(&first.status, types::PODS_HEALTHY).message,
        "ImagePullError: 2 pod(s) affected [my-test-worker-a, my-test-worker-c]: ImagePullBackOff"
    );
}

#[test]
fn a_status_fed_back_is_a_fixed_point() {
    let observations: Vec<(&str, Observed)> = vec![
        ("nothing", Observed::default()),
        ("children", children(json!({}), json!({}))),
        ("running 3/5", running(3)),
        ("running 5/5", running(5)),
        (
            "drifted",
            Observed {
                original_spec: Some(spec_of(json!({"image": "x:1"}))),
                ..running(5)
            },
        ),
    ];
    for (case, observed) in observations {
        let mut test = new_test();
        // Sub-second precision: written with whole seconds, as the API stores times.
        step(&mut test, &observed, at_ms(12_345));
        let written = test.status.clone().unwrap();
        // The status as read back from the API server.
        let read: LocustTestStatus =
            serde_json::from_value(serde_json::to_value(&written).unwrap()).unwrap();
        assert_eq!(read, written, "{case}: survives the JSON round trip");
        let again = compute(&test, &observed, at(40));
        assert_eq!(again.status, written, "{case}");
        assert!(again.events.is_empty(), "{case}: {:?}", again.events);
    }
}
