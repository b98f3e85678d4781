//! Pod scheduling and security: runtime class, affinity, tolerations, node selector, security
//! contexts and image pull secrets.

use serde_json::{Value, json};

use crate::{
    Vars, base_test, build, build_default, config, jobs, json_of, locust, pod, string_map,
    test_with,
};

#[test]
fn runtime_class_name_four_cases() {
    let cases: [(&str, Value, Vars, Option<&str>); 6] = [
        (
            "CR value beats the default",
            json!({"scheduling": {"runtimeClassName": "gvisor"}}),
            vec![("DEFAULT_RUNTIME_CLASS_NAME", "kata")],
            Some("gvisor"),
        ),
        (
            "CR value without a default",
            json!({"scheduling": {"runtimeClassName": "gvisor"}}),
            vec![],
            Some("gvisor"),
        ),
        (
            "CR empty string opts out of the default",
            json!({"scheduling": {"runtimeClassName": ""}}),
            vec![("DEFAULT_RUNTIME_CLASS_NAME", "kata")],
            None,
        ),
        (
            "operator default",
            json!({"scheduling": {"nodeSelector": {"pool": "load"}}}),
            vec![("DEFAULT_RUNTIME_CLASS_NAME", "kata")],
            Some("kata"),
        ),
        (
            "operator default without scheduling",
            json!({}),
            vec![("DEFAULT_RUNTIME_CLASS_NAME", "kata")],
            Some("kata"),
        ),
        ("none", json!({}), vec![], None),
    ];
    for (case, spec, vars, expected) in cases {
        let built = build(&test_with(spec), &config(&vars));
        for (role, job) in jobs(&built) {
            assert_eq!(
                pod(job).runtime_class_name.as_deref(),
                expected,
                "{case} {role:?}"
            );
        }
    }
}

#[test]
fn affinity_tolerations_and_node_selector() {
    let scheduling = json!({"scheduling": {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["load"]}]}]
        }}},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "load", "effect": "NoSchedule"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
    }});
    let test = test_with(scheduling.clone());
    let cases: [(Vars, bool, bool); 4] = [
        (vec![], true, true),
        (vec![("ENABLE_AFFINITY_CR_INJECTION", "false")], false, true),
        (
            vec![("ENABLE_TAINT_TOLERATIONS_CR_INJECTION", "false")],
            true,
            false,
        ),
        (
            vec![
                ("ENABLE_AFFINITY_CR_INJECTION", "false"),
                ("ENABLE_TAINT_TOLERATIONS_CR_INJECTION", "false"),
            ],
            false,
            false,
        ),
    ];
    for (vars, affinity, tolerations) in cases {
        let built = build(&test, &config(&vars));
        for (role, job) in jobs(&built) {
            let pod = pod(job);
            assert_eq!(
                json_of(&pod.affinity),
                if affinity {
                    scheduling["scheduling"]["affinity"].clone()
                } else {
                    Value::Null
                },
                "{vars:?} {role:?}"
            );
            assert_eq!(
                json_of(&pod.tolerations),
                if tolerations {
                    scheduling["scheduling"]["tolerations"].clone()
                } else {
                    Value::Null
                },
                "{vars:?} {role:?}"
            );
            assert_eq!(
                pod.node_selector,
                Some(string_map(&[("kubernetes.io/os", "linux")])),
                "nodeSelector is always copied"
            );
        }
    }

    let empty = build_default(&test_with(
        json!({"scheduling": {"tolerations": [], "nodeSelector": {}}}),
    ));
    for (_, job) in jobs(&empty) {
        assert!(pod(job).tolerations.is_none());
        assert!(pod(job).node_selector.is_none());
        assert!(pod(job).affinity.is_none());
    }
}

#[test]
fn security_contexts() {
    let default = build_default(&base_test());
    for (_, job) in jobs(&default) {
        assert_eq!(
            json_of(&pod(job).security_context),
            json!({"seccompProfile": {"type": "RuntimeDefault"}})
        );
        assert!(locust(job).security_context.is_none());
    }

    let test = test_with(json!({"security": {
        "podSecurityContext": {"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000},
        "containerSecurityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
    }}));
    let built = build_default(&test);
    for (_, job) in jobs(&built) {
        assert_eq!(
            json_of(&pod(job).security_context),
            json!({"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000}),
            "replaces the default entirely"
        );
        assert_eq!(
            json_of(&locust(job).security_context),
            json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
        );
    }
    let exporter = &pod(&built.master_job).init_containers.as_ref().unwrap()[0];
    assert_eq!(
        json_of(&exporter.security_context),
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true}),
        "the exporter keeps its own hardened context"
    );

    let only_container = build_default(&test_with(
        json!({"security": {"containerSecurityContext": {"runAsUser": 1}}}),
    ));
    assert_eq!(
        json_of(&pod(&only_container.master_job).security_context),
        json!({"seccompProfile": {"type": "RuntimeDefault"}})
    );
}

#[test]
fn image_pull_secrets() {
    for (spec, expected) in [
        (json!({}), Value::Null),
        (json!({"imagePullSecrets": []}), Value::Null),
        (
            json!({"imagePullSecrets": [{"name": "regcred"}, {"name": "other"}]}),
            json!([{"name": "regcred"}, {"name": "other"}]),
        ),
    ] {
        let built = build_default(&test_with(spec.clone()));
        for (_, job) in jobs(&built) {
            assert_eq!(json_of(&pod(job).image_pull_secrets), expected, "{spec}");
        }
    }
}
