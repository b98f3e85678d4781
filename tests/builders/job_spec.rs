//! The Job specs of both roles: the essentials, the worker parallelism, and
//! `ttlSecondsAfterFinished` from the operator configuration.

use locust_operator::names::Role;
use serde_json::json;

use crate::{base_test, build, build_default, config, jobs, json_of, locust, pod, test_with};

#[test]
fn job_spec_essentials_for_both_roles() {
    let built = build_default(&base_test());
    for (role, job) in jobs(&built) {
        let spec = job.spec.as_ref().unwrap();
        let expected_parallelism = match role {
            Role::Master => 1,
            Role::Worker => 3,
        };
        assert_eq!(spec.parallelism, Some(expected_parallelism), "{role:?}");
        assert_eq!(spec.completions, None, "{role:?}");
        assert_eq!(spec.backoff_limit, Some(0), "{role:?}");
        assert_eq!(spec.ttl_seconds_after_finished, None, "{role:?}");
        assert_eq!(
            pod(job).restart_policy.as_deref(),
            Some("Never"),
            "{role:?}"
        );
        assert!(spec.active_deadline_seconds.is_none());
        assert!(spec.selector.is_none());
    }
}

#[test]
fn worker_parallelism_is_the_replica_count() {
    for replicas in [1, 2, 10, 500] {
        let built = build_default(&test_with(json!({"worker": {"replicas": replicas}})));
        assert_eq!(
            built.worker_job.spec.as_ref().unwrap().parallelism,
            Some(replicas)
        );
        assert_eq!(built.master_job.spec.as_ref().unwrap().parallelism, Some(1));
        assert!(
            locust(&built.master_job)
                .args
                .as_ref()
                .unwrap()
                .contains(&format!("--expect-workers={replicas}"))
        );
    }
}

#[test]
fn ttl_seconds_after_finished_comes_from_the_operator() {
    for (vars, expected) in [
        (vec![], None),
        (vec![("JOB_TTL_SECONDS_AFTER_FINISHED", "")], None),
        (vec![("JOB_TTL_SECONDS_AFTER_FINISHED", "0")], Some(0)),
        (vec![("JOB_TTL_SECONDS_AFTER_FINISHED", "300")], Some(300)),
    ] {
        let built = build(&base_test(), &config(&vars));
        for (role, job) in jobs(&built) {
            assert_eq!(
                job.spec.as_ref().unwrap().ttl_seconds_after_finished,
                expected,
                "{vars:?} {role:?}"
            );
        }
        let value = json_of(&built.master_job);
        assert_eq!(
            value["spec"].get("ttlSecondsAfterFinished").cloned(),
            expected.map(|t| json!(t)),
            "{vars:?}"
        );
    }
}
