//! Container resources: the precedence of test, operator and default values, and their removal.

use serde_json::{Value, json};

use crate::{Vars, build, config, default_pod_resources, json_of, locust, test_with};

#[test]
fn resources_precedence_and_removal() {
    let global = default_pod_resources();
    let with = |patch: Value| {
        let mut r = default_pod_resources();
        json_patch::merge(&mut r, &patch);
        r
    };
    let all_pod_vars_empty: Vec<(&str, &str)> = [
        "POD_CPU_REQUEST",
        "POD_MEM_REQUEST",
        "POD_EPHEMERAL_REQUEST",
        "POD_CPU_LIMIT",
        "POD_MEM_LIMIT",
        "POD_EPHEMERAL_LIMIT",
    ]
    .iter()
    .map(|k| (*k, ""))
    .collect();
    let cases: [(&str, Value, Vars, Value, Value); 14] = [
        (
            "global defaults",
            json!({}),
            vec![],
            global.clone(),
            global.clone(),
        ),
        (
            "global override",
            json!({}),
            vec![("POD_CPU_LIMIT", "2"), ("POD_MEM_REQUEST", "256Mi")],
            with(json!({"limits": {"cpu": "2"}, "requests": {"memory": "256Mi"}})),
            with(json!({"limits": {"cpu": "2"}, "requests": {"memory": "256Mi"}})),
        ),
        (
            "per-role over global, per field",
            json!({}),
            vec![
                ("POD_CPU_LIMIT", "2"),
                ("MASTER_POD_MEM_LIMIT", "2Gi"),
                ("WORKER_POD_CPU_REQUEST", "500m"),
            ],
            with(json!({"limits": {"cpu": "2", "memory": "2Gi"}})),
            with(json!({"limits": {"cpu": "2"}, "requests": {"cpu": "500m"}})),
        ),
        (
            "CR value whole over everything",
            json!({"master": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}}}),
            vec![("MASTER_POD_CPU_LIMIT", "4"), ("POD_EPHEMERAL_LIMIT", "1G")],
            json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}),
            with(json!({"limits": {"ephemeral-storage": "1G"}})),
        ),
        (
            "CR requests only: no limits added",
            json!({"worker": {"resources": {"requests": {"cpu": "100m"}}}}),
            vec![],
            global.clone(),
            json!({"requests": {"cpu": "100m"}}),
        ),
        (
            "CR limits only: no requests added",
            json!({"worker": {"resources": {"limits": {"memory": "2Gi"}}}}),
            vec![],
            global.clone(),
            json!({"limits": {"memory": "2Gi"}}),
        ),
        (
            "CR empty limits map with requests: empty map dropped",
            json!({"master": {"resources": {"requests": {"cpu": "1"}, "limits": {}}}}),
            vec![],
            json!({"requests": {"cpu": "1"}}),
            global.clone(),
        ),
        (
            "CR empty resources fall back",
            json!({"master": {"resources": {}}, "worker": {"resources": {"requests": {}, "limits": {}}}}),
            vec![],
            global.clone(),
            global.clone(),
        ),
        (
            "remove a global default",
            json!({}),
            vec![("POD_CPU_LIMIT", "")],
            json!({"requests": global["requests"], "limits": {"memory": "1024Mi", "ephemeral-storage": "50M"}}),
            json!({"requests": global["requests"], "limits": {"memory": "1024Mi", "ephemeral-storage": "50M"}}),
        ),
        (
            "remove for one role only",
            json!({}),
            vec![("MASTER_POD_CPU_LIMIT", "")],
            json!({"requests": global["requests"], "limits": {"memory": "1024Mi", "ephemeral-storage": "50M"}}),
            global.clone(),
        ),
        (
            "per-role value restores a removed global",
            json!({}),
            vec![("POD_CPU_LIMIT", ""), ("WORKER_POD_CPU_LIMIT", "3")],
            json!({"requests": global["requests"], "limits": {"memory": "1024Mi", "ephemeral-storage": "50M"}}),
            with(json!({"limits": {"cpu": "3"}})),
        ),
        (
            "remove every limit of workers",
            json!({}),
            vec![
                ("WORKER_POD_CPU_LIMIT", ""),
                ("WORKER_POD_MEM_LIMIT", ""),
                ("WORKER_POD_EPHEMERAL_LIMIT", ""),
            ],
            global.clone(),
            json!({"requests": global["requests"]}),
        ),
        (
            "remove everything",
            json!({}),
            all_pod_vars_empty.clone(),
            Value::Null,
            Value::Null,
        ),
        (
            "CR value when everything is removed",
            json!({"master": {"resources": {"limits": {"cpu": "1"}}}}),
            all_pod_vars_empty,
            json!({"limits": {"cpu": "1"}}),
            Value::Null,
        ),
    ];
    for (case, spec, vars, master, worker) in cases {
        let built = build(&test_with(spec), &config(&vars));
        assert_eq!(
            json_of(&locust(&built.master_job).resources),
            master,
            "{case}: master"
        );
        assert_eq!(
            json_of(&locust(&built.worker_job).resources),
            worker,
            "{case}: worker"
        );
    }
}
