//! The rendered chart in every mode: typed and consistent, names following the release, optional
//! objects following their values, values reaching the operator's configuration, and Helm itself
//! applying the schema.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use locust_operator::config::Config;
use serde_json::json;

use crate::consistency::check_consistency;
use crate::renderer::{Case, Rendered, case, render_all, render_ok, renderer};
use crate::typed::{container, kind_of, literal_env, operator_config, run_args};
use crate::values::{all_locust_pod_values, bad_values, good_values, provided, self_managed};
use crate::{CRD_NAME, NAMESPACE, RELEASE};

#[test]
fn every_render_is_typed_and_consistent() {
    let Some(renderer) = renderer() else { return };
    let mut cases = vec![
        case("defaults", json!({})),
        case("self-managed", self_managed()),
        case("provided", provided()),
        case(
            "namespaced",
            json!({"namespaced": {"enabled": true, "namespaces": ["team-a", "team-b"]}}),
        ),
        case(
            "namespaced, self-managed",
            json!({"namespaced": {"enabled": true, "namespaces": ["load-tests"]}, "certificates": {"mode": "selfManaged"}}),
        ),
        case(
            "one replica",
            json!({"replicas": 1, "leaderElection": {"enabled": false}}),
        ),
        case("every locust-pod value", all_locust_pod_values()),
    ];
    for (what, values) in good_values() {
        cases.push(case(what, values));
    }
    for (what, values) in [
        ("another release, cert-manager", json!({})),
        ("another release, self-managed", self_managed()),
        ("another release, provided", provided()),
    ] {
        cases.push(Case {
            what: what.to_owned(),
            values,
            release: "perf".to_owned(),
            namespace: "perf-system".to_owned(),
        });
    }
    cases.push(case(
        "fullnameOverride",
        json!({"fullnameOverride": "lo", "certificates": {"mode": "selfManaged"}}),
    ));
    for rendered in render_ok(renderer, &cases) {
        check_consistency(&rendered);
    }
}

#[test]
fn names_follow_the_release() {
    let Some(renderer) = renderer() else { return };
    let cases = [
        case("default release", json!({})),
        Case {
            what: "release perf".to_owned(),
            values: json!({}),
            release: "perf".to_owned(),
            namespace: "perf-system".to_owned(),
        },
        Case {
            what: "release my-locust-operator".to_owned(),
            values: json!({}),
            release: "my-locust-operator".to_owned(),
            namespace: "x".to_owned(),
        },
    ];
    let rendered = render_ok(renderer, &cases);
    let names = |r: &Rendered| -> BTreeSet<(String, String)> {
        r.documents
            .iter()
            .map(|d| {
                (
                    kind_of(d).1.to_owned(),
                    d["metadata"]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let expected: BTreeSet<(String, String)> = [
        ("ServiceAccount", "locust-operator"),
        ("ClusterRole", "locust-operator"),
        ("ClusterRoleBinding", "locust-operator"),
        ("Role", "locust-operator-leader-election"),
        ("RoleBinding", "locust-operator-leader-election"),
        ("Deployment", "locust-operator"),
        ("PodDisruptionBudget", "locust-operator"),
        ("Service", "locust-operator-webhook"),
        ("Service", "locust-operator-metrics"),
        (
            "MutatingWebhookConfiguration",
            "locust-operator-mutating-webhook",
        ),
        (
            "ValidatingWebhookConfiguration",
            "locust-operator-validating-webhook",
        ),
        ("CustomResourceDefinition", CRD_NAME),
        ("Issuer", "locust-operator-selfsigned"),
        ("Issuer", "locust-operator-ca-issuer"),
        ("Certificate", "locust-operator-ca"),
        ("Certificate", "locust-operator-webhook-cert"),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_owned(), n.to_owned()))
    .collect();
    assert_eq!(names(&rendered[0]), expected);
    let prefixed = |prefix: &str| -> BTreeSet<(String, String)> {
        expected
            .iter()
            .map(|(kind, name)| {
                let name = match name.strip_prefix("locust-operator") {
                    Some(rest) if name != CRD_NAME => format!("{prefix}{rest}"),
                    _ => name.clone(),
                };
                (kind.clone(), name)
            })
            .collect()
    };
    assert_eq!(names(&rendered[1]), prefixed("perf-locust-operator"));
    assert_eq!(names(&rendered[2]), prefixed("my-locust-operator"));
}

#[test]
fn optional_objects_follow_their_values() {
    let Some(renderer) = renderer() else { return };
    let cases = [
        case(
            "one replica",
            json!({"replicas": 1, "leaderElection": {"enabled": false}}),
        ),
        case("no metrics Service", json!({"metrics": {"enabled": false}})),
        case("no CRD", json!({"installCRDs": false})),
        case("defaults", json!({})),
    ];
    let r = render_ok(renderer, &cases);
    assert!(r[0].all::<PodDisruptionBudget>().is_empty());
    assert!(!run_args(&container(&r[0].deployment())).flags.leader_elect);
    assert!(r[1].find::<Service>("locust-operator-metrics").is_none());
    assert!(r[2].find::<CustomResourceDefinition>(CRD_NAME).is_none());

    let defaults = &r[3];
    assert_eq!(defaults.all::<PodDisruptionBudget>().len(), 1);
    let deployment = defaults.deployment();
    let spec = deployment.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    let pod_security = pod.security_context.unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(pod_security.run_as_user, Some(65532));
    assert_eq!(
        pod_security.seccomp_profile.unwrap().type_,
        "RuntimeDefault"
    );
    let anti = pod.affinity.unwrap().pod_anti_affinity.unwrap();
    let preferred = anti
        .preferred_during_scheduling_ignored_during_execution
        .unwrap();
    assert_eq!(
        preferred[0].pod_affinity_term.topology_key,
        "kubernetes.io/hostname"
    );
    let container = container(&deployment);
    let security = container.security_context.clone().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.unwrap().drop,
        Some(vec!["ALL".to_owned()])
    );
    let resources = container.resources.clone().unwrap();
    assert_eq!(resources.requests.unwrap()["cpu"].0, "50m");
    assert_eq!(resources.limits.unwrap()["memory"].0, "256Mi");
    let labels = deployment.metadata.labels.unwrap();
    for (key, value) in [
        ("app.kubernetes.io/name", "locust-operator"),
        ("app.kubernetes.io/instance", RELEASE),
        ("app.kubernetes.io/component", "controller"),
        ("app.kubernetes.io/part-of", "locust-operator"),
    ] {
        assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
    }
    // No locust-pod variable unless a value is set: the operator's defaults apply.
    assert_eq!(
        literal_env(&container),
        BTreeMap::new(),
        "default values set no variable"
    );
    assert_eq!(operator_config(&container), Config::defaults());
    let mutating: MutatingWebhookConfiguration = defaults.one("locust-operator-mutating-webhook");
    let webhook = &mutating.webhooks.unwrap()[0];
    assert_eq!(webhook.name, "mutate.locusttests.locust.io");
    assert_eq!(webhook.failure_policy.as_deref(), Some("Fail"));
    assert_eq!(webhook.side_effects, "None");
    assert_eq!(webhook.match_policy.as_deref(), Some("Equivalent"));
    assert_eq!(webhook.admission_review_versions, vec!["v1".to_owned()]);
    let rule = &webhook.rules.as_ref().unwrap()[0];
    assert_eq!(rule.api_versions, Some(vec!["v1".into(), "v2".into()]));
    assert_eq!(
        rule.operations,
        Some(vec!["CREATE".into(), "UPDATE".into()])
    );
    if let Some(notes) = &defaults.notes {
        assert!(
            notes.contains(NAMESPACE) && notes.contains("certManager"),
            "{notes}"
        );
    }
}

#[test]
fn locust_pod_values_reach_the_operator_configuration() {
    let Some(renderer) = renderer() else { return };
    let r = render_ok(
        renderer,
        &[case("every locust-pod value", all_locust_pod_values())],
    );
    let operator = container(&r[0].deployment());
    let env = literal_env(&operator);
    // "" is rendered, not dropped: it removes that request or limit.
    assert_eq!(env.get("POD_CPU_LIMIT").map(String::as_str), Some(""));
    assert_eq!(
        env.get("JOB_TTL_SECONDS_AFTER_FINISHED")
            .map(String::as_str),
        Some("0")
    );
    let config = operator_config(&operator);

    let quantities = |map: &Option<
        BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >|
     -> BTreeMap<String, String> {
        map.iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect()
    };
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    // Master: its own values, "" removing the memory request.
    assert_eq!(
        quantities(&config.master_resources.requests),
        map(&[("cpu", "1"), ("ephemeral-storage", "10M")])
    );
    assert_eq!(
        quantities(&config.master_resources.limits),
        map(&[
            ("cpu", "2"),
            ("ephemeral-storage", "60M"),
            ("memory", "3Gi")
        ])
    );
    // Worker: its own values, falling back to POD_* where unset is impossible here; "" removes.
    assert_eq!(
        quantities(&config.worker_resources.requests),
        map(&[("cpu", "500m"), ("memory", "512Mi")])
    );
    assert_eq!(
        quantities(&config.worker_resources.limits),
        map(&[("cpu", "1500m"), ("ephemeral-storage", "70M")])
    );
    assert_eq!(config.job_ttl_seconds_after_finished, Some(0));
    assert_eq!(config.default_runtime_class_name.as_deref(), Some("gvisor"));
    assert!(!config.affinity_injection && !config.tolerations_injection);
    assert_eq!(config.exporter.image, "example.org/exporter:v1");
    assert_eq!(config.exporter.port, 9999);
    assert_eq!(config.exporter.pull_policy, "Always");
    assert_eq!(
        quantities(&config.exporter.resources.requests),
        map(&[("ephemeral-storage", "1M"), ("memory", "32Mi")])
    );
    assert_eq!(
        quantities(&config.exporter.resources.limits),
        map(&[("cpu", "500m"), ("ephemeral-storage", "2M")])
    );
    let kafka = config.kafka.expect("Kafka configured");
    assert_eq!(kafka.bootstrap_servers, "kafka:9092");
    assert!(kafka.security_enabled);
    assert_eq!(kafka.security_protocol, "SASL_SSL");
    assert_eq!(kafka.sasl_mechanism, "PLAIN");
    assert_eq!(
        kafka.sasl_jaas_config.as_deref(),
        Some("org.apache.kafka.common.security.plain.PlainLoginModule required;")
    );
    assert_eq!(kafka.username.as_deref(), Some("locust"));
    assert_eq!(
        kafka.password_secret,
        Some(("kafka-credentials".to_owned(), "pass".to_owned()))
    );

    // Global values reach both roles where a role sets nothing.
    let r = render_ok(
        renderer,
        &[case(
            "global only",
            json!({"locustPods": {"resources": {"cpuRequest": "300m", "cpuLimit": "", "master": {"cpuLimit": "2"}}}}),
        )],
    );
    let config = operator_config(&container(&r[0].deployment()));
    assert_eq!(quantities(&config.worker_resources.requests)["cpu"], "300m");
    assert!(!quantities(&config.worker_resources.limits).contains_key("cpu"));
    assert_eq!(quantities(&config.master_resources.limits)["cpu"], "2");
    assert_eq!(quantities(&config.master_resources.requests)["cpu"], "300m");
}

#[test]
fn every_operator_variable_can_be_set_from_values() {
    let Some(renderer) = renderer() else { return };
    let r = render_ok(
        renderer,
        &[case("every locust-pod value", all_locust_pod_values())],
    );
    let env = literal_env(&container(&r[0].deployment()));
    let asked = RefCell::new(BTreeSet::new());
    Config::from_lookup(&|name| {
        asked.borrow_mut().insert(name.to_owned());
        env.get(name).cloned()
    })
    .expect("valid");
    let asked = asked.into_inner();
    let settable: BTreeSet<String> = env.keys().cloned().collect();
    // A literal password is deliberately never passed (only a secretKeyRef).
    let missing: Vec<_> = asked
        .difference(&settable)
        .filter(|name| *name != "KAFKA_PASSWORD")
        .collect();
    assert!(
        missing.is_empty(),
        "read by the operator, not settable from values: {missing:?}"
    );
    let unread: Vec<_> = settable.difference(&asked).collect();
    assert!(
        unread.is_empty(),
        "set by the chart, never read by the operator: {unread:?}"
    );
}

#[test]
fn helm_applies_the_schema() {
    let Some(renderer) = renderer() else { return };
    let bad = bad_values();
    let cases: Vec<Case> = bad
        .iter()
        .map(|(what, values, _)| case(what, values.clone()))
        .collect();
    for ((what, values, _), result) in bad.iter().zip(render_all(renderer, &cases)) {
        let error = match result {
            Ok(_) => panic!("{what}: Helm rendered {values}"),
            Err(error) => error,
        };
        assert!(
            error.contains("schema") || error.contains("values don't meet"),
            "{what}: Helm failed for another reason: {error}"
        );
    }
    let good = good_values();
    let cases: Vec<Case> = good
        .iter()
        .map(|(what, values)| case(what, values.clone()))
        .collect();
    render_ok(renderer, &cases);
}
