//! Volumes and mounts: test files, the lib ConfigMap, secrets and user volumes, by role and target,
//! and their order.

use k8s_openapi::api::batch::v1::Job;
use locust_operator::names::{self, Role};
use serde_json::{Value, json};

use crate::{build_default, jobs, json_of, locust, pod, test_with};

/// `(volumes, mounts)` of a role's pod as JSON.
fn volumes_of(job: &Job) -> (Value, Value) {
    (
        json_of(&pod(job).volumes),
        json_of(&locust(job).volume_mounts),
    )
}

#[test]
fn test_file_volumes() {
    type Expect = fn(&str) -> (Value, Value);
    let cases: [(&str, Value, Expect); 7] = [
        ("no testFiles", json!({}), |_| (Value::Null, Value::Null)),
        ("empty testFiles", json!({"testFiles": {}}), |_| {
            (Value::Null, Value::Null)
        }),
        (
            "mount paths alone add nothing",
            json!({"testFiles": {"srcMountPath": "/src", "libMountPath": "/lib"}}),
            |_| (Value::Null, Value::Null),
        ),
        (
            "configMapRef at the default path",
            json!({"testFiles": {"configMapRef": "scripts"}}),
            |node| {
                (
                    json!([{"name": node, "configMap": {"name": "scripts"}}]),
                    json!([{"name": node, "mountPath": "/lotest/src"}]),
                )
            },
        ),
        (
            "configMapRef at a custom path",
            json!({"testFiles": {"configMapRef": "scripts", "srcMountPath": "/mnt/locust"}}),
            |node| {
                (
                    json!([{"name": node, "configMap": {"name": "scripts"}}]),
                    json!([{"name": node, "mountPath": "/mnt/locust"}]),
                )
            },
        ),
        (
            "lib only",
            json!({"testFiles": {"libConfigMapRef": "shared-lib"}}),
            |_| {
                (
                    json!([{"name": "locust-lib", "configMap": {"name": "shared-lib"}}]),
                    json!([{"name": "locust-lib", "mountPath": "/opt/locust/lib"}]),
                )
            },
        ),
        (
            "both with custom paths",
            json!({"testFiles": {
                "configMapRef": "scripts", "libConfigMapRef": "shared-lib",
                "srcMountPath": "/src", "libMountPath": "/lib",
            }}),
            |node| {
                (
                    json!([
                        {"name": node, "configMap": {"name": "scripts"}},
                        {"name": "locust-lib", "configMap": {"name": "shared-lib"}},
                    ]),
                    json!([
                        {"name": node, "mountPath": "/src"},
                        {"name": "locust-lib", "mountPath": "/lib"},
                    ]),
                )
            },
        ),
    ];
    for (case, spec, expect) in cases {
        let built = build_default(&test_with(spec));
        for (role, job) in jobs(&built) {
            let node = names::node_name("my-test", role);
            assert_eq!(volumes_of(job), expect(&node), "{case} {role:?}");
        }
    }
}

#[test]
fn secret_mounts_in_both_roles() {
    let test = test_with(json!({"env": {"secretMounts": [
        {"name": "tls-client", "mountPath": "/etc/client-tls"},
        {"name": "api-keys", "mountPath": "/etc/keys", "readOnly": false},
        {"name": "certs", "mountPath": "/etc/certs", "readOnly": true},
    ]}}));
    let built = build_default(&test);
    for (role, job) in jobs(&built) {
        assert_eq!(
            volumes_of(job),
            (
                json!([
                    {"name": "secret-tls-client", "secret": {"secretName": "tls-client"}},
                    {"name": "secret-api-keys", "secret": {"secretName": "api-keys"}},
                    {"name": "secret-certs", "secret": {"secretName": "certs"}},
                ]),
                json!([
                    {"name": "secret-tls-client", "mountPath": "/etc/client-tls", "readOnly": true},
                    {"name": "secret-api-keys", "mountPath": "/etc/keys", "readOnly": false},
                    {"name": "secret-certs", "mountPath": "/etc/certs", "readOnly": true},
                ]),
            ),
            "{role:?}"
        );
    }
}

#[test]
fn user_volumes_by_target() {
    let volumes = json!([
        {"name": "results", "emptyDir": {}},
        {"name": "fixtures", "configMap": {"name": "checkout-fixtures"}},
        {"name": "worker-cache", "emptyDir": {"medium": "Memory"}},
        {"name": "unused", "emptyDir": {}},
        {"name": "shared", "persistentVolumeClaim": {"claimName": "data"}},
    ]);
    let test = test_with(json!({
        "volumes": volumes,
        "volumeMounts": [
            {"name": "shared", "mountPath": "/shared", "subPath": "run"},
            {"name": "fixtures", "mountPath": "/fixtures", "readOnly": true, "target": "both"},
            {"name": "worker-cache", "mountPath": "/cache", "target": "worker"},
            {"name": "results", "mountPath": "/data", "target": "master"},
            {"name": "fixtures", "mountPath": "/fixtures-copy", "target": "master"},
        ],
    }));
    let built = build_default(&test);
    let v = |i: usize| volumes[i].clone();
    assert_eq!(
        volumes_of(&built.master_job),
        (
            json!([v(0), v(1), v(4)]),
            json!([
                {"name": "shared", "mountPath": "/shared", "subPath": "run"},
                {"name": "fixtures", "mountPath": "/fixtures", "readOnly": true},
                {"name": "results", "mountPath": "/data"},
                {"name": "fixtures", "mountPath": "/fixtures-copy"},
            ]),
        ),
        "volumes keep spec order, each once; mounts keep spec order without target"
    );
    assert_eq!(
        volumes_of(&built.worker_job),
        (
            json!([v(1), v(2), v(4)]),
            json!([
                {"name": "shared", "mountPath": "/shared", "subPath": "run"},
                {"name": "fixtures", "mountPath": "/fixtures", "readOnly": true},
                {"name": "worker-cache", "mountPath": "/cache"},
            ]),
        )
    );
    let serialized = serde_json::to_string(&built.master_job).unwrap();
    assert!(!serialized.contains("\"target\""), "target is stripped");
    assert!(!serialized.contains("unused"));

    // A volume only mounted in workers is not in the master pod, and volumes without mounts
    // appear nowhere.
    let only_worker = build_default(&test_with(json!({
        "volumes": [{"name": "cache", "emptyDir": {}}, {"name": "lonely", "emptyDir": {}}],
        "volumeMounts": [{"name": "cache", "mountPath": "/cache", "target": "worker"}],
    })));
    assert_eq!(
        volumes_of(&only_worker.master_job),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        volumes_of(&only_worker.worker_job),
        (
            json!([{"name": "cache", "emptyDir": {}}]),
            json!([{"name": "cache", "mountPath": "/cache"}]),
        )
    );
}

#[test]
fn volume_order_is_test_files_lib_secrets_user() {
    let test = test_with(json!({
        "testFiles": {"configMapRef": "scripts", "libConfigMapRef": "lib"},
        "env": {"secretMounts": [{"name": "tls", "mountPath": "/etc/tls"}]},
        "volumes": [{"name": "data", "emptyDir": {}}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }));
    let built = build_default(&test);
    for (role, job) in jobs(&built) {
        let node = names::node_name("my-test", role);
        let volume_names: Vec<&str> = pod(job)
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        let mount_names: Vec<&str> = locust(job)
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| m.name.as_str())
            .collect();
        let expected = vec![node.as_str(), "locust-lib", "secret-tls", "data"];
        assert_eq!(volume_names, expected, "{role:?}");
        assert_eq!(mount_names, expected, "{role:?}");
    }
    let exporter = &pod(&built.master_job).init_containers.as_ref().unwrap()[0];
    assert!(
        exporter.volume_mounts.is_none(),
        "the exporter mounts nothing"
    );
}

#[test]
fn mount_target_rule() {
    use locust_operator::api::v2::VolumeTarget;
    use locust_operator::builders::volumes::mount_applies;
    for (target, master, worker) in [
        (None, true, true),
        (Some(VolumeTarget::Both), true, true),
        (Some(VolumeTarget::Master), true, false),
        (Some(VolumeTarget::Worker), false, true),
    ] {
        assert_eq!(mount_applies(target, Role::Master), master, "{target:?}");
        assert_eq!(mount_applies(target, Role::Worker), worker, "{target:?}");
    }
}
