//! Metadata of every built object: owner references, namespace, generated names, and which
//! labels (the operator's and the user's) land on the Jobs, the Service and the pods.

use locust_operator::names::{self, Role};
use serde_json::json;

use crate::{
    UID, base_manifest, base_test, build_default, jobs, json_of, locust, operator_labels,
    owner_references, parse, pod, string_map, template_labels, test_with,
};

#[test]
fn every_object_is_owned_by_the_test() {
    let built = build_default(&base_test());
    for (what, meta) in [
        ("service", &built.service.metadata),
        ("master job", &built.master_job.metadata),
        ("worker job", &built.worker_job.metadata),
    ] {
        assert_eq!(
            json_of(&meta.owner_references),
            owner_references(),
            "{what}"
        );
        assert_eq!(meta.namespace.as_deref(), Some("loadtests"), "{what}");
    }
}

#[test]
fn no_owner_reference_without_uid() {
    let mut manifest = base_manifest();
    json_patch::merge(&mut manifest, &json!({"metadata": {"uid": null}}));
    let built = build_default(&parse(manifest));
    assert!(built.service.metadata.owner_references.is_none());
    assert!(built.master_job.metadata.owner_references.is_none());
    assert!(built.worker_job.metadata.owner_references.is_none());
}

#[test]
fn namespace_is_the_tests() {
    let mut manifest = base_manifest();
    json_patch::merge(&mut manifest, &json!({"metadata": {"namespace": "team-b"}}));
    let built = build_default(&parse(manifest));
    for meta in [
        &built.service.metadata,
        &built.master_job.metadata,
        &built.worker_job.metadata,
    ] {
        assert_eq!(meta.namespace.as_deref(), Some("team-b"));
    }
}

#[test]
fn dotted_names_are_sanitized_in_generated_names_only() {
    let test = parse(json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": "perf.checkout", "namespace": "loadtests", "uid": UID},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "-f /lotest/src/test.py"},
            "worker": {"command": "-f /lotest/src/test.py", "replicas": 2},
            "testFiles": {"configMapRef": "scripts"},
        }
    }));
    let built = build_default(&test);
    assert_eq!(
        built.service.metadata.name.as_deref(),
        Some("perf-checkout-master")
    );
    assert_eq!(
        built.service.spec.as_ref().unwrap().selector,
        Some(string_map(&[(
            "performance-test-pod-name",
            "perf-checkout-master"
        )]))
    );
    assert_eq!(
        built.service.metadata.owner_references.as_ref().unwrap()[0].name,
        "perf.checkout"
    );
    for (role, job) in jobs(&built) {
        let node = format!("perf-checkout-{}", role.as_str());
        assert_eq!(job.metadata.name.as_deref(), Some(node.as_str()));
        assert_eq!(locust(job).name, node);
        assert_eq!(pod(job).volumes.as_ref().unwrap()[0].name, node);
        assert_eq!(
            json_of(template_labels(job)),
            operator_labels("perf.checkout", role.as_str())
        );
        assert_eq!(template_labels(job)["app"], "perf.checkout");
        assert_eq!(
            template_labels(job)["performance-test-name"],
            "perf.checkout"
        );
    }
    assert!(
        locust(&built.worker_job)
            .args
            .as_ref()
            .unwrap()
            .contains(&"--master-host=perf-checkout-master".to_owned())
    );
}

#[test]
fn user_labels_merge_into_pods_but_never_override_protected_ones() {
    let test = test_with(json!({
        "master": {"labels": {
            "team": "payments",
            "app": "custom-app",
            "performance-test-name": "hijack",
            "performance-test-pod-name": "hijack",
            "managed-by": "someone-else",
        }},
        "worker": {"labels": {"tier": "load", "performance-test-pod-name": "hijack"}},
    }));
    let built = build_default(&test);

    let mut master = operator_labels("my-test", "master");
    json_patch::merge(
        &mut master,
        &json!({"team": "payments", "app": "custom-app"}),
    );
    assert_eq!(json_of(template_labels(&built.master_job)), master);

    let mut worker = operator_labels("my-test", "worker");
    json_patch::merge(&mut worker, &json!({"tier": "load"}));
    assert_eq!(json_of(template_labels(&built.worker_job)), worker);

    for key in names::PROTECTED_LABELS {
        assert_ne!(template_labels(&built.master_job)[key], "hijack");
        assert_ne!(template_labels(&built.worker_job)[key], "hijack");
    }
    assert_eq!(
        template_labels(&built.master_job)["managed-by"],
        "locust-k8s-operator"
    );
}

#[test]
fn jobs_and_service_carry_only_operator_labels() {
    let test = test_with(json!({
        "master": {"labels": {"team": "payments"}},
        "worker": {"labels": {"team": "payments"}},
    }));
    let built = build_default(&test);
    assert_eq!(
        built.service.metadata.labels,
        Some(names::pod_labels("my-test", Role::Master))
    );
    assert_eq!(
        built.master_job.metadata.labels,
        Some(names::pod_labels("my-test", Role::Master))
    );
    assert_eq!(
        built.worker_job.metadata.labels,
        Some(names::pod_labels("my-test", Role::Worker))
    );
    assert!(built.service.metadata.annotations.is_none());
    assert!(built.master_job.metadata.annotations.is_none());
}
